"""The emulators share no code with the connectors (COMMON rule), checked on the source text."""

from __future__ import annotations

import ast
from pathlib import Path

import idpsync.emulators

FORBIDDEN = ("sources", "http", "auth", "engine", "store", "model")


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_emulator_module_imports_connector_code() -> None:
    root = Path(idpsync.emulators.__file__).parent
    files = sorted(root.rglob("*.py"))
    assert any(f.parent.name == "okta" for f in files)
    bad = {
        (str(f.relative_to(root)), name)
        for f in files
        for name in imported(f)
        if any(name == f"idpsync.{p}" or name.startswith(f"idpsync.{p}.") for p in FORBIDDEN)
    }
    assert bad == set()
