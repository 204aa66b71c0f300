"""The commands a developer types: `intake-local token` and `intake-local demo`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from intake_local.cli import main as intake_local
from intake_local.tokens import JwtAuthorizer, ensure_key_pair


def test_token_prints_a_valid_token_as_its_last_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = intake_local(
        [
            "--state-dir",
            str(tmp_path),
            "token",
            "--tenant",
            "globex",
            "--scopes",
            "intake/read",
            "--ttl",
            "120",
        ]
    )
    assert code == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    authorizer = JwtAuthorizer(ensure_key_pair(tmp_path).public_pem)
    authorized = authorizer.authorize(f"Bearer {token}", ("intake/read",))
    claims = authorized.claims
    assert (claims["iss"], claims["aud"], claims["tenant"]) == ("intake-local", "intake", "globex")
    assert claims["scope"] == "intake/read"
    assert claims["exp"] - claims["iat"] == 120
    assert claims["sub"]
    assert (tmp_path / "jwt" / "private.pem").is_file()


def test_the_demo_runs_the_whole_flow_and_stops_everything(
    demo_run: subprocess.Popen[str] | None,
) -> None:
    assert demo_run is not None
    output, _ = demo_run.communicate(timeout=300)
    assert demo_run.returncode == 0, output
    assert "Demo passed" in output
    for expected in (
        "VALIDATED",
        "SUCCEEDED",
        "FAILED",
        "invalid_email",
        "drop/acme/contacts/",
        "MULTIPART",
        "says S3 has parts [1]",
        "validated in 6 shards",
    ):
        assert expected in output
    # It stopped what it started: its moto server is gone.
    assert (
        "intake_local.moto_process"
        not in subprocess.run(
            ["ps", "-o", "args=", "--ppid", str(demo_run.pid)],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    )
