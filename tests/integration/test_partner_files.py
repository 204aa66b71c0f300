"""Partner files as real systems export them (tests/fixtures/partner): each one imports with the
mapping its manifest gives, the valid rows written, every bad row reported by line, field and
code, and the columns nothing used listed. The .xlsx and Windows-1252 copies of the EU export
import the same rows, accented names as written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from intake.ingest import media
from tests.integration.conftest import declare_and_upload

FIXTURES = Path(__file__).parent.parent / "fixtures" / "partner"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())["fixtures"]


def stored(aws: Any, tenant: str = "acme") -> dict[str, dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(aws.names.records_table)
    items = table.query(
        KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": f"{tenant}#contacts"}
    )["Items"]
    return {item["sk"]: item for item in items}


def run_fixture(
    api: Any, drain: Any, name: str, *, tenant: str = "acme", **extra: Any
) -> dict[str, Any]:
    facts = MANIFEST[name]
    file_id = declare_and_upload(
        api,
        (FIXTURES / name).read_bytes(),
        name=name,
        media_type=media.media_type_for_name(name) or "",
        mapping=facts["mapping"],
        on_invalid="skip",
        auto_import=True,
        tenant=tenant,
        **extra,
    )
    drain()
    return api("GET", f"/files/{file_id}", tenant=tenant)[1]


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_each_export_imports_its_valid_rows_and_reports_every_bad_one(api, drain, aws, name):
    facts = MANIFEST[name]

    view = run_fixture(api, drain, name)

    assert view["status"] == "SUCCEEDED", view
    result = view["result"]
    assert result["rows_total"] == facts["data_rows"]
    assert result["rows_written"] == result["rows_valid"] == facts["valid_rows"]
    assert result["rows_invalid"] == facts["data_rows"] - facts["valid_rows"]
    expected = sorted((e["line"], e["field"], e["code"]) for e in facts["errors"])
    assert sorted((e["line"], e["field"], e["code"]) for e in view["errors"]) == expected
    if facts["format"] == "xlsx":
        assert {(e["sheet"], e["column_letter"]) for e in view["errors"]} == {
            (e["sheet"], e["column_letter"]) for e in facts["errors"]
        }
    assert result.get("encoding") == facts["mapping"].get("encoding")
    unused = [c["header"] for c in result["columns"]["unused"]]
    assert unused == facts["expected_unused_headers"]
    records = stored(aws)
    for key, record in facts["sample_records"].items():
        assert {k: records[key].get(k) for k in record} == record
    assert len(records) == facts["valid_rows"]


def test_the_windows_1252_and_excel_copies_store_the_same_rows_as_written(api, drain, aws):
    copies = {}
    for tenant, name in enumerate(
        ("eu_customers.csv", "eu_customers_cp1252.csv", "eu_customers.xlsx")
    ):
        # one tenant each: every copy writes its own rows
        assert run_fixture(api, drain, name, tenant=f"t{tenant}")["status"] == "SUCCEEDED"
        copies[name] = {
            key: {k: v for k, v in item.items() if k in ("first_name", "last_name", "city")}
            for key, item in stored(aws, f"t{tenant}").items()
        }

    assert copies["eu_customers.csv"] == copies["eu_customers_cp1252.csv"]
    assert copies["eu_customers.csv"] == copies["eu_customers.xlsx"]
    names = {v for row in copies["eu_customers.xlsx"].values() for v in row.values()}
    assert set(MANIFEST["eu_customers.xlsx"]["accented_names"]) <= {
        part for v in names for part in str(v).split()
    }


def test_undeclared_windows_1252_names_its_likely_encoding_on_each_spoilt_row(api, drain):
    name = "eu_customers_cp1252.csv"
    mapping = {k: v for k, v in MANIFEST[name]["mapping"].items() if k != "encoding"}

    file_id = declare_and_upload(
        api,
        (FIXTURES / name).read_bytes(),
        name=name,
        mapping=mapping,
        auto_import=True,
    )
    drain()
    view = api("GET", f"/files/{file_id}")[1]

    assert view["status"] == "FAILED"
    spoilt = [e for e in view["errors"] if e["code"] == "invalid_encoding"]
    assert spoilt and all("windows-1252" in e["message"] for e in spoilt)
    # located by the field the column feeds, not by the partner's header
    assert {e["field"] for e in spoilt} <= {"first_name", "last_name", "company", "city"}
