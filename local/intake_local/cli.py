"""`intake-local`: run the local stack, print a token, run the demo, operate a running stack.

intake-local up [--port 8080] [--aws-port 4566]    # Ctrl-C stops everything
intake-local token --tenant acme                   # the token is the last line
intake-local demo                                  # the whole flow, exit 0 if it all worked
intake-local sweep [--aws-port 4566]               # run the run sweep once, now
intake-local redrive-dlq [--aws-port 4566]         # move the DLQ's messages back to the queue
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from infra import definitions as d
from intake_local.lambda_runtime import REGION, load_function
from intake_local.maintenance import SWEEP_RULE_ARN, redrive_dlq, scheduled_event
from intake_local.moto_server import free_port
from intake_local.paths import default_functions_dir, default_state_dir
from intake_local.resources import Resources, find_resources
from intake_local.stack import (
    DEFAULT_API_PORT,
    DEFAULT_AWS_PORT,
    FAKE_CREDENTIALS,
    LocalStack,
    StackConfig,
    configure_aws_environment,
    powertools_environment,
)
from intake_local.tokens import DEFAULT_SCOPES, DEFAULT_TTL_SECONDS, ensure_key_pair, issue_token


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        return int(value) if value else default
    except ValueError:
        raise SystemExit(f"intake-local: {name} must be a port number, not {value!r}") from None


def _stack_options(p: argparse.ArgumentParser, *, api_port: int, aws_port: int) -> None:
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default %(default)s)")
    p.add_argument(
        "--port",
        type=int,
        default=api_port,
        help="gateway port, 0 = any free one (env INTAKE_API_PORT; default %(default)s)",
    )
    p.add_argument(
        "--aws-port",
        type=int,
        default=aws_port,
        help="moto server port, 0 = any free one (env INTAKE_AWS_PORT; default %(default)s)",
    )
    p.add_argument(
        "--retry-delay",
        type=int,
        default=2,
        help="seconds before a failed SQS message is retried (local only; default %(default)s)",
    )
    p.add_argument(
        "--batch-window",
        type=float,
        default=None,
        help="SQS batching window in seconds (default: the stack's)",
    )
    p.add_argument("--functions-dir", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--log-level", default="INFO", help="the functions' POWERTOOLS_LOG_LEVEL")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intake-local", description="Intake without AWS.")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="keys and logs (env INTAKE_LOCAL_DIR; default: .local/ of the checkout)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run moto server, the gateway and the worker until Ctrl-C")
    _stack_options(
        up,
        api_port=_env_int("INTAKE_API_PORT", DEFAULT_API_PORT),
        aws_port=_env_int("INTAKE_AWS_PORT", DEFAULT_AWS_PORT),
    )
    up.add_argument(
        "--ready-file", type=Path, help="write the stack's URLs here (JSON) once it serves"
    )
    up.add_argument(
        "--sweep-interval",
        type=float,
        default=d.RUN_SWEEP_INTERVAL_MINUTES * 60,
        help="seconds between run sweeps, as the stack's schedule; 0 = none (default %(default)s)",
    )

    for name, text in (
        ("sweep", "run the run sweep once against a running local stack (`make up`)"),
        ("redrive-dlq", "move the DLQ's messages back to the import queue of a running stack"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("--host", default="127.0.0.1")
        command.add_argument(
            "--aws-port",
            type=int,
            default=_env_int("INTAKE_AWS_PORT", DEFAULT_AWS_PORT),
            help="the stack's moto server port (env INTAKE_AWS_PORT; default %(default)s)",
        )

    token = sub.add_parser("token", help="print a bearer token for the local stack")
    token.add_argument("--tenant", required=True)
    token.add_argument(
        "--scopes", default=" ".join(DEFAULT_SCOPES), help="space separated (default: %(default)s)"
    )
    token.add_argument(
        "--ttl", type=int, default=DEFAULT_TTL_SECONDS, help="seconds (default %(default)s)"
    )
    token.add_argument("--sub", dest="subject", help="subject (default local-user@<tenant>)")
    token.add_argument("--tenant-claim", default=os.environ.get("TENANT_CLAIM", "tenant"))

    demo = sub.add_parser("demo", help="start the stack on free ports, run the whole flow, stop")
    _stack_options(demo, api_port=0, aws_port=0)
    demo.add_argument("--tenant", default="acme")
    return parser


def _config(args: argparse.Namespace, state_dir: Path) -> StackConfig:
    cfg = StackConfig(
        host=args.host,
        api_port=args.port,
        aws_port=args.aws_port or free_port(args.host),
        state_dir=state_dir,
        functions_dir=args.functions_dir or default_functions_dir(),
        retry_delay_seconds=args.retry_delay,
        log_level=args.log_level,
        tenant_claim=os.environ.get("TENANT_CLAIM", "tenant"),
    )
    if args.batch_window is not None:
        cfg.batching_window_seconds = args.batch_window
    if getattr(args, "sweep_interval", None) is not None:
        cfg.sweep_interval_seconds = args.sweep_interval
    return cfg


def cmd_up(args: argparse.Namespace, state_dir: Path) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    cfg = _config(args, state_dir)
    print("Intake local stack: starting moto server, resources, functions...", flush=True)
    try:
        with LocalStack(cfg) as stack:
            banner(stack)
            if args.ready_file:
                stack.write_ready_file(args.ready_file)
            while not stop.wait(0.5):
                if stack.moto is None or stack.moto.pid is None or not stack.moto.alive:
                    stack.console("moto server stopped unexpectedly; shutting down")
                    return 1
            stack.console("stopping...")
    except Exception as exc:
        if not isinstance(exc, RuntimeError | OSError):  # a handler that does not import, ...
            traceback.print_exc()
        print(f"intake-local: could not start the local stack: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.ready_file:
            args.ready_file.unlink(missing_ok=True)
    print("stopped.", flush=True)
    return 0


def banner(stack: LocalStack) -> None:
    log_dir = stack.config.log_dir
    try:
        shown = log_dir.relative_to(Path.cwd())
    except ValueError:
        shown = log_dir
    assert stack.resources is not None
    bucket = stack.resources.names.bucket
    lines = [
        "Intake local stack is up",
        f"  API        {stack.api_url}    (Swagger UI: {stack.api_url}/docs)",
        f"  AWS        {stack.aws_endpoint}    (moto server; bucket {bucket})",
        f"  logs       {shown}/  (functions.log, local-stack.log, moto.log)",
        "  sharded    "
        + (stack.state_machine_arn or "off (see the warning above): one invocation per file"),
        "  settings   " + " ".join(f"{name}={value}" for name, value in stack.settings.items()),
        "  token      export INTAKE_TOKEN=$(make -s token TENANT=acme | tail -n1)"
        "   # or: .venv/bin/intake-local token --tenant acme",
        f"  client     export INTAKE_API_URL={stack.api_url}",
        "             .venv/bin/intake send FILE.csv --type contacts --wait",
        "Ctrl-C stops everything.",
    ]
    stack.console("\n".join(lines))


def cmd_token(args: argparse.Namespace, state_dir: Path) -> int:
    keys = ensure_key_pair(state_dir)
    scopes = tuple(args.scopes.split())
    token = issue_token(
        keys,
        tenant=args.tenant,
        scopes=scopes,
        ttl_seconds=args.ttl,
        subject=args.subject,
        tenant_claim=args.tenant_claim,
    )
    print(f"# tenant={args.tenant} scopes={' '.join(scopes)} ttl={args.ttl}s", file=sys.stderr)
    print(token, flush=True)
    return 0


def cmd_demo(args: argparse.Namespace, state_dir: Path) -> int:
    from intake_local.demo import run_demo

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # unwinds through the stack's `with`: everything is stopped

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        return run_demo(_config(args, state_dir), tenant=args.tenant)
    except KeyboardInterrupt:
        print("demo interrupted; the stack is stopped", file=sys.stderr)
        return 130


def _running_stack(args: argparse.Namespace) -> tuple[str, Resources] | None:
    endpoint = f"http://{args.host}:{args.aws_port}"
    session = boto3.session.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=REGION,
    )
    try:
        return endpoint, find_resources(session=session, endpoint_url=endpoint)
    except (BotoCoreError, ClientError) as exc:
        print(
            f"intake-local: no local stack at {endpoint} ({exc}); start one with `make up` "
            "(or pass its --aws-port)",
            file=sys.stderr,
        )
        return None


def cmd_sweep(args: argparse.Namespace) -> int:
    """The stack's scheduled sweep, once, now: the run_sweep handler in this process."""
    found = _running_stack(args)
    if found is None:
        return 1
    endpoint, resources = found
    configure_aws_environment(endpoint)
    os.environ.update(resources.function_environment(tenant_claim="tenant"))
    os.environ.update(powertools_environment(os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING")))
    function = load_function(d.RUN_SWEEP, default_functions_dir())
    invocation = function.invoke(scheduled_event(SWEEP_RULE_ARN))
    if not invocation.ok:
        print(f"intake-local: the sweep failed: {invocation.error!r}", file=sys.stderr)
        return 1
    print(json.dumps(invocation.result), flush=True)  # the last line: the sweep's counts
    return 0


def cmd_redrive_dlq(args: argparse.Namespace) -> int:
    """What `aws sqs start-message-move-task --source-arn <dlq arn>` does in AWS."""
    found = _running_stack(args)
    if found is None:
        return 1
    endpoint, resources = found
    sqs = boto3.session.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=REGION,
    ).client("sqs", endpoint_url=endpoint)
    outcome = redrive_dlq(sqs, dlq_url=resources.dlq_url, queue_url=resources.queue_url)
    print(
        f"moved {outcome.moved} message(s) from {resources.names.dlq} back to "
        f"{resources.names.queue}" + (f"; {outcome.failed} not deleted" if outcome.failed else ""),
        flush=True,
    )
    return 1 if outcome.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    state_dir = (args.state_dir or default_state_dir()).resolve()
    if args.command == "up":
        return cmd_up(args, state_dir)
    if args.command == "token":
        return cmd_token(args, state_dir)
    if args.command == "demo":
        return cmd_demo(args, state_dir)
    if args.command == "sweep":
        return cmd_sweep(args)
    if args.command == "redrive-dlq":
        return cmd_redrive_dlq(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
