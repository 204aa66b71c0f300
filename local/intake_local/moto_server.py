"""moto server as a child process: the local stack's AWS endpoint.

Started through intake_local.moto_process (not the `moto_server` script), which turns on
Step Functions executions and routes their Lambda tasks to this process's functions.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

from intake_local.moto_process import INVOKE_URL_ENV


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _moto_command(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "intake_local.moto_process", "-H", host, "-p", str(port)]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the child gets SIGTERM if the parent dies, so a killed stack leaves no orphan."""
    with contextlib.suppress(Exception):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class MotoServer:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 4566,
        log_path: Path | None = None,
        invoke_url: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.log_path = log_path
        # Where the server sends Lambda invocations (lambda_invoke.InvokeEndpoint); without
        # one, Lambda tasks echo their payload as moto's do.
        self.invoke_url = invoke_url
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[Any] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, timeout: float = 30.0) -> None:
        if port_in_use(self.host, self.port):
            raise RuntimeError(
                f"port {self.port} on {self.host} is taken (another `intake-local up`?); "
                "choose one with --aws-port or INTAKE_AWS_PORT"
            )
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("ab")
        environment = {k: v for k, v in os.environ.items() if k != INVOKE_URL_ENV}
        if self.invoke_url:
            environment[INVOKE_URL_ENV] = self.invoke_url
        self._process = subprocess.Popen(
            _moto_command(self.host, self.port),
            env=environment,
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,  # noqa: PLW1509
        )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"moto server exited with code {self._process.returncode} "
                    f"(see {self.log_path or 'its output'})"
                )
            try:
                with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=1):
                    return
            except urllib.error.HTTPError:
                return  # it answers, whatever it says
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"moto server did not answer on {self.endpoint_url} within {timeout:.0f} s"
        )

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None
