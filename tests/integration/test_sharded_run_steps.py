"""A sharded run through its handlers on moto: the worker hands a large file's run to the state
machine, and the steps (shard_plan, shard_run, shard_finish), invoked as the state machine
invokes them, end it exactly as one invocation would; progress counts shards; a stopped
execution fails the file redrivably, and a redrive finishes only what did not report.

The state machine itself runs on moto in tests/integration/test_local_state_machine.py and in
the e2e suite; here each step is called directly, so a test can stop between any two."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
import requests
from boto3.dynamodb.conditions import Attr

from intake.ingest.shards import plan_csv
from intake.settings import get_settings
from intake_local.resources import Resources
from tests.integration.conftest import (
    Drain,
    Invoke,
    declare_and_upload,
    lambda_context,
    load_handler,
)

ROWS = 6000
SHARD_SIZE = 64 * 1024  # the setting's minimum


def _csv() -> bytes:
    """Contacts with bad rows spread over the file (every shard has some) and quoted line
    breaks, CRLF line ends and a BOM, as a spreadsheet export writes them."""
    lines = ["external_id,email,first_name,country"]
    for i in range(1, ROWS + 1):
        email, first, country = f"p{i}@example.com", f"Person {i}", "GB"
        if i % 97 == 0:
            email = "not-an-email"
        if i % 89 == 0:
            first = f'"Person {i}\r\nsecond line"'
        if i % 331 == 0:
            country = "Atlantis"
        lines.append(f"c-{i},{email},{first},{country}")
    return b"\xef\xbb\xbf" + ("\r\n".join(lines) + "\r\n").encode()


CSV = _csv()
SHARDS = len(plan_csv(io.BytesIO(CSV), shard_size=SHARD_SIZE))  # 4 of the ~240 KB file


@pytest.fixture(scope="module")
def steps() -> dict[str, ModuleType]:
    return {name: load_handler(name) for name in ("shard_plan", "shard_run", "shard_finish")}


@pytest.fixture
def sharding(aws: Resources, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Sharding on for anything over 100 bytes, with a state machine to hand runs to (its
    definition does not matter here: the test runs the steps itself)."""
    sfn = boto3.client("stepfunctions")
    arn = sfn.create_state_machine(
        name="intake-test-sharded-runs",
        definition=json.dumps(
            {"StartAt": "Wait", "States": {"Wait": {"Type": "Pass", "End": True}}}
        ),
        roleArn="arn:aws:iam::123456789012:role/intake-test",
    )["stateMachineArn"]
    monkeypatch.setenv("SHARDED_RUNS_STATE_MACHINE_ARN", arn)
    monkeypatch.setenv("SHARD_THRESHOLD_BYTES", "100")
    monkeypatch.setenv("SHARD_SIZE_BYTES", str(SHARD_SIZE))
    get_settings.cache_clear()
    yield arn
    get_settings.cache_clear()


def _import(
    api: Invoke,
    drain: Drain,
    body: bytes,
    name: str = "people.csv",
    media_type: str = "text/csv",
    **request: Any,
) -> str:
    file_id = declare_and_upload(api, body, name=name, media_type=media_type)
    assert drain()["failures"] == []  # the upload check
    status, _ = api("POST", f"/files/{file_id}/import", body=request)
    assert status == 202
    assert drain()["failures"] == []  # the worker claims the run and hands it over
    return file_id


LONG_ROWS = 20000


def _import_in_long_shards(
    api: Invoke, drain: Drain, monkeypatch: pytest.MonkeyPatch, **request: Any
) -> str:
    """A clean file of LONG_ROWS rows in shards of about 8,000 rows: long enough for a shard
    to report progress (every 5,000 rows) while it reads."""
    monkeypatch.setenv("SHARD_SIZE_BYTES", str(256 * 1024))
    get_settings.cache_clear()
    body = b"external_id,email,first_name\n" + b"".join(
        f"c-{i},p{i}@example.com,P{i}\n".encode() for i in range(LONG_ROWS)
    )
    return _import(api, drain, body, **request)


def _file(api: Invoke, file_id: str) -> dict[str, Any]:
    status, body = api("GET", f"/files/{file_id}")
    assert status == 200
    return dict(body)


class Machine:
    """The state machine's loop, step by step: plan, then per phase every shard and finish."""

    def __init__(self, steps: dict[str, ModuleType], file_id: str, run: int = 1) -> None:
        self.steps = steps
        self.ref = {"tenant": "acme", "file_id": file_id, "run": run}
        self.plan: dict[str, Any] = {}

    def call(self, step: str, event: dict[str, Any]) -> Any:
        return self.steps[step].lambda_handler(json.loads(json.dumps(event)), lambda_context())

    def start(self) -> str:
        self.plan = self.call("shard_plan", self.ref)
        return str(self.plan["phase"])

    def shard(self, phase: str, index: int) -> Any:
        item = self.plan["shards"][index]
        return self.call(
            "shard_run",
            {**self.ref, "phase": phase, "object": self.plan["object"], "shard": item},
        )

    def finish(self, phase: str) -> str | None:
        event = {**self.ref, "phase": phase, "shard_count": len(self.plan["shards"])}
        return self.call("shard_finish", event)["phase"]  # type: ignore[no-any-return]

    def run(self, between: Callable[[str, int], None] = lambda phase, i: None) -> None:
        phase: str | None = self.start()
        while phase is not None:
            for index in range(len(self.plan["shards"])):
                self.shard(phase, index)
                between(phase, index)
            phase = self.finish(phase)


def _one_invocation(
    api: Invoke, drain: Drain, monkeypatch: pytest.MonkeyPatch, body: bytes, **request: Any
) -> dict[str, Any]:
    """The same file and request, run in one invocation (sharding off)."""
    monkeypatch.setenv("SHARD_THRESHOLD_BYTES", str(10 * len(body)))
    get_settings.cache_clear()
    file_id = _import(api, drain, body, **request)
    monkeypatch.setenv("SHARD_THRESHOLD_BYTES", "100")
    get_settings.cache_clear()
    return _file(api, file_id)


def _records(aws: Resources, file_id: str) -> int:
    """Records in the records table last written by the file's runs."""
    table = boto3.resource("dynamodb").Table(aws.names.records_table)
    return sum(page["Count"] for page in _pages(table, file_id))


def _pages(table: Any, file_id: str) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {"Select": "COUNT", "FilterExpression": Attr("file_id").eq(file_id)}
    while True:
        page = table.scan(**kwargs)
        yield page
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _same_run(sharded: dict[str, Any], whole: dict[str, Any]) -> None:
    """What the user sees of the two runs is the same, but for result.shards."""
    assert sharded["status"] == whole["status"]
    assert sharded.get("reason") == whole.get("reason")
    result = dict(sharded["result"])
    assert result.pop("shards") == SHARDS > 2
    assert result == whole["result"]
    assert sharded["errors"] == whole["errors"]
    assert sharded["progress"]["done"] == sharded["progress"]["total"] == len(CSV)


@pytest.mark.parametrize(
    ("request_body", "status"),
    [
        ({"check_only": True}, "FAILED"),
        ({"on_invalid": "fail"}, "FAILED"),
        ({"on_invalid": "skip"}, "SUCCEEDED"),
    ],
    ids=["check_only", "fail", "skip"],
)
def test_a_sharded_run_ends_as_one_invocation_does(
    aws: Resources,
    api: Invoke,
    drain: Drain,
    steps: dict[str, ModuleType],
    sharding: str,
    monkeypatch: pytest.MonkeyPatch,
    request_body: dict[str, Any],
    status: str,
) -> None:
    whole = _one_invocation(api, drain, monkeypatch, CSV, **request_body)
    assert whole["status"] == status and whole["result"]["rows_invalid"] > 0

    file_id = _import(api, drain, CSV, **request_body)
    handed = _file(api, file_id)
    assert handed["status"] == "PROCESSING"
    executions = boto3.client("stepfunctions").list_executions(stateMachineArn=sharding)
    [execution] = executions["executions"]
    assert execution["name"] == f"{file_id}-run-1"

    Machine(steps, file_id).run()

    sharded = _file(api, file_id)
    _same_run(sharded, whole)
    written = _records(aws, file_id)
    assert written == sharded["result"]["rows_written"]
    if request_body.get("on_invalid") == "skip":
        assert written == whole["result"]["rows_valid"]
    else:
        assert written == 0
    # The full report lists the same lines.
    assert sharded["error_report_url"] and whole["error_report_url"]


def test_a_redelivered_message_leaves_a_handed_over_run_alone(
    aws: Resources, api: Invoke, drain: Drain, steps: dict[str, ModuleType], sharding: str
) -> None:
    file_id = _import(api, drain, CSV, on_invalid="skip")
    boto3.client("sqs").send_message(
        QueueUrl=aws.queue_url,
        MessageBody=json.dumps(
            {
                "kind": "intake.import",
                "tenant": "acme",
                "file_id": file_id,
                "run": 1,
                "check_only": False,
                "on_invalid": "skip",
            }
        ),
    )
    assert drain()["failures"] == []  # nothing to do: not a retry, not a second execution
    executions = boto3.client("stepfunctions").list_executions(stateMachineArn=sharding)
    assert len(executions["executions"]) == 1
    assert _file(api, file_id)["status"] == "PROCESSING"


def test_progress_counts_the_shards_of_the_current_pass(
    api: Invoke, drain: Drain, steps: dict[str, ModuleType], sharding: str
) -> None:
    file_id = _import(api, drain, CSV, on_invalid="fail")
    seen: list[tuple[str, dict[str, Any]]] = []

    def look(phase: str, index: int) -> None:
        seen.append((phase, _file(api, file_id)["progress"]))

    machine = Machine(steps, file_id)
    machine.run(between=look)
    # on_invalid=fail: validate (which finds errors) is the only pass, one shard at a time.
    assert [p["shards"] for _, p in seen] == [
        {"done": i, "total": SHARDS} for i in range(1, SHARDS + 1)
    ]
    assert [p["done"] for _, p in seen] == sorted(p["done"] for _, p in seen)
    assert seen[-1][1]["done"] == len(CSV) - _header_bytes()
    assert "shards" not in _file(api, file_id)["progress"]  # finished: bytes only


def test_a_file_run_in_one_shard_shows_the_bytes_it_has_read(
    api: Invoke,
    drain: Drain,
    steps: dict[str, ModuleType],
    sharding: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A UTF-16 CSV cannot be cut: its one shard reads the whole file, and the bar moves as
    it reads (as a one-invocation run's does), not from 0 straight to the end."""
    from intake.dal import file_repository
    from intake.ingest import shards
    from intake.logic import run_steps

    body = "\ufeffexternal_id,email,first_name\r\n" + "".join(
        f"c-{i},p{i}@example.com,P{i}\r\n" for i in range(30000)
    )
    utf16 = body.encode("utf-16-le")
    file_id = _import(api, drain, utf16, check_only=True)
    machine = Machine(steps, file_id)
    phase = machine.start()
    assert len(machine.plan["shards"]) == 1
    shown: list[dict[str, Any]] = []
    hold = file_repository.hold_sharded_run

    def watched(*args: Any, **kwargs: Any) -> Any:
        held = hold(*args, **kwargs)
        assert held.progress is not None
        shown.append(held.progress.model_dump(exclude_none=True))
        return held

    monkeypatch.setattr(run_steps, "PROGRESS_INTERVAL_SECONDS", 0.0)
    monkeypatch.setattr(shards, "CHUNK_SIZE", 64 * 1024)  # 4 MiB reads: 2 for this 2 MB file
    monkeypatch.setattr(file_repository, "hold_sharded_run", watched)
    machine.shard(phase, 0)
    done = [p["done"] for p in shown]
    assert {p["total"] for p in shown} == {len(utf16)}
    assert done == sorted(done)
    assert len({d for d in done if 0 < d < len(utf16)}) > 2  # moving while it read
    assert _file(api, file_id)["progress"]["done"] == len(utf16)  # reported: all of it
    assert machine.finish(phase) is None
    assert _file(api, file_id)["progress"] == {
        "done": len(utf16),
        "total": len(utf16),
        "unit": "bytes",
    }


def _header_bytes() -> int:
    """Shards hold the rows; the header is read with each but counted with none."""
    return CSV.index(b"\r\n") + 2


def test_a_clean_file_makes_both_passes_and_writes_every_row(
    aws: Resources, api: Invoke, drain: Drain, steps: dict[str, ModuleType], sharding: str
) -> None:
    clean = b"external_id,email,first_name\n" + b"".join(
        f"c-{i},p{i}@example.com,P{i}\n".encode() for i in range(8000)
    )
    file_id = _import(api, drain, clean, on_invalid="fail")
    machine = Machine(steps, file_id)
    phases: list[str] = []
    machine.run(between=lambda phase, i: phases.append(phase))
    shards = len(machine.plan["shards"])
    assert shards > 2
    assert phases == ["validate"] * shards + ["write"] * shards
    done = _file(api, file_id)
    assert done["status"] == "SUCCEEDED"
    assert done["result"]["rows_written"] == 8000 == _records(aws, file_id)


def test_a_gzip_upload_is_inflated_once_and_cut(
    aws: Resources,
    api: Invoke,
    drain: Drain,
    steps: dict[str, ModuleType],
    sharding: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    whole = _one_invocation(api, drain, monkeypatch, CSV, check_only=True)
    file_id = _import(api, drain, gzip.compress(CSV), name="people.csv.gz", check_only=True)
    machine = Machine(steps, file_id)
    machine.run()
    assert machine.plan["object"]["key"] == f"staging/acme/{file_id}/run-1/plain"
    staged = (
        boto3.client("s3")
        .get_object(
            Bucket=aws.names.bucket,
            Key=machine.plan["object"]["key"],
            VersionId=machine.plan["object"]["version_id"],
        )["Body"]
        .read()
    )
    assert staged == CSV
    sharded = _file(api, file_id)
    assert sharded["status"] == whole["status"] == "FAILED"
    assert sharded["errors"] == whole["errors"]
    assert sharded["result"]["rows_invalid"] == whole["result"]["rows_invalid"]


def _export_zip() -> bytes:
    """A partner's export as a ZIP of three files of contacts, each with its own header: a
    CSV export (BOM, CRLF, quoted line breaks, bad e-mails), a JSON Lines file (an unknown
    country, a broken line, a key the CSV has) and a `;` CSV repeating a key of its own."""
    members = {
        "export/people.csv": CSV,
        "export/more.jsonl": b"".join(
            json.dumps(
                {"external_id": f"j-{i}", "email": f"j{i}@example.com", "first_name": f"J {i}"}
                | ({"country": "Atlantis"} if i % 331 == 0 else {})
            ).encode()
            + b"\n"
            if i % 1000
            else b'{"external_id": "broken\n'
            for i in range(1, 3001)
        )
        + b'{"external_id": "c-10", "email": "again@example.com", "first_name": "Again"}\n',
        "export/last.csv": b"external_id;email;first_name\r\n"
        + b"".join(f"s-{i};s{i}@example.com;S {i}\r\n".encode() for i in range(1, 400))
        + b"s-7;seven@example.com;Seven again\r\n",
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


EXPORT_ZIP = _export_zip()


@pytest.mark.parametrize(
    ("request_body", "status"),
    [({"check_only": True}, "FAILED"), ({"on_invalid": "skip"}, "SUCCEEDED")],
    ids=["check_only", "skip"],
)
def test_a_zips_members_are_staged_plain_and_sharded_as_one_invocation_reads_them(
    aws: Resources,
    api: Invoke,
    drain: Drain,
    steps: dict[str, ModuleType],
    sharding: str,
    monkeypatch: pytest.MonkeyPatch,
    request_body: dict[str, Any],
    status: str,
) -> None:
    zipped = {"name": "export.zip", "media_type": "application/zip"}
    whole = _one_invocation(api, drain, monkeypatch, EXPORT_ZIP, **zipped, **request_body)
    assert whole["status"] == status
    file_id = _import(api, drain, EXPORT_ZIP, **zipped, **request_body)
    machine = Machine(steps, file_id)
    machine.run()
    shards = machine.plan["shards"]
    # Each shard names its part; the run's manifest names the parts' members and copies.
    assert [s["part"] for s in shards] == [1] * SHARDS + [2] * (len(shards) - SHARDS - 1) + [3]
    manifest = json.loads(
        boto3.client("s3")
        .get_object(Bucket=aws.names.bucket, Key=f"staging/acme/{file_id}/run-1/members.json")[
            "Body"
        ]
        .read()
    )
    assert [(m["member"], m["key"]) for m in manifest] == [
        (name, f"staging/acme/{file_id}/run-1/member-{n:04d}")
        for n, name in enumerate(("export/people.csv", "export/more.jsonl", "export/last.csv"), 1)
    ]
    sharded = _file(api, file_id)
    assert sharded["status"] == whole["status"]
    assert sharded.get("reason") == whole.get("reason")
    assert sharded["errors"] == whole["errors"]
    assert {e["file"] for e in sharded["errors"]} == set(
        ["export/people.csv", "export/more.jsonl", "export/last.csv"]
    )
    assert any(
        e["code"] == "duplicate_key"
        and e["file"] == "export/more.jsonl"
        and "export/people.csv" in e["message"]
        for e in sharded["errors"]
    )
    assert sharded["result"] == {**whole["result"], "shards": len(shards)}
    assert _report(sharded) == _report(whole)
    if status == "SUCCEEDED":
        written = sharded["result"]["rows_written"]
        assert written == sharded["result"]["rows_valid"] == _records(aws, file_id) > 9000


def test_json_keys_nothing_reads_are_listed_whichever_shard_meets_them(
    api: Invoke,
    drain: Drain,
    steps: dict[str, ModuleType],
    sharding: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A key no field takes, first met in the last shard, is listed in result.columns as one
    invocation lists it (nothing silent), with the keys the others map."""
    body = b"".join(
        json.dumps(
            {"external_id": f"k-{i}", "email": f"k{i}@example.com", "first_name": "K"}
            | ({"shoe_size": 42} if i > 5000 else {})
        ).encode()
        + b"\n"
        for i in range(6000)
    )
    jsonl = {"name": "people.jsonl", "media_type": "application/x-ndjson"}
    whole = _one_invocation(api, drain, monkeypatch, body, **jsonl, check_only=True)
    assert [c["header"] for c in whole["result"]["columns"]["unused"]] == ["shoe_size"]
    file_id = _import(api, drain, body, **jsonl, check_only=True)
    machine = Machine(steps, file_id)
    machine.run()
    assert len(machine.plan["shards"]) > 2
    sharded = _file(api, file_id)
    assert sharded["result"] == {**whole["result"], "shards": len(machine.plan["shards"])}


def test_a_zip_holding_other_files_runs_in_one_invocation(
    api: Invoke, drain: Drain, steps: dict[str, ModuleType], sharding: str
) -> None:
    """Only an archive of files of rows is sharded: one that also holds a README is run by
    the worker, which reports the member it does not read as one invocation always has."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("people.csv", CSV)
        archive.writestr("README.txt", b"exported by CRM 9")
    file_id = _import(
        api,
        drain,
        out.getvalue(),
        name="export.zip",
        media_type="application/zip",
        check_only=True,
    )
    executions = boto3.client("stepfunctions").list_executions(stateMachineArn=sharding)
    assert executions["executions"] == []
    done = _file(api, file_id)
    assert done["status"] == "FAILED"
    assert "shards" not in done["result"]
    assert {"unsupported_member"} <= {e["code"] for e in done["errors"]}


def test_an_archives_members_share_the_cap_on_shards(
    api: Invoke,
    drain: Drain,
    steps: dict[str, ModuleType],
    sharding: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from intake.logic import run_steps

    zipped = {"name": "export.zip", "media_type": "application/zip"}
    whole = _one_invocation(api, drain, monkeypatch, EXPORT_ZIP, **zipped, check_only=True)
    monkeypatch.setattr(run_steps, "MAX_SHARDS", 5)  # the members cut into 9
    file_id = _import(api, drain, EXPORT_ZIP, **zipped, check_only=True)
    machine = Machine(steps, file_id)
    machine.run()
    parts = [s["part"] for s in machine.plan["shards"]]
    assert len(parts) <= 5
    assert set(parts) == {1, 2, 3}
    sharded = _file(api, file_id)
    assert sharded["errors"] == whole["errors"]
    assert sharded["result"] == {**whole["result"], "shards": len(parts)}


def _ended_by_its_plan(api: Invoke, steps: dict[str, ModuleType], file_id: str) -> dict[str, Any]:
    """The run's plan met a file error: it ended the run FAILED and named no phase, so the
    state machine's Planned? choice ends the execution. The file as the API shows it."""
    machine = Machine(steps, file_id)
    machine.start()
    assert machine.plan == {"shards": [], "phase": None, "object": None}
    file = _file(api, file_id)
    assert file["status"] == "FAILED"
    assert file["result"]["shards"] == 0
    # Step Functions may run the plan again (its answer lost): the same answer, nothing raised
    machine.start()
    assert machine.plan == {"shards": [], "phase": None, "object": None}
    assert _file(api, file_id)["reason"] == file["reason"]
    return file


def test_a_zip_member_that_fails_to_inflate_ends_the_run_from_the_plan(
    api: Invoke,
    drain: Drain,
    steps: dict[str, ModuleType],
    sharding: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A member whose CRC does not match what it inflates to (its directory looked fine to
    the worker) is found as the plan inflates it: the run ends FAILED with the archive's
    error before any shard reads, as one invocation's run ends with it."""
    packed = bytearray(_export_zip())
    for signature, crc_at in ((b"PK\x03\x04", 14), (b"PK\x01\x02", 16)):  # the first member
        at = packed.index(signature) + crc_at
        packed[at : at + 4] = b"\0\0\0\0"
    zipped = {"name": "export.zip", "media_type": "application/zip"}
    whole = _one_invocation(api, drain, monkeypatch, bytes(packed), **zipped, check_only=True)
    file_id = _import(api, drain, bytes(packed), **zipped, check_only=True)
    sharded = _ended_by_its_plan(api, steps, file_id)
    assert sharded["reason"] == whole["reason"]
    assert sharded["reason"].startswith("the member cannot be inflated: Bad CRC-32")
    assert sharded["errors"][-1] == whole["errors"][-1]
    assert sharded["errors"][-1]["file"] == "export/people.csv"


def test_a_gzip_cut_short_fails_the_file_as_one_invocation_does(
    api: Invoke,
    drain: Drain,
    steps: dict[str, ModuleType],
    sharding: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The upload check reads a gzip's first bytes only: a file cut short is found when it is
    inflated, and ends FAILED with `corrupt_gzip`, never an attempt retried for a data fault
    (one invocation) or a failed execution waiting for a redrive (the plan ends the run)."""
    cut = gzip.compress(CSV)[:-2000]
    whole = _one_invocation(api, drain, monkeypatch, cut, check_only=True)
    assert whole["status"] == "FAILED"
    assert whole["errors"][-1]["code"] == "corrupt_gzip"
    assert whole["reason"] == "the gzip stream ends before its end marker: the file was cut short"
    file_id = _import(api, drain, cut, name="people.csv.gz", check_only=True)
    sharded = _ended_by_its_plan(api, steps, file_id)
    assert sharded["reason"] == whole["reason"]
    assert sharded["errors"] == [whole["errors"][-1]]


def test_a_gzip_upload_that_inflates_past_the_shard_cap_is_cut_into_fewer_larger_shards(
    api: Invoke,
    drain: Drain,
    steps: dict[str, ModuleType],
    sharding: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cap on shards (the execution's 256 KiB state) holds for a gzip upload too, whose
    plan is cut at a size worked out from the compressed bytes: neighbours are joined."""
    from intake.logic import run_steps

    whole = _one_invocation(api, drain, monkeypatch, CSV, check_only=True)
    monkeypatch.setattr(run_steps, "MAX_SHARDS", 2)  # CSV inflates to 4 shards of 64 KiB
    file_id = _import(api, drain, gzip.compress(CSV), name="people.csv.gz", check_only=True)
    machine = Machine(steps, file_id)
    machine.run()
    assert len(machine.plan["shards"]) == 2 < SHARDS
    sharded = _file(api, file_id)
    assert sharded["status"] == whole["status"] == "FAILED"
    assert sharded["errors"] == whole["errors"]
    assert sharded["result"] == {**whole["result"], "shards": 2}


def test_a_gzip_uploads_progress_counts_the_plain_bytes_it_reads(
    api: Invoke, drain: Drain, steps: dict[str, ModuleType], sharding: str
) -> None:
    # Shards read the inflated copy, so the bar's total is its size, not the upload's: a
    # client never sees more bytes done than the total, in either pass of on_invalid=fail.
    plain = b"external_id,email,first_name\n" + b"".join(
        f"c-{i},p{i}@example.com,P{i}\n".encode() for i in range(8000)
    )
    packed = gzip.compress(plain)
    assert len(packed) < len(plain) // 3
    file_id = _import(api, drain, packed, name="people.csv.gz", on_invalid="fail")
    seen: list[tuple[str, dict[str, Any]]] = []
    machine = Machine(steps, file_id)
    machine.run(between=lambda phase, i: seen.append((phase, _file(api, file_id)["progress"])))

    assert {phase for phase, _ in seen} == {"validate", "write"}
    assert {p["total"] for _, p in seen} == {len(plain)}
    assert all(p["done"] <= p["total"] for _, p in seen)
    assert _file(api, file_id)["status"] == "SUCCEEDED"


def _stopped(aws: Resources, file_id: str, arn: str, **detail: Any) -> None:
    """EventBridge's event for the run's execution stopping, as the rule delivers it to SQS."""
    event = {
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-12-01T06:00:00Z",
        "region": "us-east-1",
        "resources": [f"{arn}:{file_id}-run-1"],
        "detail": {
            "executionArn": f"{arn}:{file_id}-run-1",
            "stateMachineArn": arn,
            "name": f"{file_id}-run-1",
            "status": "FAILED",
            "input": json.dumps({"tenant": "acme", "file_id": file_id, "run": 1}),
            "error": "States.TaskFailed",
            "cause": "shard 2 failed 3 times",
            **detail,
        },
    }
    boto3.client("sqs").send_message(QueueUrl=aws.queue_url, MessageBody=json.dumps(event))


def test_a_stopped_execution_fails_the_file_and_a_redrive_finishes_only_the_rest(
    aws: Resources, api: Invoke, drain: Drain, steps: dict[str, ModuleType], sharding: str
) -> None:
    file_id = _import(api, drain, CSV, on_invalid="skip")
    machine = Machine(steps, file_id)
    phase = machine.start()
    for index in (0, 2):  # shard 1 failed past its retries; the last never started
        machine.shard(phase, index)
    written = _records(aws, file_id)

    _stopped(aws, file_id, sharding)
    assert drain()["failures"] == []
    failed = _file(api, file_id)
    assert failed["status"] == "FAILED"
    assert failed["reason"] == (
        f"the sharded run failed (States.TaskFailed); redriving execution {file_id}-run-1 "
        "finishes the shards that did not report"
    )

    # The redrive: Step Functions runs the map's unsuccessful children, then finish. Shards
    # that reported are not read again, even if run again.
    for index in range(SHARDS):
        machine.shard(phase, index)
    assert machine.finish(phase) is None
    done = _file(api, file_id)
    assert done["status"] == "SUCCEEDED"
    assert "reason" not in done or done["reason"] is None
    assert done["result"]["rows_written"] == _records(aws, file_id) > written
    assert done["result"]["rows_written"] == done["result"]["rows_valid"]


def test_a_shard_still_reading_when_its_execution_fails_leaves_the_run_failed(
    aws: Resources,
    api: Invoke,
    drain: Drain,
    steps: dict[str, ModuleType],
    sharding: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Step Functions stops a failed map's children, not their Lambda invocations in flight: a
    sibling shard's next lease renewal must end it, not take the FAILED run up again (only a
    step's first hold, a redriven execution's, does)."""
    from intake.dal import file_repository
    from intake.logic import run_steps

    file_id = _import_in_long_shards(api, drain, monkeypatch, on_invalid="skip")
    machine = Machine(steps, file_id)
    phase = machine.start()
    hold = file_repository.hold_sharded_run
    holds: list[bool] = []

    def failing_meanwhile(*args: Any, **kwargs: Any) -> Any:
        holds.append(kwargs.get("take_up", False))
        if len(holds) == 2:  # the shard read a while; shard 1 failed past its retries
            _stopped(aws, file_id, sharding)
            assert drain()["failures"] == []
        return hold(*args, **kwargs)

    monkeypatch.setattr(run_steps, "PROGRESS_INTERVAL_SECONDS", 0.0)
    monkeypatch.setattr(file_repository, "hold_sharded_run", failing_meanwhile)
    with pytest.raises(Exception, match="is not running") as raised:
        machine.shard(phase, 0)
    assert type(raised.value).__name__ == "RunEnded"
    assert holds == [True, False]
    failed = _file(api, file_id)
    assert failed["status"] == "FAILED"
    assert "redriving execution" in failed["reason"]

    monkeypatch.setattr(file_repository, "hold_sharded_run", hold)
    for index in range(len(machine.plan["shards"])):  # the redrive
        machine.shard(phase, index)
    assert machine.finish(phase) is None
    done = _file(api, file_id)
    assert done["status"] == "SUCCEEDED"
    assert done["result"]["rows_written"] == _records(aws, file_id) == LONG_ROWS


def test_a_stop_after_the_run_ended_changes_nothing(
    aws: Resources, api: Invoke, drain: Drain, steps: dict[str, ModuleType], sharding: str
) -> None:
    file_id = _import(api, drain, CSV, check_only=True)
    Machine(steps, file_id).run()
    _stopped(aws, file_id, sharding, status="ABORTED")
    assert drain()["failures"] == []
    assert _file(api, file_id)["status"] == "FAILED"  # the validation's own end
    assert _file(api, file_id)["reason"].endswith("rows are invalid")


def test_a_step_of_a_run_that_moved_on_stops(
    api: Invoke, drain: Drain, steps: dict[str, ModuleType], sharding: str
) -> None:
    file_id = _import(api, drain, CSV, check_only=True)
    machine = Machine(steps, file_id)
    machine.run()
    with pytest.raises(Exception, match="is not running") as raised:
        machine.shard("validate", 0)
    assert type(raised.value).__name__ == "RunEnded"


def test_finish_run_again_after_it_ended_the_run_ends_the_execution_quietly(
    aws: Resources, api: Invoke, drain: Drain, steps: dict[str, ModuleType], sharding: str
) -> None:
    """Step Functions may run Finish again after an attempt that ended the run (a Lambda
    service error on the way back): the execution succeeds and the file is as it was, rather
    than a FAILED execution (and its alarm) over a file that ended well."""
    file_id = _import(api, drain, CSV, on_invalid="skip")
    machine = Machine(steps, file_id)
    machine.run()
    ended = _file(api, file_id)
    assert ended["status"] == "SUCCEEDED"
    assert machine.finish("single") is None

    def stored(file: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in file.items() if k != "error_report_url"}  # signed anew

    assert stored(_file(api, file_id)) == stored(ended)
    # A step of a run that ended any other way still stops: here a later run was queued.
    assert api("POST", f"/files/{file_id}/import", body={"check_only": True})[0] == 202
    with pytest.raises(Exception, match="is not running") as raised:
        machine.finish("single")
    assert type(raised.value).__name__ == "RunEnded"


def test_an_undeclared_windows_1252_file_gets_the_same_errors_in_every_shard(
    api: Invoke,
    drain: Drain,
    steps: dict[str, ModuleType],
    sharding: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Windows-1252 export declared as nothing: every shard reads it as one invocation does
    (UTF-8), and names the same likely encoding on the same spoilt rows."""
    lines = ["external_id,email,first_name,country"]
    for i in range(1, 5001):
        first = f"Søren {i}" if i % 250 == 0 else f"Person {i}"
        lines.append(f"c-{i},p{i}@example.com,{first},DK")
    body = ("\r\n".join(lines) + "\r\n").encode("cp1252")
    whole = _one_invocation(api, drain, monkeypatch, body, check_only=True)
    assert {e["code"] for e in whole["errors"]} == {"invalid_encoding"}
    file_id = _import(api, drain, body, check_only=True)
    machine = Machine(steps, file_id)
    machine.run()
    assert len(machine.plan["shards"]) > 2
    sharded = _file(api, file_id)
    assert sharded["errors"] == whole["errors"]
    assert sharded["result"].get("encoding") == whole["result"].get("encoding")


def test_a_long_shard_keeps_holding_the_run_while_it_reads(
    api: Invoke,
    drain: Drain,
    steps: dict[str, ModuleType],
    sharding: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A shard renews the run's lease as it reads (here at every progress call, every 5,000
    rows), so the sweep never takes a working shard's run for stuck."""
    from intake.dal import file_repository
    from intake.logic import run_steps

    file_id = _import_in_long_shards(api, drain, monkeypatch, check_only=True)
    machine = Machine(steps, file_id)
    phase = machine.start()
    holds: list[str] = []
    hold = file_repository.hold_sharded_run

    def counted(*args: Any, **kwargs: Any) -> Any:
        held = hold(*args, **kwargs)
        assert held.lease_until is not None
        holds.append(held.lease_until.isoformat())
        return held

    monkeypatch.setattr(run_steps, "PROGRESS_INTERVAL_SECONDS", 0.0)
    monkeypatch.setattr(file_repository, "hold_sharded_run", counted)
    rows = machine.shard(phase, 0)["rows"]
    assert 5000 < rows < 10000
    assert len(holds) == 2  # the step's own hold at its start, then one while it read
    assert holds[1] > holds[0]


def _report(file: dict[str, Any]) -> str:
    response = requests.get(file["error_report_url"], timeout=10)
    assert response.status_code == 200
    return response.text


def test_the_report_lists_the_same_errors_as_one_invocation_up_to_the_cap(
    api: Invoke,
    drain: Drain,
    steps: dict[str, ModuleType],
    sharding: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every shard has hundreds of bad rows, 12,000 in all: the report lists the first 10,000
    at their lines and closes with the 2,000 more, exactly as one invocation's."""
    body = b"external_id,email,first_name\n" + b"".join(
        f"c-{i},not-an-email-{i},P{i}\n".encode() for i in range(12000)
    )
    whole = _one_invocation(api, drain, monkeypatch, body, check_only=True)
    file_id = _import(api, drain, body, check_only=True)
    machine = Machine(steps, file_id)
    machine.run()
    assert len(machine.plan["shards"]) > 4
    sharded = _file(api, file_id)
    assert sharded["errors"] == whole["errors"]
    report = _report(sharded)
    assert report == _report(whole)
    assert report.count("\n") == 1 + 10000 + 1
    assert "2000 more errors not listed" in report
