"""Where the published specs live: ``tests/specs`` in the repository (see its README).

The specs are third-party documents kept unchanged, so a fresh clone runs every test with
nothing beside it. A large one is kept gzip-compressed (``NAME.gz``, the same bytes inside) and
unpacked once per test session into a temporary folder.
"""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

import pytest

SPECS = Path(__file__).resolve().parent / "specs"
_UNPACKED = Path(tempfile.mkdtemp(prefix="idpsync-specs-"))


def spec_path(name: str) -> Path:
    """The path of a published spec; fails the test (never skips) when it is missing."""
    path = SPECS / name
    if path.exists():
        return path
    packed = SPECS / f"{name}.gz"
    if not packed.exists():
        pytest.fail(f"spec {name} not found at {path}(.gz); see tests/specs/README.md")
    unpacked = _UNPACKED / name
    if not unpacked.exists():
        unpacked.write_bytes(gzip.decompress(packed.read_bytes()))
    return unpacked
