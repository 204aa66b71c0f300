"""Cached boto3 clients. Nothing here runs at import time.

The endpoint comes from the standard AWS configuration (AWS_ENDPOINT_URL and friends), so the
same code talks to AWS in Lambda and to moto in the local stack and the tests.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})
# Presigned URLs must be SigV4 (botocore defaults to SigV2 for presigning).
_S3_CONFIG = _CONFIG.merge(Config(signature_version="s3v4", s3={"addressing_style": "auto"}))


@cache
def client(service: str) -> Any:
    config = _S3_CONFIG if service == "s3" else _CONFIG
    return boto3.session.Session().client(service, config=config)  # type: ignore[call-overload]


@cache
def unvalidated_client(service: str) -> Any:
    """For requests the code builds itself from validated records (the sink's batch writes):
    botocore's client-side parameter check costs CPU per item and cannot fail on them."""
    config = _CONFIG.merge(Config(parameter_validation=False))
    return boto3.session.Session().client(service, config=config)  # type: ignore[call-overload]


def reset_clients() -> None:
    """Forget cached clients (tests switch endpoints and credentials between runs)."""
    client.cache_clear()
    resource.cache_clear()
    unvalidated_client.cache_clear()


@cache
def resource(service: str) -> Any:
    return boto3.session.Session().resource(service, config=_CONFIG)  # type: ignore[call-overload]
