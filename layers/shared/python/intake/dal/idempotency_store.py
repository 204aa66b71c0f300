"""The idempotency table: where the API remembers the answers given to Idempotency-Key requests.

Powertools' DynamoDBPersistenceLayer is the repository; this module only builds it, lazily and
once per (table, client), so nothing reads the environment or makes a client at import time.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from intake.aws import client
from intake.settings import get_settings


def persistence_layer() -> DynamoDBPersistenceLayer:
    """The persistence layer over the configured table with the shared DynamoDB client."""
    return _layer(get_settings().idempotency_table, client("dynamodb"))


@lru_cache(maxsize=4)
def _layer(table_name: str, dynamodb: Any) -> DynamoDBPersistenceLayer:
    # Keyed by its arguments: tests that reset the cached clients get a layer on the new one.
    # The attribute names are Powertools' defaults, which infra.definitions.IDEMPOTENCY_TABLE
    # declares (key `id`, TTL on `expiration`).
    return DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb)
