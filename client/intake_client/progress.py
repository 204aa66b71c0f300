"""Progress bars on stderr for the `intake` command: bytes sent, then the import's rows.

Shown only on a terminal: with stderr redirected or piped, or with --quiet, nothing is drawn
and stdout keeps only the JSON a script reads. rich draws them; without rich installed the
command works the same, without bars.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any


def wanted(quiet: bool) -> bool:
    """Bars only for a person watching: not with --quiet, not when stderr is not a TTY."""
    return not quiet and sys.stderr.isatty()


class ProgressBars:
    """A context for the bars of one command; every method is a no-op when disabled."""

    def __init__(self, enabled: bool) -> None:
        self._progress: Any = None
        if enabled:
            try:
                from rich.console import Console
                from rich.progress import (
                    BarColumn,
                    Progress,
                    TaskProgressColumn,
                    TextColumn,
                    TimeRemainingColumn,
                )
            except ImportError:  # the client without its optional extra: no bars
                return
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )

    def __enter__(self) -> ProgressBars:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def bytes_sent(self, description: str, total: int, done: int = 0) -> Callable[[int], None]:
        """A bar over `total` bytes (`done` already sent); the callable adds bytes sent."""
        if self._progress is None:
            return lambda n: None
        progress = self._progress
        task = progress.add_task(description, total=total, completed=done, detail="")

        def advance(n: int) -> None:
            progress.advance(task, n)
            sent = progress.tasks[task].completed
            progress.update(task, detail=f"{sent / 2**20:,.1f} of {total / 2**20:,.1f} MiB")

        return advance

    def import_progress(self, description: str) -> Callable[[dict[str, Any]], None]:
        """A bar fed with the file as GET /files/{file_id} answers it: its status, and its
        `progress` {done, total} while a run reads it (with a sharded run's shards reported
        of the pass's total)."""
        if self._progress is None:
            return lambda file: None
        progress = self._progress
        task = progress.add_task(description, total=None, detail="")

        def show(file: dict[str, Any]) -> None:
            state = file.get("progress") or {}
            done, total = state.get("done"), state.get("total")
            detail = str(file.get("status", ""))
            shards = state.get("shards")
            if isinstance(shards, dict):
                detail += f", {shards.get('done', 0)} of {shards.get('total', 0)} shards"
            progress.update(task, total=total or None, completed=done or 0, detail=detail)

        return show
