"""Analysis over the local stack with the real CLI: `intake analyse` on a partner's export
prints the type and mapping to use; the file it uploaded imports with them, the output saves
as a profile as is, and `intake send` takes either."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from intake_client.cli import main as intake_cli
from tests.e2e.support import Api, Stack

PARTNER = Path(__file__).parent.parent / "fixtures" / "partner"
MANIFEST = json.loads((PARTNER / "manifest.json").read_text())["fixtures"]
EXPORT = "eu_customers_cp1252.csv"  # `;`, Windows-1252, DD.MM.YYYY: nothing a run guesses


def test_intake_analyse_then_import_save_and_send(
    stack: Stack, api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = f"analyse{int(time.time() * 1000)}"
    common = ["--api-url", stack.api_url, "--token", stack.token(tenant)]
    facts = MANIFEST[EXPORT]

    # When a partner's export is analysed
    code = intake_cli([*common, "analyse", str(PARTNER / EXPORT), "--timeout", "30"])
    printed = capsys.readouterr()
    assert code == 0, printed.err

    # Then it prints contacts with the mapping a person would have written, and says why
    suggestion = json.loads(printed.out)
    assert suggestion == {"import_type": "contacts", "mapping": facts["mapping"]}
    assert "contacts: score" in printed.err
    file_id = printed.err.split(" as ", 1)[1].split(";", 1)[0]
    analysed = api.file(file_id, tenant=tenant)
    assert analysed["status"] == "UPLOADED" and analysed["import_type"] is None
    assert analysed["analysis"]["encoding"] == "windows-1252"

    # and the uploaded file imports with it, no new upload
    path = tmp_path / "suggestion.json"
    path.write_text(printed.out)
    code = intake_cli(
        [*common, "import", file_id, "--mapping", str(path), "--on-invalid", "skip", "--wait"]
    )
    imported = json.loads(capsys.readouterr().out)
    assert code == 0, imported
    assert imported["import_type"] == "contacts"
    assert imported["result"]["rows_written"] == facts["valid_rows"]

    # The output is a profile body as is; `send` takes the profile (its type too) ...
    saved = api.call("PUT", "/profiles/eu-partner", tenant=tenant, json=suggestion)
    assert saved.status_code == 200, saved.text
    sent = [*common, "send", str(PARTNER / EXPORT), "--on-invalid", "skip", "--wait"]
    assert intake_cli([*sent, "--profile", "eu-partner"]) == 0
    by_profile = json.loads(capsys.readouterr().out)
    assert by_profile["profile"] == "eu-partner"
    assert by_profile["result"]["rows_written"] == facts["valid_rows"]

    # ... and the printed document
    assert intake_cli([*sent, "--mapping", str(path)]) == 0
    by_document = json.loads(capsys.readouterr().out)
    assert by_document["mapping"] == facts["mapping"]
    assert by_document["result"]["rows_written"] == facts["valid_rows"]


def test_send_without_a_type_says_how_to_find_one(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--api-url", stack.api_url, "--token", stack.token("analyse")]
    assert intake_cli([*common, "send", str(PARTNER / EXPORT)]) == 2
    assert "intake analyse" in capsys.readouterr().err
