"""Helpers of the e2e suite: the running stack's facts and plain-HTTP calls against it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import requests

from intake_local.tokens import KeyPair, issue_token

WAIT = 20.0  # seconds for any one asynchronous step (upload seen, import done)
RETRY_DELAY = 1  # local retry delay for failed SQS messages, so DLQ tests stay short
BATCH_WINDOW = 0.3  # seconds the worker runner gathers a batch
FINAL = {"SUCCEEDED", "VALIDATED", "FAILED", "REJECTED", "EXPIRED"}


@dataclass(frozen=True)
class Stack:
    api_url: str
    aws_endpoint: str
    bucket: str
    queue_url: str
    dlq_url: str
    state_dir: Path
    log_dir: Path
    keys: KeyPair
    info: dict[str, Any]

    def token(
        self,
        tenant: str = "acme",
        *,
        scopes: tuple[str, ...] = ("intake/read", "intake/write"),
        ttl: int = 600,
        **kwargs: Any,
    ) -> str:
        return issue_token(self.keys, tenant=tenant, scopes=scopes, ttl_seconds=ttl, **kwargs)

    def headers(self, tenant: str = "acme", **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(tenant, **kwargs)}"}

    def client(self, service: str) -> Any:
        return boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        ).client(service, endpoint_url=self.aws_endpoint)


# --- HTTP helpers -------------------------------------------------------------------------


class Api:
    """Plain requests against the stack, asserting the contract's one universal rule."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.session = requests.Session()

    def call(
        self, method: str, path: str, *, tenant: str | None = "acme", **kwargs: Any
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if tenant is not None and "Authorization" not in headers:
            headers.update(self.stack.headers(tenant))
        response = self.session.request(
            method, self.stack.api_url + path, headers=headers, timeout=30, **kwargs
        )
        assert response.status_code < 500, (
            f"{method} {path} -> {response.status_code} {response.text[:500]} "
            f"(logs: {self.stack.log_dir})"
        )
        return response

    def declare(self, data: bytes, *, tenant: str = "acme", **fields: Any) -> dict[str, Any]:
        body = {
            "name": "contacts.csv",
            "media_type": "text/csv",
            "size": len(data),
            "import_type": "contacts",
            **fields,
        }
        response = self.call("POST", "/files", tenant=tenant, json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def upload(self, declared: dict[str, Any], data: bytes) -> requests.Response:
        block = declared["upload"]
        response = requests.request(
            block["method"], block["url"], headers=block["headers"], data=data, timeout=30
        )
        assert response.status_code == 200, response.text
        return response

    def file(self, file_id: str, *, tenant: str = "acme") -> dict[str, Any]:
        response = self.call("GET", f"/files/{file_id}", tenant=tenant)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait(
        self, file_id: str, status: str, *, tenant: str = "acme", timeout: float = WAIT
    ) -> dict[str, Any]:
        """Poll until `status` (or a final state, which fails the assertion)."""
        deadline = time.monotonic() + timeout
        while True:
            file = self.file(file_id, tenant=tenant)
            if file["status"] == status or file["status"] in FINAL:
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert file["status"] == status, (
            f"{file_id}: {file['status']} (expected {status}); reason={file.get('reason')} "
            f"errors={file.get('errors')}; logs: {self.stack.log_dir}"
        )
        return file

    def uploaded(self, data: bytes, *, tenant: str = "acme", **fields: Any) -> str:
        declared = self.declare(data, tenant=tenant, **fields)
        self.upload(declared, data)
        self.wait(declared["file_id"], "UPLOADED", tenant=tenant)
        return str(declared["file_id"])


def eventually(check: Callable[[], Any], *, timeout: float = WAIT, interval: float = 0.2) -> Any:
    """The first truthy value of `check()`, or AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:.0f} s")
        time.sleep(interval)


def contacts_csv(rows: int, *, prefix: str = "c") -> bytes:
    lines = ["external_id,email,first_name,last_name,country,signed_up"]
    lines += [
        f"{prefix}-{i:04d},person{i}@example.com,First{i},Last{i},GB,2024-01-{1 + i % 28:02d}"
        for i in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()
