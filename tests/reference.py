"""Where the published specs live: ``tests/specs`` in the repository (see its README).

The specs are third-party documents kept unchanged, so a fresh clone runs every test with
nothing beside it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SPECS = Path(__file__).resolve().parent / "specs"


def spec_path(name: str) -> Path:
    """The path of a published spec; fails the test (never skips) when it is missing."""
    path = SPECS / name
    if not path.exists():
        pytest.fail(f"spec {name} not found at {path}; see tests/specs/README.md")
    return path
