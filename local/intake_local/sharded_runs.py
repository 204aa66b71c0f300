"""The sharded-runs state machine on the local stack's moto server.

- Its definition is the CDK construct's (infra/sharded_runs.py `render_definition`), never a
  second copy. Rendering it runs jsii (node): 2-12 s here, so it runs in a subprocess started
  as the stack starts (in parallel with the rest), and the ASL is cached under the state dir,
  keyed by a hash of infra/*.py, the aws-cdk-lib version and the functions' ARNs: a stack
  start with a warm cache costs a file read.
- moto emits no EventBridge events for executions. `ExecutionWatcher` polls ListExecutions
  and, for each execution that ends FAILED, TIMED_OUT or ABORTED, sends to the import queue
  the event the stack's EventBridge rule would deliver (infra: source aws.states,
  detail-type "Step Functions Execution Status Change" -> the import queue), as EventBridge
  delivers it to SQS: the event itself is the message body.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from intake_local.lambda_runtime import ACCOUNT_ID, REGION
from intake_local.paths import repo_root

log = logging.getLogger("intake_local.sharded_runs")

RENDER_MODULE = "infra.sharded_runs"  # render_definition(function_arns) -> ASL (JSON text)
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/intake-local-sharded-runs"  # moto checks nothing
RENDER_TIMEOUT_SECONDS = 180
# What the stack's rule matches (contract "No Catch anywhere"): every other end is the run's.
FAILED_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")
EVENT_SOURCE = "aws.states"
EVENT_DETAIL_TYPE = "Step Functions Execution Status Change"


def renderer_available() -> bool:
    """Whether the CDK construct that renders the definition exists in this checkout."""
    return importlib.util.find_spec(RENDER_MODULE) is not None


def cache_key(function_arns: Mapping[str, str], infra_dir: Path | None = None) -> str:
    """What the rendered ASL depends on: the infra code, the CDK library and the ARNs."""
    infra_dir = infra_dir or repo_root() / "infra"
    digest = hashlib.sha256()
    for path in sorted(infra_dir.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for package in ("aws-cdk-lib", "constructs"):
        try:
            digest.update(f"{package}=={importlib.metadata.version(package)}\0".encode())
        except importlib.metadata.PackageNotFoundError:
            digest.update(f"{package} missing\0".encode())
    digest.update(json.dumps(dict(function_arns), sort_keys=True).encode())
    return digest.hexdigest()[:32]


class DefinitionRender:
    """The state machine's ASL: from the cache, or rendered by a subprocess started now."""

    def __init__(self, function_arns: Mapping[str, str], cache_dir: Path) -> None:
        self.function_arns = dict(function_arns)
        self.cache_path = cache_dir / f"sharded-runs-{cache_key(function_arns)}.asl.json"
        self.seconds = 0.0
        self._started = time.monotonic()
        self._process: subprocess.Popen[str] | None = None
        self._definition: str | None = None
        try:
            self._definition = self.cache_path.read_text()
        except FileNotFoundError:  # (or another stack of the checkout just replaced it)
            pass
        self.cached = self._definition is not None
        if self.cached:
            self.seconds = time.monotonic() - self._started
        else:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "intake_local.sharded_runs"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=repo_root(),
                # jsii's end-of-life banner for node 20, on every render otherwise.
                env={**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"},
            )

    def result(self) -> str:
        """The ASL (JSON text); raises RuntimeError when rendering failed."""
        if self._definition is not None:
            return self._definition
        assert self._process is not None
        try:
            out, err = self._process.communicate(
                json.dumps(self.function_arns), timeout=RENDER_TIMEOUT_SECONDS
            )
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.communicate()
            raise RuntimeError(
                f"rendering the sharded-runs state machine took over {RENDER_TIMEOUT_SECONDS} s"
            ) from None
        if self._process.returncode != 0:
            raise RuntimeError(
                "rendering the sharded-runs state machine (infra/sharded_runs.py) failed:\n"
                + err[-4000:]
            )
        definition = out
        json.loads(definition)  # a broken render is not cached
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        for old in self.cache_path.parent.glob("sharded-runs-*.asl.json"):
            old.unlink(missing_ok=True)
        tmp = self.cache_path.with_name(f"{self.cache_path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(definition)
        tmp.replace(self.cache_path)
        self.seconds = time.monotonic() - self._started
        self._definition = definition
        return definition

    def cancel(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.communicate()


def state_machine_arn(name: str) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{name}"


def create_state_machine(sfn: Any, name: str, definition: str) -> str:
    """Create the STANDARD state machine on moto; its ARN."""
    arn = sfn.create_state_machine(
        name=name, definition=definition, roleArn=ROLE_ARN, type="STANDARD"
    )["stateMachineArn"]
    return str(arn)


# --- failed executions -> the import queue -----------------------------------------------------


def _millis(value: Any) -> int | None:
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    return None


def execution_status_event(execution: Mapping[str, Any]) -> dict[str, Any]:
    """The EventBridge event of a finished execution (a DescribeExecution answer), as a rule
    delivers it to an SQS target (the message body is the event)."""
    stopped = execution.get("stopDate")
    now = datetime.datetime.now(datetime.UTC)
    when = stopped if isinstance(stopped, datetime.datetime) else now
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": EVENT_DETAIL_TYPE,
        "source": EVENT_SOURCE,
        "account": ACCOUNT_ID,
        "time": when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [execution["executionArn"]],
        "detail": {
            "executionArn": execution["executionArn"],
            "stateMachineArn": execution["stateMachineArn"],
            "name": execution.get("name"),
            "status": execution["status"],
            "startDate": _millis(execution.get("startDate")),
            "stopDate": _millis(stopped),
            "input": execution.get("input"),
            "inputDetails": {"included": True},
            "output": execution.get("output"),
            "outputDetails": {"included": True} if execution.get("output") is not None else None,
            "error": execution.get("error"),
            "cause": execution.get("cause"),
            "stateMachineVersionArn": None,
            "stateMachineAliasArn": None,
            "redriveCount": execution.get("redriveCount", 0),
            "redriveDate": None,
            "redriveStatus": execution.get("redriveStatus", "REDRIVABLE"),
            "redriveStatusReason": None,
        },
    }


class ExecutionWatcher:
    """Polls the state machine's executions; each one that ends FAILED, TIMED_OUT or ABORTED
    is sent once to the import queue as its EventBridge event (the module doc says why)."""

    def __init__(
        self,
        sfn: Any,
        sqs: Any,
        *,
        state_machine_arn: str,
        queue_url: str,
        interval_seconds: float = 1.0,
        report: Callable[[str], None] | None = None,
    ) -> None:
        self._sfn = sfn
        self._sqs = sqs
        self.state_machine_arn = state_machine_arn
        self.queue_url = queue_url
        self.interval_seconds = interval_seconds
        self._report = report or (lambda line: None)
        self._sent: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sfn-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            try:
                self.poll()
            except Exception:  # the endpoint going away at shutdown, a moto hiccup: next poll
                log.exception("polling the sharded-runs executions failed")

    def poll(self) -> list[dict[str, Any]]:
        """Send the events of executions that failed since the last poll; return them."""
        sent = []
        for arn in self._failed_executions():
            execution = self._sfn.describe_execution(executionArn=arn)
            event = execution_status_event(execution)
            self._sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(event))
            self._sent.add(arn)
            sent.append(event)
            log.info("execution %s ended %s: event sent to the import queue", arn, event)
            self._report(
                f"sharded run {execution.get('name')} ended {execution['status']} "
                f"({execution.get('error')}): EventBridge event -> import queue"
            )
        return sent

    def _failed_executions(self) -> Iterable[str]:
        for status in FAILED_STATUSES:
            pages = self._sfn.get_paginator("list_executions").paginate(
                stateMachineArn=self.state_machine_arn, statusFilter=status
            )
            for page in pages:
                for item in page.get("executions", []):
                    if item.get("mapRunArn"):  # a map's child: its parent reports the run
                        continue
                    if item["executionArn"] not in self._sent:
                        yield item["executionArn"]


# --- the render subprocess ------------------------------------------------------------------


def _render_main() -> int:
    """stdin: the functions' ARNs (JSON); stdout: the ASL from the CDK construct."""
    function_arns = json.loads(sys.stdin.read())
    from infra.sharded_runs import render_definition  # type: ignore[import-not-found,unused-ignore]

    definition = render_definition(function_arns)
    sys.stdout.write(definition if isinstance(definition, str) else json.dumps(definition))
    return 0


if __name__ == "__main__":
    sys.exit(_render_main())
