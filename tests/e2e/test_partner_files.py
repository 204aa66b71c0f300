"""The README's worked example on the local stack: an EU Excel export, saved as the tenant's
default profile, dropped under the profile's folder and at the type's top, imports its good
rows and locates its bad ones by sheet, row and column letter."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.e2e.support import Api, Stack, eventually

FIXTURES = Path(__file__).parent.parent / "fixtures" / "partner"
FACTS = json.loads((FIXTURES / "manifest.json").read_text())["fixtures"]["eu_customers.xlsx"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_an_eu_excel_export_dropped_under_its_profile_and_under_the_default(
    api: Api, stack: Stack
) -> None:
    tenant = f"eu{int(time.time() * 1000)}"
    profile = {"import_type": "contacts", "mapping": FACTS["mapping"], "default": True}
    assert api.call("PUT", "/profiles/eu-crm", tenant=tenant, json=profile).status_code == 200
    body = (FIXTURES / "eu_customers.xlsx").read_bytes()
    for key in ("eu-crm/eu_customers.xlsx", "eu_customers.xlsx"):
        stack.client("s3").put_object(
            Bucket=stack.bucket, Key=f"drop/{tenant}/contacts/{key}", Body=body, ContentType=XLSX
        )

    def both() -> list[dict] | None:
        items = api.call("GET", "/files", tenant=tenant).json()["items"]
        return items if len(items) == 2 else None

    for found in eventually(both):
        done = api.wait(found["file_id"], "FAILED", tenant=tenant)  # on_invalid: fail
        assert done["profile"] == "eu-crm" and done["mapping"] == FACTS["mapping"]
        assert done["result"]["rows_valid"] == FACTS["valid_rows"]
        assert done["result"]["rows_written"] == 0
        assert [
            (e["line"], e["field"], e["code"], e["sheet"], e["column_letter"])
            for e in done["errors"]
        ] == [
            (e["line"], e["field"], e["code"], e["sheet"], e["column_letter"])
            for e in FACTS["errors"]
        ]
        assert [c["header"] for c in done["result"]["columns"]["unused"]] == FACTS[
            "expected_unused_headers"
        ]
        # re-run with skip, no new upload: the good rows are written
        again = api.call(
            "POST", f"/files/{found['file_id']}/import", tenant=tenant, json={"on_invalid": "skip"}
        )
        assert again.status_code == 202, again.text
        written = api.wait(found["file_id"], "SUCCEEDED", tenant=tenant)
        assert written["result"]["rows_written"] == FACTS["valid_rows"]
