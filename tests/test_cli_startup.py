"""The command line imports only the command that runs (issue #20: start-up cost of every sync).

Each check runs in a fresh interpreter and looks at ``sys.modules`` afterwards: importing
``idpsync.cli`` imports no command, and ``idpsync sync`` (its help, and a real run) imports
neither the web app, the service, the emulators nor another command's module; a sync into an
up-to-date SQLite store imports neither Alembic nor psycopg.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import idpsync.cli
from idpsync.cli.root import COMMANDS, app
from tests.filedata import people, write

SRC = Path(__file__).resolve().parent.parent / "src"

PROBE = """
import atexit, json, sys
from pathlib import Path

report, *args = sys.argv[1:]
# at exit: a sync ends the process from main() itself, after the atexit handlers (cli/ending.py)
atexit.register(lambda: Path(report).write_text(json.dumps(sorted(sys.modules))))
if args:
    from idpsync.cli import main

    sys.argv = ["idpsync", *args]
    main()
else:
    import idpsync.cli
"""

WEB_AND_EMULATORS = ("idpsync.web", "idpsync.service", "idpsync.emulators", "fastapi", "uvicorn")
"""What only ``serve``, ``emulate`` and the token commands need."""

MIGRATIONS_AND_POSTGRESQL = ("alembic", "mako", "psycopg")
"""What only a store that needs migrating, or a PostgreSQL store, needs."""


def loaded(tmp_path: Path, *args: str) -> tuple[int | str | None, list[str]]:
    """Exit code of ``idpsync ARGS`` (None: only ``import idpsync.cli``) and the modules loaded."""
    report = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(report), *args],
        cwd=tmp_path,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "COLUMNS": "100"},
        capture_output=True,
        timeout=120,
    )
    modules = json.loads(report.read_text(encoding="utf-8"))
    return (done.returncode if args else None), modules


def among(modules: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes)]


def file_sync(folder: Path) -> tuple[str, ...]:
    """A file connector of 3 people into a SQLite store in ``folder``: the ``idpsync`` args."""
    write(folder / "people.json", people(3))
    (folder / "idpsync.toml").write_text(
        f'[store]\nurl = "sqlite:///{folder / "store.db"}"\n\n'
        '[connectors.hr.source]\ntype = "file"\npath = "people.json"\n',
        encoding="utf-8",
    )
    return ("sync", "hr", "--config", str(folder / "idpsync.toml"))


def other_commands(*mine: str) -> tuple[str, ...]:
    """The ``idpsync.cli`` modules of every command but ``mine``."""
    modules = {m for declared in COMMANDS.values() for m in declared} - set(mine)
    return tuple(f"idpsync.cli.{m}" for m in sorted(modules))


def test_importing_the_cli_imports_no_command(tmp_path: Path) -> None:
    code, modules = loaded(tmp_path)
    assert code is None
    assert [m for m in modules if m.startswith("idpsync")] == [
        "idpsync",
        "idpsync.cli",
        "idpsync.cli.root",
    ]
    assert among(modules, WEB_AND_EMULATORS) == []


def test_sync_help_imports_only_the_sync_command(tmp_path: Path) -> None:
    code, modules = loaded(tmp_path, "sync", "--help")
    assert code == 0
    assert "idpsync.cli.sync" in modules
    assert among(modules, WEB_AND_EMULATORS + other_commands("sync")) == []


def test_a_sync_run_imports_neither_web_nor_emulators_nor_other_commands(
    tmp_path: Path,
) -> None:
    code, modules = loaded(tmp_path, *file_sync(tmp_path))
    assert code == 0
    assert among(modules, WEB_AND_EMULATORS + other_commands("sync")) == []


def test_a_sync_into_an_up_to_date_sqlite_store_imports_neither_alembic_nor_psycopg(
    tmp_path: Path,
) -> None:
    args = file_sync(tmp_path)
    code, modules = loaded(tmp_path, *args)  # a new store: migrated, so Alembic is imported
    assert code == 0 and "alembic" in modules
    code, modules = loaded(tmp_path, *args)
    assert code == 0
    assert among(modules, MIGRATIONS_AND_POSTGRESQL) == []


def test_every_command_is_declared_where_the_table_says() -> None:
    for module in pkgutil.iter_modules(idpsync.cli.__path__):
        if module.name != "__main__":
            importlib.import_module(f"idpsync.cli.{module.name}")
    commands = {
        (info.name or info.callback.__name__.replace("_", "-")): info.callback
        for info in app.registered_commands
        if info.callback
    }
    groups = {info.name: info.typer_instance for info in app.registered_groups}
    assert set(commands) | set(groups) == set(COMMANDS)
    for name, callback in commands.items():
        assert callback.__module__ in {f"idpsync.cli.{m}" for m in COMMANDS[name]}, name
    for name, group in groups.items():
        assert group is not None and group.registered_commands, name


@pytest.mark.parametrize("first", ["config_init", "migrate_cmd"])
def test_a_group_is_whole_when_one_of_its_modules_was_imported_first(
    tmp_path: Path, first: str
) -> None:
    script = (
        f"import idpsync.cli.{first}\n"
        "from typer.testing import CliRunner\n"
        "from idpsync.cli import app\n"
        "for args in (['config', 'check', '--help'], ['connectors', 'compare', '--help']):\n"
        "    result = CliRunner().invoke(app, args)\n"
        "    assert result.exit_code == 0, result.output\n"
    )
    subprocess.run(
        [sys.executable, "-c", script],
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        check=True,
        capture_output=True,
        timeout=120,
    )
