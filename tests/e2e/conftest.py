"""The local stack for the e2e suite: `intake-local up` as a subprocess on free ports.

A subprocess rather than in-process: the stack points boto3 at moto server through the
process environment, which must not leak into the unit and integration tests (they use
in-process moto and may share this pytest process). It runs moto server, the gateway and the
worker runner with the real handlers; everything is stopped after the session. Logs go to
.local/e2e/run-<pid>/logs/ (kept for reading after a failure).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from intake_local.moto_server import free_port
from intake_local.paths import repo_root
from intake_local.stack import wait_for_ready_file
from intake_local.tokens import ensure_key_pair
from tests.e2e.support import BATCH_WINDOW, RETRY_DELAY, Api, Stack

HERE = Path(__file__).parent
START_TIMEOUT = 60
DEMO_TEST = "test_the_demo_runs_the_whole_flow_and_stops_everything"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.e2e)
            # One local stack per session: keep every e2e test on one xdist worker.
            item.add_marker(pytest.mark.xdist_group("e2e"))
    # The demo runs in the background from the session's start (demo_run): collect it last.
    items.sort(key=lambda item: item.name == DEMO_TEST)


def _clean_old_runs(base: Path, max_age_seconds: float = 86400) -> None:
    if not base.is_dir():
        return
    for run in base.glob("run-*"):
        try:
            if time.time() - run.stat().st_mtime > max_age_seconds:
                shutil.rmtree(run, ignore_errors=True)
        except OSError:
            pass


@contextmanager
def local_stack(name: str = "", env: dict[str, str] | None = None) -> Iterator[Stack]:
    """`intake-local up` on free ports under .local/e2e/run-<pid>-<time><name>, with `env`
    added to its environment (as `make up` passes settings through); stopped on exit."""
    base = repo_root() / ".local" / "e2e"
    state_dir = base / f"run-{os.getpid()}-{int(time.time())}{name}"
    state_dir.mkdir(parents=True)
    ready = state_dir / "ready.json"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment.update(env or {})
    command = [
        *(sys.executable, "-m", "intake_local.cli", "--state-dir", str(state_dir), "up"),
        *("--port", "0", "--aws-port", str(free_port())),
        # A short batching window (the stack's is 1 s) keeps batches and the suite quick.
        *("--retry-delay", str(RETRY_DELAY), "--batch-window", str(BATCH_WINDOW)),
        *("--ready-file", str(ready)),
    ]
    with (state_dir / "console.log").open("wb") as console:
        process = subprocess.Popen(
            command, stdout=console, stderr=subprocess.STDOUT, env=environment, cwd=repo_root()
        )
        try:
            info = wait_for_ready_file(ready, START_TIMEOUT, alive=lambda: process.poll() is None)
        except BaseException:
            _stop(process)
            raise RuntimeError(
                "the local stack did not start:\n" + (state_dir / "console.log").read_text()
            ) from None
        try:
            yield Stack(
                api_url=info["api_url"],
                aws_endpoint=info["aws_endpoint"],
                bucket=info["resources"]["bucket"],
                queue_url=info["queue_url"],
                dlq_url=info["dlq_url"],
                state_dir=state_dir,
                log_dir=Path(info["log_dir"]),
                keys=ensure_key_pair(state_dir),
                info=info,
            )
        finally:
            _stop(process)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    _clean_old_runs(repo_root() / ".local" / "e2e")
    with local_stack() as started:
        yield started


def _stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def api(stack: Stack) -> Api:
    return Api(stack)


@pytest.fixture(scope="session", autouse=True)
def demo_run(request: pytest.FixtureRequest) -> Iterator[subprocess.Popen[str] | None]:
    """`intake-local demo` started at the beginning of the session, when its test was
    collected: it brings up its own stack on free ports, so it runs alongside the other
    tests and its test only collects the outcome."""
    if not any(item.name == DEMO_TEST for item in request.session.items):
        yield None
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    state_dir = repo_root() / ".local" / "e2e" / f"run-{os.getpid()}-demo"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "intake_local.cli",
            "--state-dir",
            str(state_dir),
            "demo",
            "--batch-window",
            "0.3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=repo_root(),
    )
    try:
        yield process
    finally:
        _stop(process)
