"""The upload bucket: presigned uploads, object facts, streamed reads and error reports."""

from __future__ import annotations

import base64
import io
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any

import urllib3.exceptions
from botocore.exceptions import BotoCoreError, ClientError

from intake.aws import client
from intake.errors import NotFound
from intake.settings import get_settings


@dataclass(frozen=True)
class PresignedUpload:
    url: str
    headers: dict[str, str]
    expires_at: datetime


@dataclass(frozen=True)
class ObjectFacts:
    size: int
    content_type: str | None
    etag: str
    version_id: str | None
    sha256_b64: str | None  # the checksum S3 verified on upload, when the client sent one
    last_modified: datetime | None = None


def presign_put(
    key: str, *, media_type: str, size: int, sha256_hex: str | None, now: datetime
) -> PresignedUpload:
    """A SigV4 presigned PUT: Content-Type, Content-Length (and the checksum) are signed, so S3
    refuses bytes of another type, size or digest."""
    settings = get_settings()
    params: dict[str, Any] = {
        "Bucket": settings.bucket_name,
        "Key": key,
        "ContentType": media_type,
        "ContentLength": size,
    }
    headers = {"Content-Type": media_type, "Content-Length": str(size)}
    if sha256_hex:
        checksum = base64.b64encode(bytes.fromhex(sha256_hex)).decode()
        params["ChecksumSHA256"] = checksum
        headers["x-amz-checksum-sha256"] = checksum
    url = client("s3").generate_presigned_url(
        "put_object", Params=params, ExpiresIn=settings.upload_url_ttl_seconds, HttpMethod="PUT"
    )
    return PresignedUpload(url, headers, now + timedelta(seconds=settings.upload_url_ttl_seconds))


@dataclass(frozen=True)
class PresignedMultipart:
    parts: list[tuple[int, str, dict[str, str]]]  # (part number, url, headers)
    complete_url: str
    expires_at: datetime


@dataclass(frozen=True)
class UploadedPart:
    """A part S3 holds of a multipart upload in progress (ListParts)."""

    part_number: int
    etag: str
    size: int


def start_multipart(key: str, *, media_type: str) -> str:
    """Start a multipart upload of `key`; its UploadId."""
    settings = get_settings()
    answer = client("s3").create_multipart_upload(
        Bucket=settings.bucket_name, Key=key, ContentType=media_type
    )
    return str(answer["UploadId"])


def presign_parts(
    key: str, *, upload_id: str, parts: Sequence[tuple[int, int]], now: datetime
) -> PresignedMultipart:
    """Presign `parts` ((part number, length): each part's Content-Length is signed, so S3
    refuses a slice of another size) and the completion, so the client sends all the bytes
    straight to S3. Signing is local: no request to S3."""
    settings = get_settings()
    s3 = client("s3")
    ttl = settings.upload_url_ttl_seconds
    presigned = []
    for number, length in parts:
        url = s3.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": settings.bucket_name,
                "Key": key,
                "UploadId": upload_id,
                "PartNumber": number,
                "ContentLength": length,
            },
            ExpiresIn=ttl,
            HttpMethod="PUT",
        )
        presigned.append((number, url, {"Content-Length": str(length)}))
    complete_url = s3.generate_presigned_url(
        "complete_multipart_upload",
        Params={"Bucket": settings.bucket_name, "Key": key, "UploadId": upload_id},
        ExpiresIn=ttl,
        HttpMethod="POST",
    )
    return PresignedMultipart(presigned, complete_url, now + timedelta(seconds=ttl))


def _no_such_upload(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] in ("NoSuchUpload", "404", "NotFound")


def list_parts(key: str, *, upload_id: str) -> list[UploadedPart]:
    """The parts S3 has of the upload, by part number (every page: up to 1,000 a page).

    NotFound when S3 has no such upload in progress: it was completed or aborted."""
    paginator = client("s3").get_paginator("list_parts")
    parts: list[UploadedPart] = []
    try:
        for page in paginator.paginate(
            Bucket=get_settings().bucket_name, Key=key, UploadId=upload_id
        ):
            parts.extend(
                UploadedPart(int(p["PartNumber"]), p["ETag"].strip('"'), int(p["Size"]))
                for p in page.get("Parts", [])
            )
    except ClientError as exc:
        if _no_such_upload(exc):
            raise NotFound(f"no multipart upload {upload_id} in progress for {key}") from None
        raise
    return sorted(parts, key=lambda p: p.part_number)


def abort_multipart(key: str, *, upload_id: str) -> None:
    """Abort the upload; S3 frees its parts. An upload already gone (completed, aborted, or
    cleaned up by the bucket's lifecycle rule) is left as it is."""
    try:
        client("s3").abort_multipart_upload(
            Bucket=get_settings().bucket_name, Key=key, UploadId=upload_id
        )
    except ClientError as exc:
        if not _no_such_upload(exc):
            raise


def head(key: str, *, version_id: str | None = None) -> ObjectFacts:
    """The object's facts; with `version_id`, that version's (a notification names one)."""
    kwargs: dict[str, Any] = {"VersionId": version_id} if version_id else {}
    try:
        meta = client("s3").head_object(
            Bucket=get_settings().bucket_name, Key=key, ChecksumMode="ENABLED", **kwargs
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            raise NotFound(f"object {key} not found") from None
        raise
    return ObjectFacts(
        size=int(meta["ContentLength"]),
        content_type=meta.get("ContentType"),
        etag=meta["ETag"].strip('"'),
        version_id=meta.get("VersionId"),
        sha256_b64=meta.get("ChecksumSHA256"),
        last_modified=meta.get("LastModified"),
    )


def open_stream(
    key: str, *, version_id: str | None = None, byte_range: str | None = None
) -> IO[bytes]:
    """The object's bytes (that version's, given one) as a stream; nothing is read until the
    caller reads."""
    kwargs: dict[str, Any] = {"Bucket": get_settings().bucket_name, "Key": key}
    if version_id:
        kwargs["VersionId"] = version_id
    if byte_range:
        kwargs["Range"] = byte_range
    body = client("s3").get_object(**kwargs)["Body"]
    return body  # type: ignore[no-any-return]


SEEKABLE_BUFFER = 4 * 1024 * 1024


class ObjectReadError(Exception):
    """S3 did not deliver the bytes (no answer after botocore's retries, a read timeout, a
    dropped connection): a later delivery may read them. Deliberately not an OSError: zipfile
    and the archive reader take an OSError from their stream for a corrupt archive, which would
    end the file FAILED (botocore's ReadTimeoutError and ConnectTimeoutError are OSErrors)."""


class RangeReader(io.RawIOBase):
    """An object as a seekable raw stream: each read is one ranged GET of what was asked for.

    Pinned to the ETag seen at open (If-Match), so a replaced object fails the read instead of
    mixing two versions. Wrap it in io.BufferedReader (open_seekable does) so small reads share
    one request per buffer.
    """

    def __init__(self, key: str, *, size: int, etag: str, version_id: str | None = None) -> None:
        self._key = key
        self._version = {"VersionId": version_id} if version_id else {}
        self._size = size
        self._etag = etag
        self._pos = 0
        self.requests = 0  # GETs made (tests and benchmarks look at it)

    @property
    def size(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if target < 0:
            raise OSError(f"negative seek position {target}")
        self._pos = target
        return target

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        wanted = min(len(buffer), self._size - self._pos)
        if wanted <= 0:
            return 0
        try:
            response = client("s3").get_object(
                Bucket=get_settings().bucket_name,
                Key=self._key,
                Range=f"bytes={self._pos}-{self._pos + wanted - 1}",
                IfMatch=f'"{self._etag}"',
                **self._version,
            )
            self.requests += 1
            with response["Body"] as body:  # the raw urllib3 stream
                data = body.read(wanted)
        except (BotoCoreError, urllib3.exceptions.HTTPError) as exc:
            raise ObjectReadError(f"reading {self._key} at byte {self._pos} failed: {exc}") from exc
        n = len(data)
        buffer[:n] = data
        self._pos += n
        return n


def open_seekable(
    key: str, *, version_id: str | None = None, buffer_size: int = SEEKABLE_BUFFER
) -> io.BufferedReader:
    """A seekable, buffered view of the object (that version, given one), what zipfile
    needs, in bounded memory."""
    facts = head(key, version_id=version_id)
    return io.BufferedReader(
        RangeReader(key, size=facts.size, etag=facts.etag, version_id=version_id),
        buffer_size=buffer_size,
    )


def read_head(key: str, size: int, *, version_id: str | None = None) -> bytes:
    """The first `size` bytes (content sniffing)."""
    with open_stream(key, version_id=version_id, byte_range=f"bytes=0-{size - 1}") as stream:
        return stream.read(size)


def upload_file(key: str, fileobj: IO[bytes], *, content_type: str) -> None:
    """Upload with boto3's transfer manager (multipart for large reports)."""
    client("s3").upload_fileobj(
        fileobj, get_settings().bucket_name, key, ExtraArgs={"ContentType": content_type}
    )


class StagedUpload:
    """A plain copy being written to the bucket as it is produced (`staged_upload`)."""

    def __init__(self, sink: IO[bytes]) -> None:
        self._sink = sink
        self.size = 0
        self.version_id: str | None = None  # the object's version, once the upload is done

    def write(self, chunk: bytes) -> None:
        self._sink.write(chunk)
        self.size += len(chunk)


@contextmanager
def staged_upload(key: str) -> Iterator[StagedUpload]:
    """Write an object of unknown size as it is produced, in bounded memory: what is written
    goes through a pipe to boto3's transfer manager (multipart past its threshold) in another
    thread. The object exists, with `version_id` set, once the block exits without error."""
    read_fd, write_fd = os.pipe()
    failure: list[BaseException] = []

    def upload() -> None:
        with os.fdopen(read_fd, "rb") as source:
            try:
                client("s3").upload_fileobj(
                    source, get_settings().bucket_name, key, ExtraArgs={"ContentType": "text/plain"}
                )
            except BaseException as exc:  # handed to the writer's thread below
                failure.append(exc)
                source.read()  # drain, so the writer never blocks on a full pipe

    uploader = threading.Thread(target=upload, name="staged-upload", daemon=True)
    uploader.start()
    staging = StagedUpload(os.fdopen(write_fd, "wb"))
    try:
        yield staging
    finally:
        staging._sink.close()  # end of data: the upload completes (or sees the error)
        uploader.join()
    if failure:
        raise failure[0]
    staging.version_id = head(key).version_id


def presign_get(key: str, *, filename: str) -> str:
    return client("s3").generate_presigned_url(  # type: ignore[no-any-return]
        "get_object",
        Params={
            "Bucket": get_settings().bucket_name,
            "Key": key,
            "ResponseContentDisposition": f'attachment; filename="{filename}"',
        },
        ExpiresIn=get_settings().report_url_ttl_seconds,
    )
