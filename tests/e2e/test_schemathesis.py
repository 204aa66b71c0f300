"""The OpenAPI document is the contract: schemathesis holds the running API to it.

`schemathesis run <api>/openapi.json --checks all` against the local stack, configured by
tests/e2e/schemathesis.toml: every check on, deterministic generation (the same requests each
run), and for the two checks whose premise does not fit an operation, that operation's
expected statuses with the reason. Zero failures: no 5xx, no status or body the document does
not list, no schema-valid request refused for a reason the document does not give, no
schema-invalid request accepted.

Then the fuzzed tenant's files still read back: a fuzzer's requests once stored text that
made every later listing of the tenant fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.support import Api, Stack

CONFIG = Path(__file__).with_name("schemathesis.toml")
# About a minute on an idle two-core machine; the bound leaves room for a loaded one.
RUN_TIMEOUT = 540


@pytest.mark.slow
@pytest.mark.timeout(RUN_TIMEOUT + 60)
def test_schemathesis_finds_no_failure(stack: Stack, api: Api) -> None:
    # Given a tenant of its own, so the checks after the run see only what the fuzzer sent
    tenant = f"fuzz{int(time.time() * 1000)}"
    env = {**os.environ, "INTAKE_TOKEN": stack.token(tenant, ttl=RUN_TIMEOUT + 60)}
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "run",
        f"{stack.api_url}/openapi.json",
        "--checks",
        "all",
        "--no-color",
    ]

    # When schemathesis runs every check against the API (in the run's state directory, where
    # it keeps what `st replay <id>` needs)
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=env,
        cwd=stack.state_dir,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    output = result.stdout + result.stderr
    (stack.state_dir / "schemathesis.txt").write_text(output)

    # Then it reports no failure
    assert result.returncode == 0, (
        f"schemathesis failed (full output: {stack.state_dir / 'schemathesis.txt'}; "
        f"logs: {stack.log_dir}):\n{output[-6000:]}"
    )
    assert "passed" in output and "FAILURES" not in output, output[-3000:]

    # And whatever it sent, the tenant's files still list, filter and read (Api.call fails
    # the test on any 5xx)
    files = _every_file(api, tenant)
    assert files, "the fuzzer declared no file: the run did not reach POST /files"
    for import_type in {f["import_type"] for f in files} | {"contacts", "event"}:
        listed = api.call("GET", "/files", tenant=tenant, params={"import_type": import_type})
        assert listed.status_code == 200, listed.text
    for file in files[:20]:
        assert api.call("GET", f"/files/{file['file_id']}", tenant=tenant).status_code == 200


def _every_file(api: Api, tenant: str) -> list[dict]:
    files: list[dict] = []
    cursor = None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = api.call("GET", "/files", tenant=tenant, params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        files += body["items"]
        cursor = body.get("next_cursor")
        if not cursor:
            return files
