"""Where the local stack keeps its state (keys, logs) and finds the functions."""

from __future__ import annotations

import os
from pathlib import Path

STATE_DIR_ENV = "INTAKE_LOCAL_DIR"


def repo_root() -> Path:
    """The checkout this package is installed from (editable install: local/intake_local)."""
    return Path(__file__).resolve().parents[2]


def default_state_dir() -> Path:
    """`.local/` of the checkout (gitignored), unless INTAKE_LOCAL_DIR says otherwise.

    Anchored to the checkout rather than the working directory, so `intake-local token` run
    from anywhere signs with the key that `intake-local up` verifies with.
    """
    configured = os.environ.get(STATE_DIR_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    root = repo_root()
    if (root / "pyproject.toml").is_file():
        return root / ".local"
    return Path.cwd() / ".local"


def default_functions_dir() -> Path:
    return repo_root() / "functions"
