"""`intake-local demo`: the whole flow against a fresh local stack, with the project's client.

Exit status 0 only if every step ended as the README and docs/http-contract.md say it should.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
import traceback
import zipfile
from collections.abc import Callable
from typing import Any

import boto3

from intake_client import IntakeApiError, IntakeClient, IntakeTimeout
from intake_local.stack import FAKE_CREDENTIALS, LocalStack, StackConfig
from intake_local.tokens import ensure_key_pair, issue_token

GOOD_CSV = (
    "external_id,email,first_name,last_name,country,signed_up\n"
    "c-001,ada@example.com,Ada,Lovelace,GB,2024-01-15\n"
    "c-002,alan@example.com,Alan,Turing,GB,2024-02-01\n"
    "c-003,grace@example.com,Grace,Hopper,US,2024-03-09\n"
    "c-004,edsger@example.com,Edsger,Dijkstra,NL,\n"
    "c-005,barbara@example.com,Barbara,Liskov,US,2024-05-30\n"
)
BAD_CSV = (
    "external_id,email,first_name,last_name,country,signed_up\n"
    "b-001,ok@example.com,Okay,Row,FR,2024-01-01\n"
    "b-002,not-an-email,Bad,Email,FR,2024-01-01\n"
    "b-003,third@example.com,,Missing,DE,2024-01-01\n"
    "b-004,fourth@example.com,Wrong,Country,Atlantis,2024-13-45\n"
)
DROP_CSV = (
    "external_id,email,first_name\n"
    "d-001,drop1@example.com,Dropped\n"
    "d-002,drop2@example.com,Also\n"
    "d-003,drop3@example.com,Three\n"
)
DROP_NAME = "partner-drop.csv"
# A partner's own export: its headers, `;`, CRLF, Windows-1252, day-first dates, country
# names, a column nothing reads, a repeated customer id and a country no one has heard of.
PARTNER_CSV = (
    "Kunden-Nr;Customer Id;First Name;Last Name;E-mail;Country;Subscription Date\r\n"
    "1;p-001;Jürgen;Strauß;jurgen@example.de;Germany;14.03.2021\r\n"
    "2;p-002;Søren;Kjærgaard;soren@example.dk;Denmark;05.11.2020\r\n"
    "3;p-003;Françoise;Lefèvre;francoise@example.fr;France;31.12.2022\r\n"
    "4;p-004;José;Peña;jose@example.es;Atlantis;01.02.2023\r\n"
    "5;p-002;Søren;Again;soren.again@example.dk;DNK;06.11.2020\r\n"
).encode("cp1252")
PARTNER_NAME = "partner-export.csv"
# An Open Event export as FOSSASIA's systems write it: members without .json in a top folder,
# dasherized names, nested references, naive times in a legacy zone spelling, speaker photos,
# and one speaker whose e-mail is broken.
EVENT_MEMBERS = {
    "event": {
        "id": 7, "name": "Demo Conf", "starts-at": "2026-06-01T09:00:00",
        "ends-at": "2026-06-02T18:00:00", "timezone": "US / Pacific", "logo": "",
    },
    "tracks": [{"id": 1, "name": "Main", "color": "#1E90FF"}],
    "speakers": [
        {"id": 10, "name": "Ada", "email": "ada@example.com"},
        {"id": 11, "name": "Alan", "email": "alan at example"},
    ],
    "sessions": [
        {"id": 100, "title": "Keynote", "track": {"id": 1, "name": "Main"},
         "speakers": [{"id": 10}, {"id": 11}],
         "starts-at": "2026-06-01T09:30:00", "ends-at": "2026-06-01T10:30:00"},
        {"id": 101, "title": "Closing", "track": {"id": 1}, "speakers": [{"id": 10}],
         "starts-at": "2026-06-02T17:00:00", "ends-at": "2026-06-02T17:45:00"},
    ],
}  # fmt: skip
EVENT_NAME = "democonf-export.zip"
LARGE_NAME = "contacts-large.csv"
MiB = 1024 * 1024
# The demo's stack takes a demo-sized file down the paths a 10 GiB file takes: multipart
# uploads from 5 MiB (S3's smallest part), sharded runs from 2 MiB, in shards of 1 MiB.
DEMO_SETTINGS = {
    "MULTIPART_THRESHOLD_BYTES": str(5 * MiB),
    "MULTIPART_PART_BYTES": str(5 * MiB),
    "SHARD_THRESHOLD_BYTES": str(2 * MiB),
    "SHARD_SIZE_BYTES": str(1 * MiB),
}
WAIT = 60.0


class DemoFailed(Exception):
    pass


class _Interrupted(Exception):
    """The demo's upload stopping half-way, as a dropped connection would stop it."""


class Demo:
    def __init__(self, stack: LocalStack, tenant: str, out: Callable[[str], None]) -> None:
        keys = ensure_key_pair(stack.config.state_dir)
        self.token = issue_token(keys, tenant=tenant, tenant_claim=stack.config.tenant_claim)
        self.client = IntakeClient(stack.api_url, self.token)
        self.stack = stack
        self.tenant = tenant
        self.out = out
        self.step_no = 0
        self.files: dict[str, str] = {}  # label -> file_id

    def step(self, title: str) -> None:
        self.step_no += 1
        self.out(f"\n[{self.step_no}] {title}")

    def say(self, line: str) -> None:
        self.out(f"    {line}")

    def expect(self, condition: bool, what: str) -> None:
        if not condition:
            raise DemoFailed(what)
        self.say(f"ok: {what}")

    def wait(self, file_id: str, status: str) -> dict[str, Any]:
        started = time.monotonic()
        file = self.client.wait_for(file_id, {status}, timeout=WAIT, interval=0.25)
        took = time.monotonic() - started
        self.expect(
            file["status"] == status,
            f"{file_id} is {file['status']} after {took:.1f}s (expected {status})"
            + (f"; reason: {file.get('reason')}" if file["status"] != status else ""),
        )
        return file

    def upload(self, label: str, name: str, data: bytes) -> str:
        declared = self.client.declare_file(
            name=name, media_type="text/csv", size=len(data), import_type="contacts"
        )
        file_id = str(declared["file_id"])
        self.files[label] = file_id
        upload = declared["upload"]
        self.say(
            f"declared {name} ({len(data)} bytes) -> {file_id}, {declared['status']}; "
            f"upload: {upload['method']} {upload['url'].split('?')[0]} "
            f"with headers {sorted(upload.get('headers', {}))}"
        )
        result = self.client.upload(declared, data)
        self.say(f"sent the bytes straight to S3: HTTP {result['status']}")
        self.wait(file_id, "UPLOADED")
        return file_id

    def run(self) -> None:
        self.step("GET /import-types")
        types = self.client.list_import_types()
        names = [t["name"] for t in types]
        self.expect("contacts" in names, f"import types: {', '.join(names)}")

        self.step("A good contacts CSV: declare, upload, validate, import")
        good = self.upload("good", "contacts-good.csv", GOOD_CSV.encode())
        accepted = self.client.request_import(good, check_only=True)
        self.say(f"POST /files/{good}/import check_only=true -> {accepted['status']}")
        validated = self.wait(good, "VALIDATED")
        self.say(f"result: {validated.get('result')}")
        accepted = self.client.request_import(good)
        self.say(f"POST /files/{good}/import -> {accepted['status']}")
        done = self.wait(good, "SUCCEEDED")
        result = done.get("result") or {}
        rows = GOOD_CSV.count("\n") - 1
        self.expect(
            result.get("rows_total") == rows and result.get("rows_written") == rows,
            f"rows_total={result.get('rows_total')} rows_written={result.get('rows_written')} "
            f"(expected {rows})",
        )

        self.step("A CSV with bad rows: import fails with located errors")
        bad = self.upload("bad", "contacts-bad.csv", BAD_CSV.encode())
        self.client.request_import(bad)
        failed = self.wait(bad, "FAILED")
        errors = failed.get("errors") or []
        self.say(f"result: {failed.get('result')}  reason: {failed.get('reason')}")
        self.say(f"{'line':>5}  {'field':<12} {'code':<18} message")
        for err in errors:
            self.say(
                f"{err.get('line')!s:>5}  {err.get('field')!s:<12} {err.get('code')!s:<18} "
                f"{err.get('message')}"
            )
        self.expect(
            bool(errors) and all(isinstance(e.get("line"), int) for e in errors),
            f"{len(errors)} errors, each with its line number",
        )
        self.expect(
            {e["line"] for e in errors} >= {3, 4, 5},
            "errors on lines 3, 4 and 5 (the header is line 1)",
        )

        self.step(f"A file dropped at drop/{self.tenant}/contacts/{DROP_NAME} (no API call)")
        s3 = boto3.session.Session(
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name="us-east-1",
        ).client("s3", endpoint_url=self.stack.aws_endpoint)
        assert self.stack.resources is not None
        key = f"drop/{self.tenant}/contacts/{DROP_NAME}"
        s3.put_object(
            Bucket=self.stack.resources.names.bucket,
            Key=key,
            Body=DROP_CSV.encode(),
            ContentType="text/csv",
        )
        self.say(f"put s3://{self.stack.resources.names.bucket}/{key}")
        dropped = self.find_dropped()
        self.files["drop"] = dropped["file_id"]
        self.say(f"GET /files found it: {dropped['file_id']} ({dropped.get('origin')})")
        done = self.wait(dropped["file_id"], "SUCCEEDED")
        written = (done.get("result") or {}).get("rows_written")
        self.expect(written == 3, f"rows_written={written} (expected 3)")

        self.partner_file()
        self.event_export()
        self.large_file()

        self.step("Final states (GET /files)")
        for item in self.client.iter_files():
            result = item.get("result") or {}
            self.say(
                f"{item['file_id']}  {item['name']:<20} {item['status']:<10} "
                f"rows {result.get('rows_written', '-')}/{result.get('rows_total', '-')}"
                f"  errors {len(item.get('errors') or [])}"
            )

    def partner_file(self) -> None:
        self.step(f"A partner's own export ({PARTNER_NAME}: ;, Windows-1252, DD.MM.YYYY)")
        declared = self.client.declare_file(
            name=PARTNER_NAME, media_type="text/csv", size=len(PARTNER_CSV)
        )
        file_id = str(declared["file_id"])
        self.files["partner"] = file_id
        self.client.upload(declared, PARTNER_CSV)
        self.say(f"declared without an import type and uploaded -> {file_id}")
        analysed = self.wait(file_id, "UPLOADED")
        top = ((analysed.get("analysis") or {}).get("suggestions") or [{}])[0]
        self.say(f"analysis: {top.get('import_type')} (score {top.get('score')})")
        self.say(f"suggested mapping: {top.get('mapping')}")
        self.expect(
            top.get("import_type") == "contacts" and not top.get("missing"),
            "contacts is the top suggestion and covers every required field",
        )
        self.client.put_profile(
            "partner-eu", import_type="contacts", mapping=top["mapping"], default=True
        )
        self.say("saved it: PUT /profiles/partner-eu (the tenant's default for contacts)")
        self.client.request_import(
            file_id, import_type="contacts", profile="partner-eu", on_invalid="skip"
        )
        done = self.wait(file_id, "SUCCEEDED")
        result = done.get("result") or {}
        unused = [c["header"] for c in (result.get("columns") or {}).get("unused", [])]
        self.say(
            f"rows {result.get('rows_written')}/{result.get('rows_total')} written; "
            f"columns nothing used: {unused}"
        )
        for err in done.get("errors") or []:
            where = f"line {err.get('line')}: {err.get('field')}"
            self.say(f"{where} {err.get('code')}: {err.get('message')}")
        codes = sorted((e.get("line"), e.get("code")) for e in done.get("errors") or [])
        self.expect(
            result.get("rows_written") == 3
            and codes == [(5, "invalid_country"), (6, "duplicate_key")],
            "3 rows written; the unknown country and the repeated id reported at their lines",
        )

    def event_export(self) -> None:
        self.step(f"An Open Event export ({EVENT_NAME}) with one broken speaker, on_invalid=skip")
        data = _event_zip()
        declared = self.client.declare_file(
            name=EVENT_NAME,
            media_type="application/zip",
            size=len(data),
            import_type="event",
            on_invalid="skip",
            auto_import=True,
        )
        file_id = str(declared["file_id"])
        self.files["event"] = file_id
        self.client.upload(declared, data)
        self.say(f"declared and uploaded -> {file_id} (auto_import)")
        done = self.wait(file_id, "SUCCEEDED")
        result = done.get("result") or {}
        self.say(f"written per entity: {result.get('entities')}")
        self.say(f"left out per entity: {result.get('left_out')}; skipped: {result.get('skipped')}")
        for kind in ("errors", "warnings"):
            for item in done.get(kind) or []:
                where = f"{item.get('file')} line {item.get('line')}: {item.get('field')}"
                self.say(f"{kind[:-1]:<7} {where} {item.get('code')}: {item.get('message')}")
        codes = sorted(w.get("code") for w in done.get("warnings") or [])
        self.expect(
            (result.get("left_out") or {}).get("speakers") == 1
            and (result.get("entities") or {}).get("sessions") == 2
            and codes == ["reference_dropped", "timezone_normalised"],
            "the broken speaker left out and the reference to it dropped; US / Pacific read "
            "as US/Pacific; both sessions written",
        )

    def large_file(self) -> None:
        self.step(f"A large file ({LARGE_NAME}): a multipart upload resumed, a sharded run")
        data, bad_lines, valid = _large_csv()
        declared = self.client.declare_file(
            name=LARGE_NAME,
            media_type="text/csv",
            size=len(data),
            import_type="contacts",
            on_invalid="skip",
        )
        file_id = str(declared["file_id"])
        self.files["large"] = file_id
        upload = declared["upload"]
        self.expect(
            upload["method"] == "MULTIPART",
            f"{len(data):,} bytes: MULTIPART, {len(upload['parts'])} parts of "
            f"{upload['part_size']:,} bytes (multipart from 5 MiB in the demo's stack)",
        )
        sent: list[int] = []

        def stop_after_one(n: int) -> None:
            sent.append(n)
            if len(sent) == 1:
                raise _Interrupted

        try:
            self.client.upload(declared, data, on_sent=stop_after_one, workers=1)
        except _Interrupted:
            pass
        again = self.client.upload_block(file_id)["upload"]
        have = [p["part_number"] for p in again.get("uploaded") or []]
        rest = [p["part_number"] for p in again["parts"]]
        self.expect(
            have == [1] and rest == list(range(2, len(upload["parts"]) + 1)),
            f"stopped after part 1: GET /files/{file_id}/upload says S3 has parts {have}, "
            f"and signs {rest} afresh",
        )
        self.client.resume_upload(file_id, data)
        self.say("resumed: sent the missing parts and completed the upload")
        self.wait(file_id, "UPLOADED")

        self.client.request_import(file_id, check_only=True)
        seen: set[str] = set()

        def shards(file: dict[str, Any]) -> None:
            progress = file.get("progress") or {}
            if progress.get("shards"):
                seen.add(f"{progress['shards']['done']}/{progress['shards']['total']}")

        failed = self.client.wait_for(
            file_id, {"FAILED"}, timeout=WAIT, interval=0.1, on_poll=shards
        )
        result = failed.get("result") or {}
        lines = [e.get("line") for e in failed.get("errors") or []]
        self.say(
            f"validated in {result.get('shards')} shards (progress seen: "
            f"{', '.join(sorted(seen, key=lambda x: int(x.split('/')[0]))) or 'none'}): "
            f"{failed['status']}, {result.get('rows_invalid')} of {result.get('rows_total')} "
            f"rows invalid, at lines {lines[:5]}..."
        )
        self.expect(
            failed["status"] == "FAILED"
            and (result.get("shards") or 0) > 1
            and lines == bad_lines[:100]
            and result.get("rows_invalid") == len(bad_lines),
            "cut into shards at record boundaries (quoted line breaks too), every bad row "
            "reported at its line in the file",
        )
        self.client.request_import(file_id)
        done = self.wait(file_id, "SUCCEEDED")
        written = (done.get("result") or {}).get("rows_written")
        self.expect(written == valid, f"on_invalid=skip: rows_written={written:,} (the valid rows)")

    def find_dropped(self) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            for item in self.client.iter_files(import_type="contacts"):
                if item["name"] == DROP_NAME or item["name"].endswith("/" + DROP_NAME):
                    return item
            time.sleep(0.25)
        raise DemoFailed(f"no file named {DROP_NAME} appeared in GET /files within {WAIT:.0f}s")


def _large_csv(rows: int = 100_000) -> tuple[bytes, list[int], int]:
    """About 5.3 MB of contacts (two 5 MiB parts; 1 MiB shards), CRLF: a bad e-mail
    every 997 rows and a quoted line break in a name every 499, so every shard has bad rows
    and records run across cuts. Returns the bytes, the lines of the bad rows (a quoted break
    makes a record two lines), the valid rows."""
    out = ["external_id,email,first_name,last_name,country"]
    bad: list[int] = []
    line = 1
    for i in range(1, rows + 1):
        line += 1
        email = f"person{i}@example.com" if i % 997 else f"person{i} at example.com"
        first = f"First {i}" if i % 499 else f'"First\r\n{i}"'
        if not i % 997:
            bad.append(line)
        if not i % 499:
            line += 1
        out.append(f"l-{i},{email},{first},Last,GB")
    data = ("\r\n".join(out) + "\r\n").encode()
    return data, bad, rows - len(bad)


def _event_zip() -> bytes:
    """The export as its ZIP: the members under one folder, with a few speaker photos."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, value in EVENT_MEMBERS.items():
            archive.writestr(f"democonf/{name}", json.dumps(value, indent=2))
        for photo in ("ada.jpg", "alan.jpg"):
            archive.writestr(f"democonf/images/speakers/{photo}", b"\xff\xd8 not a real photo")
    return out.getvalue()


def run_demo(config: StackConfig, *, tenant: str = "acme") -> int:
    out_stream = sys.stdout

    def out(line: str) -> None:
        print(line, file=out_stream, flush=True)

    def stack_console(line: str) -> None:
        # The gateway's access log, minus the polling GETs; the worker's batches.
        if not line.lstrip().startswith("GET "):
            out("      " + line.strip())

    out("Intake demo: starting a local stack on free ports...")
    os.environ.update(DEMO_SETTINGS)  # read by the functions, which run in this process
    try:
        with LocalStack(config, console=stack_console) as stack:
            out(f"API {stack.api_url}  AWS {stack.aws_endpoint}  logs {config.log_dir}")
            demo = Demo(stack, tenant, out)
            try:
                demo.run()
            except DemoFailed as exc:
                out(f"\nDEMO FAILED: {exc}")
                logs = config.log_dir
                out(f"(handler logs: {logs}/functions.log, {logs}/local-stack.log)")
                return 1
            except IntakeApiError as exc:
                out(f"\nDEMO FAILED: the API said {exc}; details: {exc.details}")
                return 1
            except IntakeTimeout as exc:
                out(f"\nDEMO FAILED: {exc}")
                return 1
            except Exception:
                out("\nDEMO FAILED with an unexpected error:\n" + traceback.format_exc())
                return 1
    except Exception as exc:
        out(f"DEMO FAILED: the local stack did not start: {exc}")
        return 1
    out("\nDemo passed: every step ended as expected. The stack is stopped.")
    return 0
