"""IntakeClient: declare, upload straight to S3, import, watch.

client = IntakeClient("http://127.0.0.1:8080", token)
declared = client.declare_path("contacts.csv", import_type="contacts")
client.upload(declared, path="contacts.csv")      # multipart: 4 parts at a time
# interrupted? client.resume_upload(declared["file_id"], path="contacts.csv")
client.wait_for(declared["file_id"], {"UPLOADED"})
client.request_import(declared["file_id"])
done = client.wait_for(declared["file_id"], {"SUCCEEDED"})
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
import threading
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import requests

from intake_client.errors import IntakeApiError, IntakeTimeout, IntakeUploadError

# Parts of a multipart upload in flight at once: each holds one part (16 MiB by default) in
# memory, and four keep a home uplink busy without S3 throttling a prefix (3,500 PUT/s).
UPLOAD_WORKERS = 4

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
    # Excel's "Text (Tab delimited)" and "Unicode Text" exports are .txt: tab-separated rows
    # (UTF-16 for the latter), which Intake's CSV reader takes by its sniffed delimiter and BOM.
    ".txt": "text/csv",
}
# Text formats Intake also reads gzipped (a ZIP or a workbook is compressed already).
_GZIPPED_TYPES = frozenset({"text/csv", "application/json", "application/x-ndjson"})

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
    """The media type a file's extension says. A gzipped text file is declared as what it
    holds (`a.jsonl.gz` is application/x-ndjson): Intake finds gzip by its bytes."""
    name = Path(path).name.lower()
    inner = name.removesuffix(".gz")
    media_type = _MEDIA_TYPES.get(Path(inner).suffix)
    if media_type and (inner == name or media_type in _GZIPPED_TYPES):
        return media_type
    guessed, encoding = mimetypes.guess_type(str(path))
    # A gzip of anything else (`a.zip.gz`) is nothing Intake reads: refused at declaration.
    return guessed if guessed and not encoding else "application/octet-stream"


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


class _Source:
    """The bytes to upload, read by offset from any thread: a bytes object, or a file opened
    per read (so parallel parts never share a file position)."""

    def __init__(self, *, data: bytes | None, path: str | os.PathLike[str] | None) -> None:
        self._data = memoryview(data) if data is not None else None
        self._path = path

    def read(self, offset: int, length: int) -> bytes:
        if self._data is not None:
            return bytes(self._data[offset : offset + length])
        assert self._path is not None
        with open(self._path, "rb") as fh:
            fh.seek(offset)
            return fh.read(length)


class _SignedParts:
    """A multipart block's URLs, signed again (once, for every sender) when they are within
    REFRESH_MARGIN of `expires_at` and a refresh is possible."""

    REFRESH_MARGIN = timedelta(minutes=1)

    def __init__(self, block: dict[str, Any], refresh: Callable[[], dict[str, Any]] | None) -> None:
        self._lock = threading.Lock()
        self._refresh = refresh
        self._take(block)

    def _take(self, block: dict[str, Any]) -> None:
        self._parts = {int(p["part_number"]): p for p in block.get("parts") or []}
        self._complete_url = str(block["complete_url"])
        self._expires_at = datetime.fromisoformat(str(block["expires_at"]).replace("Z", "+00:00"))

    def _fresh(self) -> None:
        with self._lock:
            if (
                self._refresh is not None
                and datetime.now(UTC) >= self._expires_at - self.REFRESH_MARGIN
            ):
                self._take(self._refresh())

    def part(self, number: int) -> dict[str, Any]:
        self._fresh()
        with self._lock:
            return self._parts[number]

    def complete_url(self) -> str:
        self._fresh()
        return self._complete_url


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
        on_sent: Callable[[int], None] | None = None,
        workers: int = UPLOAD_WORKERS,
    ) -> dict[str, Any]:
        """Send the bytes to S3 with exactly the declared upload block (never via the API).

        Only the block's headers go out: no Authorization, nothing from the session's
        default headers. A MULTIPART block's parts go `workers` at a time; the parts in its
        `uploaded` list (GET /files/{file_id}/upload answers one) are not sent again.
        `on_sent(n)` is called as each part's n bytes (or the PUT's) have been sent.
        """
        if (data is None) == (path is None):
            raise ValueError("give exactly one of data or path")
        block = declared["upload"]
        if block["method"] == "MULTIPART":
            source = _Source(data=data, path=path)
            file_id = declared.get("file_id")
            refresh = (lambda: self.upload_block(file_id)["upload"]) if file_id else None
            return self._send_multipart(
                block, source, on_sent=on_sent, workers=workers, refresh=refresh
            )
        if path is not None:
            with open(path, "rb") as fh:
                answer = self._send_upload(block, fh)
        else:
            answer = self._send_upload(block, data)
        if on_sent is not None:
            on_sent(int(block.get("headers", {}).get("Content-Length") or len(data or b"")))
        return answer

    def upload_block(self, file_id: str) -> dict[str, Any]:
        """GET /files/{file_id}/upload: the upload block of a file still PENDING_UPLOAD,
        signed afresh (for MULTIPART: `parts` still to send, `uploaded` the parts S3 has)."""
        return dict(self._call("GET", f"/files/{_segment(file_id)}/upload"))

    def resume_upload(
        self,
        file_id: str,
        data: bytes | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        on_sent: Callable[[int], None] | None = None,
        workers: int = UPLOAD_WORKERS,
    ) -> dict[str, Any]:
        """Continue an interrupted upload: only the parts S3 does not have are sent, then the
        upload is completed. Give the same bytes as declared."""
        return self.upload(
            self.upload_block(file_id), data, path=path, on_sent=on_sent, workers=workers
        )

    def abort_upload(self, file_id: str) -> None:
        """DELETE /files/{file_id}/upload: S3 drops the parts sent so far; the file is EXPIRED."""
        self._call("DELETE", f"/files/{_segment(file_id)}/upload")

    def _send_multipart(
        self,
        block: dict[str, Any],
        source: _Source,
        *,
        on_sent: Callable[[int], None] | None,
        workers: int,
        refresh: Callable[[], dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """The parts still to send, `workers` at a time (each worker holds one part in
        memory), then the completion with every part's ETag, those sent before included.

        URLs last 15 minutes and a large upload takes longer: when they are about to expire,
        `refresh` (GET /files/{file_id}/upload) signs the rest again."""
        part_size = int(block["part_size"])
        etags = {int(p["part_number"]): str(p["etag"]) for p in block.get("uploaded") or []}
        signed = _SignedParts(block, refresh)

        failed = threading.Event()  # once a part fails, the parts not started stay unsent

        def send(part: dict[str, Any]) -> tuple[int, str] | None:
            if failed.is_set():
                return None
            try:
                number = int(part["part_number"])
                offset = (number - 1) * part_size
                length = int(part.get("headers", {}).get("Content-Length") or part_size)
                fresh = signed.part(number)
                answer = self._send_upload({"method": "PUT", **fresh}, source.read(offset, length))
                if on_sent is not None:
                    on_sent(length)
            except BaseException:
                failed.set()
                raise
            return number, str(answer["etag"])

        parts = list(block.get("parts") or [])
        if parts:
            with ThreadPoolExecutor(max_workers=max(1, min(workers, len(parts)))) as pool:
                # The first failure is raised once the parts in flight have ended; what S3
                # got is kept, and GET /files/{file_id}/upload resumes from there.
                for done in pool.map(send, parts):
                    if done is not None:
                        etags[done[0]] = done[1]
        body = "".join(
            f'<Part><PartNumber>{n}</PartNumber><ETag>"{etag}"</ETag></Part>'
            for n, etag in sorted(etags.items())
        )
        xml = f"<CompleteMultipartUpload>{body}</CompleteMultipartUpload>".encode()
        return self._send_upload({"method": "POST", "url": signed.complete_url()}, xml)

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
        on_poll: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the file is in one of `statuses`, or in a final state it will not leave
        by itself (then the caller sees it did not get there); IntakeTimeout after `timeout`.
        `on_poll` sees the file each time it is read (e.g. to show its progress)."""
        wanted = set(statuses)
        deadline = time.monotonic() + timeout
        last: dict[str, Any] | None = None
        while True:
            last = self.get_file(file_id)
            if on_poll is not None:
                on_poll(last)
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
