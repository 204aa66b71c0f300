"""The package docstring states how many bad-input cases there are; this keeps it true."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from types import ModuleType

import tests.security

HERE = Path(__file__).parent


def _cases(module: ModuleType) -> int:
    """Test functions times their parametrized values (the suite uses nothing else)."""
    total = 0
    for name, value in vars(module).items():
        if name.startswith("test_") and callable(value):
            count = 1
            for mark in getattr(value, "pytestmark", []):
                if mark.name == "parametrize":
                    count *= len(mark.args[1])
            total += count
    return total


def test_the_package_docstring_counts_every_case() -> None:
    modules = [
        importlib.import_module(f"tests.security.{path.stem}")
        for path in sorted(HERE.glob("test_*.py"))
        if path.name != Path(__file__).name
    ]
    counted = sum(_cases(module) for module in modules)
    stated = re.search(r"(\d+) cases", tests.security.__doc__ or "")
    assert stated, "tests/security/__init__.py must say how many cases the suite has"
    assert int(stated.group(1)) == counted, f"the suite has {counted} cases"
