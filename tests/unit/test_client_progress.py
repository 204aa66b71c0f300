"""The `intake` command's progress bars: drawn for a person at a terminal, never for a script."""

from __future__ import annotations

import io
import sys

import pytest

from intake_client import progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_bars_when_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not progress.wanted(quiet=False)


def test_bars_on_a_terminal_unless_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert progress.wanted(quiet=False)
    assert not progress.wanted(quiet=True)


def test_disabled_bars_write_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with progress.ProgressBars(False) as bars:
        bars.bytes_sent("upload big.csv", 100)(100)
        bars.import_progress("import f")({"status": "PROCESSING", "progress": {"done": 1}})
    assert err.getvalue() == ""


def test_bars_show_bytes_sent_and_the_imports_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    err = _Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    with progress.ProgressBars(True) as bars:
        sent = bars.bytes_sent("upload big.csv", 40 * 2**20, 10 * 2**20)
        sent(30 * 2**20)
        show = bars.import_progress("import f1")
        show({"status": "PROCESSING", "progress": {"done": 50, "total": 200, "unit": "rows"}})
        show({"status": "SUCCEEDED", "progress": {"done": 200, "total": 200, "unit": "rows"}})
    drawn = err.getvalue()
    assert "upload big.csv" in drawn
    assert "40.0 of 40.0 MiB" in drawn
    assert "import f1" in drawn and "SUCCEEDED" in drawn


def test_a_sharded_runs_bar_counts_its_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    err = _Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    with progress.ProgressBars(True) as bars:
        show = bars.import_progress("import f2")
        shards = {"done": 3, "total": 8}
        show({"status": "PROCESSING", "progress": {"done": 3, "total": 8, "shards": shards}})
    assert "PROCESSING, 3 of 8 shards" in err.getvalue()
