"""The import rules between idpsync's layers, checked on the source text.

Every ``import``/``from … import`` of an idpsync module counts, wherever it is written: at the
top, inside a function (a lazy import) or under ``TYPE_CHECKING``. A layer may import only
what its rule allows; the model and the errors are at the bottom, the engine decides without
I/O, the HTTP layer knows no connector, and the connectors know nothing of the command line,
the service, the web pages or the run services that use them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "idpsync"


def module_name(path: Path, root: Path = SRC) -> str:
    """``src/idpsync/http/client.py`` → ``idpsync.http.client`` (a package: its ``__init__``)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path, root: Path = SRC) -> Iterator[tuple[int, str]]:
    """The idpsync modules ``path`` imports, with the line, local imports included.

    ``from idpsync.x import y`` names ``idpsync.x.y`` (``y`` may be a module or a name in
    ``idpsync.x``; the rules below match by prefix, so either way it falls under ``idpsync.x``).
    """
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}" if base else alias.name


def under(module: str, prefix: str) -> bool:
    """Whether ``module`` is ``prefix`` or inside it."""
    return module == prefix or module.startswith(prefix + ".")


@dataclass(frozen=True)
class Rule:
    """What the modules of one layer may import from idpsync."""

    layer: str
    """The package or module the rule is about (with everything inside it)."""
    allowed: tuple[str, ...] = ()
    """With ``only``: the idpsync modules it may import (and everything inside them)."""
    denied: tuple[str, ...] = ()
    """Without ``only``: the idpsync modules it must not import."""
    only: bool = False
    """Whether ``allowed`` is the whole list (else anything but ``denied`` is fine)."""
    exceptions: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    """(importing module, imported module) pairs tolerated for now, each with its reason."""

    def broken(self, importer: str, module: str) -> bool:
        """Whether ``importer`` importing ``module`` breaks the rule."""
        if not under(module, "idpsync") or (importer, module) in self.exceptions:
            return False
        if self.only:
            if module == "idpsync" or module.startswith("idpsync.__"):
                return "idpsync" not in self.allowed  # the package itself (__version__)
            return not any(under(module, a) for a in self.allowed if a != "idpsync")
        return any(under(module, d) for d in self.denied)


RULES = [
    # The records every layer shares: nothing below them (the edges and their compact list
    # live in ``model_edges``, which ``model`` re-exports and which imports nothing of ours).
    Rule("idpsync.model", allowed=("idpsync.model", "idpsync.model_edges"), only=True),
    Rule("idpsync.model_edges", only=True),
    # The root errors and the settings base: no idpsync module (the settings check URLs).
    Rule("idpsync.errors", only=True),
    Rule("idpsync.settings", allowed=("idpsync.config_urls",), only=True),
    # The engine decides without I/O: the records, its own modules, the root errors, the
    # settings base, the policy settings and the template language. A connector's settings
    # reach it as small protocols (``decide.ConnectorPolicy``, ``guard.GuardLimits``) and its
    # mapping preset as an argument, so it imports neither ``idpsync.config`` (which imports
    # every connector's settings) nor ``idpsync.sources``, ``idpsync.store`` or ``idpsync.app``.
    Rule(
        "idpsync.engine",
        allowed=(
            "idpsync.model",
            "idpsync.engine",
            "idpsync.errors",
            "idpsync.settings",
            "idpsync.config_policy",
            "idpsync.config_invariants",
            "idpsync.templating",
        ),
        only=True,
    ),
    # HTTP knows no connector: its own modules, the root errors, the settings base, the URL
    # checks and the package (``__version__`` for the user agent).
    Rule(
        "idpsync.http",
        allowed=(
            "idpsync.http",
            "idpsync.errors",
            "idpsync.settings",
            "idpsync.config_urls",
            "idpsync",
        ),
        only=True,
    ),
    # Token flows are built for connectors, never from them.
    Rule("idpsync.auth", denied=("idpsync.sources",)),
    # Connectors are used by the command line, the service, the web pages and the run
    # services, never the other way round.
    Rule(
        "idpsync.sources",
        denied=("idpsync.cli", "idpsync.service", "idpsync.web", "idpsync.app"),
    ),
    # Targets share the HTTP layer with the connectors but know no connector, and nothing of
    # who runs them.
    Rule(
        "idpsync.targets",
        denied=("idpsync.sources", "idpsync.cli", "idpsync.service", "idpsync.web", "idpsync.app"),
    ),
    # The store keeps what the engine decided; it never reaches an IdP or a page.
    Rule(
        "idpsync.store",
        denied=("idpsync.sources", "idpsync.cli", "idpsync.service", "idpsync.web", "idpsync.app"),
    ),
]


def modules() -> list[Path]:
    """Every module of the idpsync package."""
    return sorted(PACKAGE.rglob("*.py"))


def violations(rule: Rule) -> list[str]:
    """``file:line importer → module`` for every import that breaks ``rule``."""
    found = []
    for path in modules():
        importer = module_name(path)
        if not under(importer, rule.layer):
            continue
        for line, module in imported(path):
            if rule.broken(importer, module):
                where = path.relative_to(SRC)
                found.append(f"{where}:{line} {importer} imports {module}")
    return found


@pytest.mark.parametrize("rule", RULES, ids=[r.layer for r in RULES])
def test_layer_imports_follow_the_rule(rule: Rule) -> None:
    assert violations(rule) == []


def test_the_scan_sees_local_relative_and_package_imports(tmp_path: Path) -> None:
    package = tmp_path / "idpsync" / "engine"
    package.mkdir(parents=True)
    module = package / "x.py"
    module.write_text(
        "from . import plan\n"
        "from ..store import schema\n"
        "from idpsync import __version__\n"
        "def later() -> None:\n"
        "    import idpsync.sources.okta\n",
        encoding="utf-8",
    )
    assert sorted(imported(module, tmp_path)) == [
        (1, "idpsync.engine.plan"),
        (2, "idpsync.store.schema"),
        (3, "idpsync.__version__"),
        (5, "idpsync.sources.okta"),
    ]
    engine = next(r for r in RULES if r.layer == "idpsync.engine")
    assert engine.broken("idpsync.engine.x", "idpsync.sources.okta")
    assert engine.broken("idpsync.engine.x", "idpsync.store.schema")
    assert not engine.broken("idpsync.engine.x", "idpsync.engine.plan")
    http = next(r for r in RULES if r.layer == "idpsync.http")
    assert not http.broken("idpsync.http.client", "idpsync.__version__")
    assert http.broken("idpsync.http.client", "idpsync.sources.base")
