"""An upload interrupted after half its parts resumes and completes, with the project's client.

A local stack of its own, started like the session's (tests/e2e/conftest.local_stack) but with
MULTIPART_THRESHOLD_BYTES and MULTIPART_PART_BYTES at S3's minimum part of 5 MiB, passed
through its environment as `make up` passes them: a file of six parts is 26 MiB, not 6 x 16
MiB. Its own, because every other e2e test PUTs files of any size in one request.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from intake.settings import Settings
from intake_client import IntakeClient
from tests.e2e.conftest import local_stack
from tests.e2e.support import Stack

MIB = 1024**2
PART = 5 * MIB
# The variables' names as the settings model defines them (the stack reads them from its env).
THRESHOLD_ENV = str(Settings.model_fields["multipart_threshold_bytes"].alias)
PART_ENV = str(Settings.model_fields["multipart_part_bytes"].alias)


class Interrupted(Exception):
    """Stands for the connection dropping, the laptop closing, Ctrl-C."""


@pytest.fixture(scope="module")
def small_parts_stack() -> Iterator[Stack]:
    with local_stack("-parts", {THRESHOLD_ENV: str(PART), PART_ENV: str(PART)}) as started:
        yield started


def six_part_csv(path: Path) -> int:
    """A contacts CSV of a little over five parts of 5 MiB; its row count."""
    rows = 0
    with path.open("wb") as fh:
        fh.write(b"external_id,email,first_name\n")
        size = 0
        while size <= 5 * PART + MIB:
            line = b"p-%08d,p%d@example.com,Pat\n" % (rows, rows)
            fh.write(line)
            size += len(line)
            rows += 1
    return rows


def interrupt_after(parts: int) -> Callable[[int], None]:
    """An upload's on_sent that stops it once `parts` parts are sent."""
    sent: list[int] = []

    def on_sent(n: int) -> None:
        sent.append(n)
        if len(sent) == parts:
            raise Interrupted

    return on_sent


def send_resume(
    stack: Stack, token: str, file_id: str, path: Path
) -> subprocess.CompletedProcess[str]:
    """`intake send --resume FILE_ID PATH --wait`, as a script runs it (no terminal)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "INTAKE_API_URL": stack.api_url,
        "INTAKE_TOKEN": token,
    }
    return subprocess.run(
        [
            *(sys.executable, "-m", "intake_client.cli", "send", "--resume", file_id),
            *(str(path), "--wait", "--timeout", "180"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_an_upload_interrupted_after_half_its_parts_resumes_and_completes(
    small_parts_stack: Stack, tmp_path: Path
) -> None:
    stack = small_parts_stack
    token = stack.token("acme")
    client = IntakeClient(stack.api_url, token)
    path = tmp_path / "contacts.csv"
    rows = six_part_csv(path)

    # Given a file declared for a multipart upload of six parts
    declared = client.declare_path(path, import_type="contacts", auto_import=True, check_only=True)
    file_id = declared["file_id"]
    assert declared["upload"]["method"] == "MULTIPART"
    assert len(declared["upload"]["parts"]) == 6

    # When the client's upload stops after three parts
    with pytest.raises(Interrupted):
        client.upload(declared, path=path, on_sent=interrupt_after(3), workers=1)

    # Then the API knows the three parts S3 has, and the file still waits for the rest
    again = client.upload_block(file_id)
    assert [p["part_number"] for p in again["upload"]["uploaded"]] == [1, 2, 3]
    assert [p["size"] for p in again["upload"]["uploaded"]] == [PART] * 3
    assert [p["part_number"] for p in again["upload"]["parts"]] == [4, 5, 6]
    assert client.get_file(file_id)["status"] == "PENDING_UPLOAD"

    # When `intake send --resume` continues it (as a script runs it: no terminal, no bars)
    result = send_resume(stack, token, file_id, path)

    # Then it sent only the three missing parts, completed the upload, and the import read
    # every row of the assembled file (its SHA-256 checked against the declared one)
    assert result.returncode == 0, f"{result.stderr}\nlogs: {stack.log_dir}"
    assert "3 of 6 parts already uploaded, sending 3" in result.stderr
    file = json.loads(result.stdout)
    assert file["status"] == "VALIDATED", file
    assert file["result"]["rows_valid"] == rows
    # And stderr, not a terminal, has no progress bar drawing in it
    assert "\x1b[" not in result.stderr


def test_an_aborted_upload_ends_expired(small_parts_stack: Stack, tmp_path: Path) -> None:
    client = IntakeClient(small_parts_stack.api_url, small_parts_stack.token("acme"))
    data = b"external_id,email\n" + b"".join(b"a%d,a%d@example.com\n" % (i, i) for i in range(10))
    declared = client.declare_file(
        name="small.csv", media_type="text/csv", size=len(data), import_type="contacts"
    )

    client.abort_upload(declared["file_id"])

    assert client.get_file(declared["file_id"])["status"] == "EXPIRED"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_resuming_a_file_declared_without_auto_import_says_how_to_import_it(
    small_parts_stack: Stack, tmp_path: Path
) -> None:
    from intake_client import cli

    stack = small_parts_stack
    token = stack.token("acme")
    client = IntakeClient(stack.api_url, token)
    path = tmp_path / "contacts.csv"
    six_part_csv(path)
    # Given an upload, declared without auto_import, stopped after two parts
    declared = client.declare_path(path, import_type="contacts")
    file_id = declared["file_id"]
    with pytest.raises(Interrupted):
        client.upload(declared, path=path, on_sent=interrupt_after(2), workers=1)
    assert "intake send --resume" in cli._stopped_upload(client, file_id, str(path))

    # When `intake send --resume ... --wait` finishes the upload
    result = send_resume(stack, token, file_id, path)

    # Then it waits for the upload check only, and says how to start the import
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "UPLOADED"
    assert f"start one with: intake import {file_id} --wait" in result.stderr
    # And a stop now would point at the file, not at a resume
    assert "follow it with: intake status" in cli._stopped_upload(client, file_id, str(path))
