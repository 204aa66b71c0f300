"""Root fixtures: fake credentials before any app import, moto with the stack's resources."""

from __future__ import annotations

import os

# Before anything imports boto3 or the app: no real credentials, no real endpoint, ever.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "intake",
        "POWERTOOLS_METRICS_NAMESPACE": "IntakeTests",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_DEV": "false",
        # The deployed level (infra/config.py logLevel): every INFO log call runs in the suite.
        "POWERTOOLS_LOG_LEVEL": "INFO",
        # jsii (CDK) prints a large banner about node 20 on every synth otherwise.
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
)
for _var in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
    os.environ.pop(_var, None)

import io  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402

import pytest  # noqa: E402
from moto import mock_aws  # noqa: E402

from intake.aws import reset_clients  # noqa: E402
from intake.observability import logger  # noqa: E402
from intake.settings import get_settings  # noqa: E402
from intake_local.resources import Resources, create_resources  # noqa: E402


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Resources]:
    """In-process moto with the stack's bucket, queues and tables; the functions' env set."""
    with mock_aws():
        reset_clients()
        get_settings.cache_clear()
        resources = create_resources()
        for name, value in resources.function_environment().items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        yield resources
    reset_clients()
    get_settings.cache_clear()


LogLines = Callable[[], list[dict]]


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    """The functions' JSON log lines (the service logger's stream), parsed, at the suite's level."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        handler.setStream(previous)


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """Short, stable ids for byte payloads: archives and gzip streams embed timestamps, and
    xdist workers must collect identical test ids."""
    if isinstance(val, bytes | bytearray) and len(val) > 32:
        return f"{argname}-{len(val)}B"
    return None
