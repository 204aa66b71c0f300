"""IntakeClient: declare, upload straight to S3, import, watch.

client = IntakeClient("http://127.0.0.1:8080", token)
declared = client.declare_path("contacts.csv", import_type="contacts")
client.upload(declared, path="contacts.csv")
client.wait_for(declared["file_id"], {"UPLOADED"})
client.request_import(declared["file_id"])
done = client.wait_for(declared["file_id"], {"SUCCEEDED"})
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
import os
import re
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import requests

from intake_client.errors import IntakeApiError, IntakeTimeout, IntakeUploadError

# States a file does not leave by itself (it may be queued again by a new import request).
FINAL_STATUSES = frozenset({"SUCCEEDED", "VALIDATED", "FAILED", "REJECTED", "EXPIRED"})

_MEDIA_TYPES = {
    ".csv": "text/csv",
    ".tsv": "text/csv",  # Intake reads tab-separated files as CSV with a tab delimiter
    ".json": "application/json",
    ".jsonl": "application/x-ndjson",
    ".ndjson": "application/x-ndjson",
    ".zip": "application/zip",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".txt": "text/plain",
}

# Codes for answers that carry no Intake envelope (API Gateway's own, proxies, S3).
_CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "illegal_state",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "throttled",
    500: "internal_error",
    502: "bad_gateway",
    503: "unavailable",
    504: "timeout",
}


def media_type_for(path: str | os.PathLike[str]) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in _MEDIA_TYPES:
        return _MEDIA_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(str(path))
    return guessed or "application/octet-stream"


@dataclass(frozen=True)
class FileFacts:
    name: str
    size: int
    media_type: str
    sha256: str


def file_facts(path: str | os.PathLike[str], media_type: str | None = None) -> FileFacts:
    """Name, size, media type (from the extension) and SHA-256 of a local file, streamed."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
            size += len(chunk)
    return FileFacts(Path(path).name, size, media_type or media_type_for(path), digest.hexdigest())


class IntakeClient:
    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        session: requests.Session | None = None,
        *,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.session = session or requests.Session()
        self.timeout = timeout

    # --- files -----------------------------------------------------------------------------

    def declare_file(
        self,
        *,
        name: str,
        media_type: str,
        size: int,
        import_type: str | None = None,
        sha256: str | None = None,
        folder: str | None = None,
        category: str | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, str] | None = None,
        auto_import: bool = False,
        check_only: bool = False,
        on_invalid: str | None = None,
        mapping: dict[str, Any] | None = None,
        profile: str | None = None,
    ) -> dict[str, Any]:
        """POST /files: the answer holds `file_id` and the `upload` block. Without an
        `import_type` the file is analysed once uploaded (its `analysis`)."""
        body: dict[str, Any] = {
            "name": name,
            "media_type": media_type,
            "size": size,
            "auto_import": auto_import,
            "check_only": check_only,
        }
        optional = {
            "import_type": import_type,
            "sha256": sha256,
            "folder": folder,
            "category": category,
            "tags": tags,
            "metadata": metadata,
            "on_invalid": on_invalid,
            "mapping": mapping,
            "profile": profile,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return dict(self._call("POST", "/files", json=body))

    def declare_path(
        self,
        path: str | os.PathLike[str],
        *,
        import_type: str | None = None,
        media_type: str | None = None,
        name: str | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """declare_file with name, size, media type and SHA-256 taken from a local file."""
        facts = file_facts(path, media_type)
        return self.declare_file(
            name=name or facts.name,
            media_type=facts.media_type,
            size=facts.size,
            import_type=import_type,
            sha256=facts.sha256,
            **options,
        )

    def upload(
        self,
        declared: dict[str, Any],
        data: bytes | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
    ) -> dict[str, Any]:
        """Send the bytes to S3 with exactly the declared upload block (never via the API).

        Only the block's headers go out: no Authorization, nothing from the session's
        default headers.
        """
        if (data is None) == (path is None):
            raise ValueError("give exactly one of data or path")
        block = declared["upload"]
        if block["method"] == "MULTIPART":
            if path is not None:
                with open(path, "rb") as fh:
                    return self._send_multipart(block, fh)
            return self._send_multipart(block, io.BytesIO(data or b""))
        if path is not None:
            with open(path, "rb") as fh:
                return self._send_upload(block, fh)
        return self._send_upload(block, data)

    def _send_multipart(self, block: dict[str, Any], source: IO[bytes]) -> dict[str, Any]:
        """Each part to its presigned URL (one part in memory at a time), then the completion
        with the parts' ETags."""
        done = []
        for part in block["parts"]:
            chunk = source.read(block["part_size"])
            answer = self._send_upload({"method": "PUT", **part}, chunk)
            done.append((part["part_number"], answer["etag"]))
        body = "".join(
            f'<Part><PartNumber>{n}</PartNumber><ETag>"{etag}"</ETag></Part>' for n, etag in done
        )
        xml = f"<CompleteMultipartUpload>{body}</CompleteMultipartUpload>".encode()
        return self._send_upload({"method": "POST", "url": block["complete_url"]}, xml)

    def _send_upload(self, block: dict[str, Any], body: bytes | IO[bytes] | None) -> dict[str, Any]:
        if "fields" in block:  # a presigned POST: the policy's fields, then the file, last
            request = requests.Request(
                block.get("method", "POST"),
                block["url"],
                headers=dict(block.get("headers", {})),
                data=dict(block["fields"]),
                files={"file": body if body is not None else b""},
            )
        else:
            request = requests.Request(
                block["method"], block["url"], headers=dict(block.get("headers", {})), data=body
            )
        prepared = request.prepare()
        settings = self.session.merge_environment_settings(prepared.url, {}, None, None, None)
        response = self.session.send(prepared, timeout=self.timeout, **settings)
        # S3 may answer a failed CompleteMultipartUpload with 200 and an <Error> document.
        if response.status_code >= 300 or b"<Error>" in response.content[:1024]:
            code, message = _s3_error(response)
            raise IntakeUploadError(
                response.status_code,
                code,
                message,
                request_id=response.headers.get("x-amz-request-id"),
            )
        return {
            "status": response.status_code,
            "etag": response.headers.get("ETag", "").strip('"') or None,
            "version_id": response.headers.get("x-amz-version-id"),
        }

    def get_file(self, file_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/files/{_segment(file_id)}"))

    def list_files(
        self,
        *,
        status: str | None = None,
        import_type: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """One page: {"items": [...], "next_cursor": str | None}."""
        params = {"status": status, "import_type": import_type, "limit": limit, "cursor": cursor}
        return dict(
            self._call("GET", "/files", params={k: v for k, v in params.items() if v is not None})
        )

    def iter_files(
        self,
        *,
        status: str | None = None,
        import_type: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every file, following next_cursor page by page."""
        cursor = None
        while True:
            page = self.list_files(
                status=status, import_type=import_type, limit=page_size, cursor=cursor
            )
            yield from page.get("items", [])
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def request_import(
        self,
        file_id: str,
        *,
        check_only: bool = False,
        on_invalid: str | None = None,
        import_type: str | None = None,
        mapping: dict[str, Any] | None = None,
        profile: str | None = None,
    ) -> dict[str, Any]:
        """POST /files/{file_id}/import: 202 {file_id, status: QUEUED, check_only}. A file
        declared without an import type needs one here."""
        body: dict[str, Any] = {"check_only": check_only}
        optional = {
            "on_invalid": on_invalid,
            "import_type": import_type,
            "mapping": mapping,
            "profile": profile,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return dict(self._call("POST", f"/files/{_segment(file_id)}/import", json=body))

    def wait_for(
        self,
        file_id: str,
        statuses: Collection[str],
        *,
        timeout: float = 60.0,
        interval: float = 0.5,
    ) -> dict[str, Any]:
        """Poll until the file is in one of `statuses`, or in a final state it will not leave
        by itself (then the caller sees it did not get there); IntakeTimeout after `timeout`."""
        wanted = set(statuses)
        deadline = time.monotonic() + timeout
        last: dict[str, Any] | None = None
        while True:
            last = self.get_file(file_id)
            if last["status"] in wanted or last["status"] in FINAL_STATUSES:
                return last
            if time.monotonic() >= deadline:
                raise IntakeTimeout(
                    f"{file_id} still {last['status']} after {timeout:.0f} s "
                    f"(waiting for {', '.join(sorted(wanted))})",
                    last,
                )
            time.sleep(interval)

    # --- profiles --------------------------------------------------------------------------

    def get_profile(self, name: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/profiles/{_segment(name)}"))

    def put_profile(
        self, name: str, *, import_type: str, mapping: dict[str, Any], default: bool = False
    ) -> dict[str, Any]:
        """PUT /profiles/{name}: create or replace a saved mapping."""
        body = {"import_type": import_type, "mapping": mapping, "default": default}
        return dict(self._call("PUT", f"/profiles/{_segment(name)}", json=body))

    # --- catalog ---------------------------------------------------------------------------

    def list_import_types(self) -> list[dict[str, Any]]:
        answer = self._call("GET", "/import-types")
        if isinstance(answer, dict) and "items" in answer:
            return list(answer["items"])
        return list(answer)

    # --- plumbing --------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Accept": "application/json"}
        if self.token:
            token = self.token
            headers["Authorization"] = (
                token if token.lower().startswith("bearer ") else f"Bearer {token}"
            )
        response = self.session.request(
            method, self.base_url + path, headers=headers, timeout=self.timeout, **kwargs
        )
        if response.status_code >= 400:
            raise _api_error(response)
        if not response.content:
            return {}
        return response.json()


def _segment(value: str) -> str:
    return quote(value, safe="")


def _api_error(response: requests.Response) -> IntakeApiError:
    status = response.status_code
    code = _CODE_BY_STATUS.get(status, "http_error")
    message = response.reason or f"HTTP {status}"
    details: list[dict[str, Any]] = []
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        code = str(error.get("code") or code)
        message = str(error.get("message") or message)
        details = list(error.get("details") or [])
    elif isinstance(body, dict) and "message" in body:  # API Gateway's own answers
        message = str(body["message"])
    elif response.text:
        message = response.text[:300]
    return IntakeApiError(
        status, code, message, details, request_id=response.headers.get("apigw-requestid")
    )


def _s3_error(response: requests.Response) -> tuple[str, str]:
    text = response.text or ""
    code = re.search(r"<Code>(.*?)</Code>", text)
    message = re.search(r"<Message>(.*?)</Message>", text)
    return (
        code.group(1) if code else _CODE_BY_STATUS.get(response.status_code, "upload_failed"),
        message.group(1) if message else (response.reason or "upload failed"),
    )
