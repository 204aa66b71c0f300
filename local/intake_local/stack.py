"""The local stack in one object: moto server, the stack's resources, the functions, the
gateway and the worker runner. Started and stopped together; `with LocalStack(...)` stops
everything it started even when starting fails half-way.

The functions run in this process, so this process's environment is theirs: the standard
AWS variables point boto3 at moto server (AWS_ENDPOINT_URL, fake credentials, us-east-1) and
the stack's variables name the resources. Nothing moto-specific reaches layers/ or functions/.

The sharded-runs state machine runs on moto server (sharded_runs.py): its Lambda tasks come
back to this process through the invoke endpoint (lambda_invoke.py), and its failed
executions reach the import queue through the execution watcher, as EventBridge's would.
Settings the stack does not set (SHARD_THRESHOLD_BYTES, SHARD_SIZE_BYTES, MULTIPART_*) pass
through from the environment `make up` runs in: the functions read this process's environment.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import boto3
from pydantic import ValidationError

from infra import definitions as d
from intake.settings import Settings
from intake_local.faults import inject as inject_faults
from intake_local.gateway import Gateway
from intake_local.lambda_invoke import InvokeEndpoint
from intake_local.lambda_runtime import (
    REGION,
    LocalFunction,
    function_arn,
    isolate_log_keys,
    load_functions,
)
from intake_local.maintenance import SweepSchedule
from intake_local.moto_server import MotoServer
from intake_local.paths import default_functions_dir, default_state_dir
from intake_local.resources import ResourceNames, Resources, create_resources
from intake_local.sharded_runs import (
    DefinitionRender,
    ExecutionWatcher,
    create_state_machine,
    renderer_available,
    state_machine_arn,
)
from intake_local.tokens import JwtAuthorizer, ensure_key_pair
from intake_local.worker_runner import WorkerRunner

DEFAULT_AWS_PORT = 4566
DEFAULT_API_PORT = 8080
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}

Console = Callable[[str], None]
# Settings the functions read that `make up` passes through from its environment (the stack
# sets none of them); shown at start and in the ready file.
PASSED_THROUGH = (
    "shard_threshold_bytes",
    "shard_size_bytes",
    "multipart_threshold_bytes",
    "multipart_part_bytes",
)

log = logging.getLogger("intake_local.stack")


@dataclass
class StackConfig:
    host: str = "127.0.0.1"
    aws_port: int = DEFAULT_AWS_PORT
    api_port: int = DEFAULT_API_PORT
    state_dir: Path = field(default_factory=default_state_dir)
    functions_dir: Path = field(default_factory=default_functions_dir)
    # Local-stack behaviour: how soon a failed SQS message is retried (AWS: the visibility
    # timeout, 90 minutes for the import queue).
    retry_delay_seconds: int = 2
    batching_window_seconds: float = float(d.IMPORT_QUEUE.max_batching_window_seconds)
    tenant_claim: str = "tenant"
    log_level: str = "INFO"
    # The run sweep's schedule, as the stack's EventBridge rule; 0 turns it off.
    sweep_interval_seconds: float = float(d.RUN_SWEEP_INTERVAL_MINUTES * 60)
    # The rendered sharded-runs ASL (sharded_runs.py); shared by every stack of the checkout
    # (e2e stacks have state dirs of their own) unless INTAKE_LOCAL_DIR moves it.
    cache_dir: Path = field(default_factory=lambda: default_state_dir() / "cache")
    # How often failed sharded-run executions are looked for (EventBridge: within seconds).
    execution_watch_seconds: float = 1.0

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"


def configure_aws_environment(endpoint_url: str) -> None:
    """Point every boto3 client of this process at `endpoint_url`, with fake credentials.

    Profiles, shared config files and per-service endpoint variables are cut off so that no
    real account is ever reached from the local stack.
    """
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL_") or name in (
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN",
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ):
            del os.environ[name]
    os.environ.update(
        {
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )


def powertools_environment(log_level: str) -> dict[str, str]:
    return {
        "POWERTOOLS_SERVICE_NAME": "intake",
        "POWERTOOLS_METRICS_NAMESPACE": "IntakeLocal",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",  # no EMF blobs on a laptop
        "POWERTOOLS_LOG_LEVEL": log_level,
    }


class _FirstLine(logging.Formatter):
    """Console lines: the first line of a warning or error, the rest is in the log file."""

    def format(self, record: logging.LogRecord) -> str:
        first = record.getMessage().splitlines()[0] if record.getMessage() else ""
        more = (
            " (details in the log file)" if record.exc_info or "\n" in record.getMessage() else ""
        )
        return f"  ! {first}{more}"


class LocalStack:
    def __init__(
        self, config: StackConfig | None = None, *, console: Console | None = None
    ) -> None:
        self.config = config or StackConfig()
        self._console_stream: IO[str] = sys.stdout
        self.console: Console = console or self._print
        self.moto: MotoServer | None = None
        self.resources: Resources | None = None
        self.functions: dict[str, LocalFunction] = {}
        self.gateway: Gateway | None = None
        self.worker: WorkerRunner | None = None
        self.sweep: SweepSchedule | None = None
        self.invoke_endpoint: InvokeEndpoint | None = None
        self.watcher: ExecutionWatcher | None = None
        self.state_machine_arn = ""
        self.settings: dict[str, int] = {}
        self.timings: dict[str, float] = {}
        self._render: DefinitionRender | None = None
        self._background = ThreadPoolExecutor(1, thread_name_prefix="stack-start")
        self._saved_stdout: IO[str] | None = None
        self._function_log: IO[str] | None = None
        self._log_handlers: list[logging.Handler] = []

    def _print(self, line: str) -> None:
        print(line, file=self._console_stream, flush=True)

    # --- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        cfg = self.config
        started = time.monotonic()
        cfg.log_dir.mkdir(parents=True, exist_ok=True)
        self._setup_logging()
        shard_functions = self._shard_functions()
        if shard_functions:  # renders (or reads the cache) while the rest starts
            self._render = DefinitionRender(
                {f.name: function_arn(f.name) for f in shard_functions}, cfg.cache_dir
            )

        self.invoke_endpoint = InvokeEndpoint({})
        self.invoke_endpoint.start()
        self.moto = MotoServer(
            host=cfg.host,
            port=cfg.aws_port,
            log_path=cfg.log_dir / "moto.log",
            invoke_url=self.invoke_endpoint.url,
        )
        self.moto.start()
        configure_aws_environment(self.moto.endpoint_url)
        session = boto3.session.Session(region_name=REGION, **_lower(FAKE_CREDENTIALS))
        self.resources = create_resources(
            ResourceNames(), session=session, endpoint_url=self.moto.endpoint_url
        )
        sfn = session.client("stepfunctions", endpoint_url=self.moto.endpoint_url)
        # Created while the functions load (moto's first Step Functions call imports its
        # interpreter, ~1.5 s); the ARN is known before, for the functions' environment.
        creating: Future[str] | None = None
        if self._render is not None:
            self.state_machine_arn = state_machine_arn(self.resources.names.sharded_runs)
            creating = self._background.submit(self._create_state_machine, sfn)
        os.environ.update(
            self.resources.function_environment(
                tenant_claim=cfg.tenant_claim,
                sharded_runs_state_machine_arn=self.state_machine_arn,
            )
        )
        os.environ.update(powertools_environment(cfg.log_level))
        self.settings = passed_through_settings()

        self._redirect_function_output()
        self.functions = load_functions((*d.FUNCTIONS, *shard_functions), cfg.functions_dir)
        inject_faults(self.functions, dict(os.environ))
        for function in self.functions.values():
            self.invoke_endpoint.add(function)
        if creating is not None:
            created = creating.result()
            assert created == self.state_machine_arn, (created, self.state_machine_arn)
        self._repoint_powertools_logger(self._saved_stdout, self._function_log)
        isolate_log_keys(os.environ["POWERTOOLS_SERVICE_NAME"])

        keys = ensure_key_pair(cfg.state_dir)
        self.gateway = Gateway(
            d.ROUTES,
            self.functions,
            JwtAuthorizer(keys.public_pem),
            host=cfg.host,
            port=cfg.api_port,
            access_log=lambda line: self.console("  " + line),
        )
        self.worker = WorkerRunner(
            self.functions[d.IMPORT_WORKER.name],
            session.client("sqs", endpoint_url=self.moto.endpoint_url),
            queue_url=self.resources.queue_url,
            queue_arn=self.resources.queue_arn,
            dlq_url=self.resources.dlq_url,
            batch_size=d.IMPORT_QUEUE.batch_size,
            batching_window_seconds=cfg.batching_window_seconds,
            retry_delay_seconds=cfg.retry_delay_seconds,
            report=lambda line: self.console("  " + line),
        )
        self.gateway.start()
        self.worker.start()
        if cfg.sweep_interval_seconds > 0:
            self.sweep = SweepSchedule(
                self.functions[d.RUN_SWEEP.name],
                cfg.sweep_interval_seconds,
                report=lambda line: self.console("  " + line),
            )
            self.sweep.start()
        if self.state_machine_arn:
            self.watcher = ExecutionWatcher(
                sfn,
                session.client("sqs", endpoint_url=self.moto.endpoint_url),
                state_machine_arn=self.state_machine_arn,
                queue_url=self.resources.queue_url,
                interval_seconds=cfg.execution_watch_seconds,
                report=lambda line: self.console("  " + line),
            )
            self.watcher.start()
        self.timings["start_seconds"] = round(time.monotonic() - started, 2)
        log.info("local stack started in %(start_seconds).2f s", self.timings)
        log.info("settings passed through: %s", self.settings)

    def _create_state_machine(self, sfn: Any) -> str:
        assert self._render is not None and self.resources is not None
        definition = self._render.result()
        self.timings["state_machine_render_seconds"] = round(self._render.seconds, 2)
        log.info(
            "sharded-runs definition %s in %.2f s",
            "read from the cache" if self._render.cached else "rendered",
            self._render.seconds,
        )
        self._render = None
        return create_state_machine(sfn, self.resources.names.sharded_runs, definition)

    def _shard_functions(self) -> tuple[d.FunctionDef, ...]:
        """The sharded-runs functions, when this checkout has them and the construct that
        renders their state machine; without them every file runs in one invocation."""
        wanted = tuple(f for f in d.SHARD_FUNCTIONS if f not in d.FUNCTIONS)
        missing = [
            f"functions/{f.name}/handler.py"
            for f in wanted
            if not (self.config.functions_dir / f.name / "handler.py").is_file()
        ]
        if not renderer_available():
            missing.append("infra/sharded_runs.py")
        if missing:
            log.warning(
                "sharded runs are off (no %s): every file runs in one invocation",
                ", ".join(missing),
            )
            return ()
        return wanted

    def stop(self) -> None:
        """Stop whatever was started, in reverse order; safe to call more than once."""
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        if self.sweep is not None:
            self.sweep.stop()
            self.sweep = None
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        if self.gateway is not None:
            self.gateway.stop()
            self.gateway = None
        if self.moto is not None:
            self.moto.stop()
            self.moto = None
        if self.invoke_endpoint is not None:
            self.invoke_endpoint.stop()
            self.invoke_endpoint = None
        if self._render is not None:
            self._render.cancel()
            self._render = None
        self._background.shutdown(wait=True)
        self._restore_output()

    # --- facts -----------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        assert self.gateway is not None, "the stack is not running"
        return self.gateway.url

    @property
    def aws_endpoint(self) -> str:
        assert self.moto is not None, "the stack is not running"
        return self.moto.endpoint_url

    def describe(self) -> dict[str, Any]:
        """What a client or a test needs to know about the running stack (--ready-file)."""
        assert self.resources is not None and self.moto is not None
        return {
            "api_url": self.api_url,
            "aws_endpoint": self.aws_endpoint,
            "region": REGION,
            "resources": asdict(self.resources.names),
            "queue_url": self.resources.queue_url,
            "queue_arn": self.resources.queue_arn,
            "dlq_url": self.resources.dlq_url,
            # "" when sharded runs are off (see the start's warning).
            "sharded_runs_state_machine_arn": self.state_machine_arn,
            "settings": self.settings,
            "timings": self.timings,
            "state_dir": str(self.config.state_dir),
            "log_dir": str(self.config.log_dir),
            "tenant_claim": self.config.tenant_claim,
            "log_level": self.config.log_level,
            "retry_delay_seconds": self.config.retry_delay_seconds,
            "pid": os.getpid(),
            "moto_pid": self.moto.pid,
        }

    def write_ready_file(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.describe(), indent=2))
        tmp.replace(path)

    # --- output ----------------------------------------------------------------------------

    def _setup_logging(self) -> None:
        """intake_local's own log: everything to local-stack.log, warnings also to the console."""
        stack_log = logging.FileHandler(self.config.log_dir / "local-stack.log")
        stack_log.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        stack_log.setLevel(logging.DEBUG)
        console = logging.StreamHandler(self._console_stream)
        console.setFormatter(_FirstLine())
        console.setLevel(logging.WARNING)
        root = logging.getLogger("intake_local")
        root.setLevel(logging.INFO)
        root.propagate = False
        for handler in (stack_log, console):
            root.addHandler(handler)
            self._log_handlers.append(handler)
        # Python warnings from the functions (e.g. Powertools' "No application metrics to
        # publish") go to the log file, not the console.
        logging.captureWarnings(True)
        logging.getLogger("py.warnings").addHandler(stack_log)
        logging.getLogger("py.warnings").propagate = False
        logging.getLogger("intake_local").info("local stack starting: %s", self.config)

    def _redirect_function_output(self) -> None:
        """The functions log JSON to stdout (Powertools); here that goes to functions.log."""
        if self._function_log is None:
            self._function_log = (self.config.log_dir / "functions.log").open(
                "a", buffering=1, encoding="utf-8"
            )
            self._saved_stdout = sys.stdout
            sys.stdout = self._function_log

    @staticmethod
    def _repoint_powertools_logger(old: IO[str] | None, new: IO[str] | None) -> None:
        """A Powertools Logger created before a redirect still holds the stream it was given."""
        if old is None or new is None:
            return
        service = logging.getLogger(os.environ.get("POWERTOOLS_SERVICE_NAME", "intake"))
        for handler in service.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is old:
                handler.setStream(new)

    def _restore_output(self) -> None:
        self._repoint_powertools_logger(self._function_log, self._saved_stdout)
        if self._saved_stdout is not None:
            sys.stdout = self._saved_stdout
            self._saved_stdout = None
        if self._function_log is not None:
            self._function_log.close()
            self._function_log = None
        logging.captureWarnings(False)
        root = logging.getLogger("intake_local")
        for handler in self._log_handlers:
            root.removeHandler(handler)
            logging.getLogger("py.warnings").removeHandler(handler)
            handler.close()
        self._log_handlers.clear()


def passed_through_settings() -> dict[str, int]:
    """PASSED_THROUGH as the functions will read them (validated: a bad value stops the start,
    not the first import), keyed by their environment variable names."""
    try:
        settings = Settings.model_validate(dict(os.environ))
    except ValidationError as exc:
        raise RuntimeError(f"a setting in the environment is invalid: {exc}") from None
    fields = Settings.model_fields
    return {str(fields[name].alias): int(getattr(settings, name)) for name in PASSED_THROUGH}


def _lower(credentials: dict[str, str]) -> dict[str, str]:
    return {
        "aws_access_key_id": credentials["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": credentials["AWS_SECRET_ACCESS_KEY"],
    }


def wait_for_ready_file(path: Path, timeout: float, *, alive: Callable[[], bool]) -> dict[str, Any]:
    """Used by whoever started `intake-local up --ready-file` as a subprocess."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file():
            return dict(json.loads(path.read_text()))
        if not alive():
            raise RuntimeError("the local stack exited before it was ready")
        time.sleep(0.1)
    raise TimeoutError(f"the local stack was not ready within {timeout:.0f} s")
