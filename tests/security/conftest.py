"""The bad-input suite runs over HTTP against its own local stack.

`stack` and `api` are the e2e suite's fixtures, imported: pytest keeps one instance per
fixture definition, so this package starts one stack of its own (a few seconds) instead of
sharing the e2e one. Its tests form their own xdist group ("security"), so under `make test`
they all run on one worker with that one stack, while xdist balances the e2e group and the
other suites around it. Every test declares files under a fresh tenant, so "nothing stored"
is checked against an empty partition.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Attr, Key

from tests.e2e.conftest import api, stack
from tests.e2e.support import Api, Stack

__all__ = ["api", "stack"]

HERE = Path(__file__).parent


# tryfirst: xdist names the groups in its own hook of this name, which runs before a conftest
# loaded at start-up (as this one is under `pytest tests/security -n 2`).
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents and "stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.xdist_group("security"))


@pytest.fixture
def tenant() -> str:
    """A tenant no other test uses: its partition starts empty."""
    return f"sec{uuid.uuid4().hex[:16]}"


class Store:
    """What one tenant has stored, seen through the API and, to be sure, in the tables."""

    def __init__(self, api: Api, stack: Stack) -> None:
        self.api = api
        self.stack = stack
        resources = stack.info["resources"]
        dynamodb = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        ).resource("dynamodb", endpoint_url=stack.aws_endpoint)
        self._status = dynamodb.Table(resources["status_table"])
        self._records = dynamodb.Table(resources["records_table"])

    def listed(self, tenant: str) -> set[str]:
        """The file ids GET /files shows: the listing must answer 200, filtered or not."""
        ids: set[str] = set()
        # Filtered too: stored junk once broke exactly GET /files?import_type=contacts.
        for params in ({}, {"import_type": "contacts"}):
            response = self.api.call("GET", "/files", tenant=tenant, params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            assert page["next_cursor"] is None, page
            ids |= {item["file_id"] for item in page["items"]}
        return ids

    def stored(self, tenant: str) -> int:
        """Items in the status table under the tenant's partition."""
        return int(
            self._status.query(
                KeyConditionExpression=Key("pk").eq(f"TENANT#{tenant}"), Select="COUNT"
            )["Count"]
        )

    def records(self, tenant: str) -> int:
        """Rows in the records table (the sink) for any import type of the tenant."""
        count, start = 0, None
        while True:
            kwargs: dict[str, Any] = {
                "FilterExpression": Attr("pk").begins_with(f"{tenant}#"),
                "Select": "COUNT",
            }
            if start:
                kwargs["ExclusiveStartKey"] = start
            page = self._records.scan(**kwargs)
            count += int(page["Count"])
            start = page.get("LastEvaluatedKey")
            if not start:
                return count

    def assert_unchanged(self, tenant: str, files: set[str] | frozenset[str] = frozenset()) -> None:
        """After a refused request: the listing works and shows exactly `files`, the status
        table holds nothing else for the tenant, and no row reached the sink."""
        assert self.listed(tenant) == set(files)
        assert self.stored(tenant) == len(files)
        assert self.records(tenant) == 0


@pytest.fixture(scope="session")
def store(api: Api, stack: Stack) -> Store:
    return Store(api, stack)
