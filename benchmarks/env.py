"""What the AWS-backed figures share: fake credentials, a moto server child, the stack on it,
and an honest count of DynamoDB requests (botocore hooks, not our own counters)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / "bench-data"  # gitignored: generated files and moto logs
TENANT = "bench"

QUIET_ENV = {
    # Never real credentials or a real endpoint: everything talks to the moto server.
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "intake-bench",
    "POWERTOOLS_METRICS_NAMESPACE": "IntakeBench",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}


def use_fake_aws(endpoint_url: str | None = None) -> None:
    """Set the environment before any intake module builds a client or reads settings."""
    os.environ.update(QUIET_ENV)
    for var in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        os.environ.pop(var, None)
    if endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = endpoint_url
    else:
        os.environ.pop("AWS_ENDPOINT_URL", None)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def moto_server(log_name: str) -> Iterator[str]:
    """`moto_server` in its own process on a free port; yields its endpoint URL."""
    port = free_port()
    script = Path(sys.executable).parent / "moto_server"
    command = (
        [str(script), "-H", "127.0.0.1", "-p", str(port)]
        if script.is_file()
        else [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    )
    DATA_DIR.mkdir(exist_ok=True)
    with (DATA_DIR / log_name).open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        endpoint = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(endpoint, process)
            yield endpoint
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(endpoint: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("moto_server did not start")


def create_stack() -> Any:
    """The stack's bucket, queues and tables on the current endpoint; the functions' env set."""
    if str(ROOT) not in sys.path:  # create_resources reads infra/definitions.py
        sys.path.insert(0, str(ROOT))
    from intake.aws import reset_clients
    from intake.settings import get_settings
    from intake_local.resources import create_resources

    reset_clients()
    resources = create_resources()
    os.environ.update(resources.function_environment())
    get_settings.cache_clear()
    reset_clients()
    return resources


class RequestCounter:
    """Counts DynamoDB requests seen by botocore on the given clients.

    `calls` counts API calls (before-call), `sends` counts HTTP attempts (before-send, so an
    SDK retry counts again); both keyed by operation name.
    """

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.sends: Counter[str] = Counter()
        self.items_by_table: Counter[str] = Counter()
        self.calls_by_table: Counter[str] = Counter()

    def attach(self, client: Any) -> None:
        events = client.meta.events
        events.register("before-parameter-build.dynamodb", self._on_params)
        events.register("before-call.dynamodb", self._on_call)
        events.register("before-send.dynamodb", self._on_send)

    def _on_params(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if "RequestItems" in params:  # batch operations name their tables inside
            for table, requests in params["RequestItems"].items():
                self.calls_by_table[table] += 1
                self.items_by_table[table] += len(requests)
        elif "TableName" in params:
            self.calls_by_table[params["TableName"]] += 1
            if model.name == "PutItem":
                self.items_by_table[params["TableName"]] += 1

    def _on_call(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def _on_send(self, request: Any, **kwargs: Any) -> None:
        name = kwargs.get("event_name", "before-send.dynamodb.?").rsplit(".", 1)[-1]
        self.sends[name] += 1

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def total_sends(self) -> int:
        return sum(self.sends.values())

    def summary(self) -> dict[str, Any]:
        """The figures every P3 side reports."""
        return {
            "dynamodb_requests": self.total_calls,
            "http_attempts": self.total_sends,
            "by_operation": dict(self.calls),
            "by_table": dict(self.calls_by_table),
        }
