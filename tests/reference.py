"""Where the published specs live: ``shared/reference/specs`` beside the repository.

CI lays a copy of ``shared/`` beside the clone; ``IDPSYNC_REFERENCE_DIR`` overrides the place.
The specs are third-party documents and are read from there, not copied into the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def spec_path(name: str) -> Path:
    """The path of a published spec; fails the test (never skips) when it is missing."""
    base = Path(os.environ.get("IDPSYNC_REFERENCE_DIR", REPO.parent / "shared" / "reference"))
    path = base / "specs" / name
    if not path.exists():
        pytest.fail(f"spec {name} not found at {path}; set IDPSYNC_REFERENCE_DIR")
    return path
