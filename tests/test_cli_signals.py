"""Signals an administrator can trust (issue #17, point 7 b, e, f)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from idpsync.cli import app
from idpsync.config import load_config
from idpsync.settings import UnresolvedSecret
from idpsync.store import Store
from tests.filedata import people, write

runner = CliRunner()

UNSET = "IDPSYNC_TEST_SIGNALS_UNSET"


def _config(tmp_path: Path, store_url: str, extra: str = "") -> str:
    path = tmp_path / "idpsync.toml"
    path.write_text(
        f'[store]\nurl = "{store_url}"\n\n[connectors.hr.source]\ntype = "file"\n'
        f'path = "people.json"\n{extra}',
        encoding="utf-8",
    )
    return str(path)


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


# -- b. sync --report checks its path before the run ----------------------------------------


@pytest.mark.parametrize("where", ["missing folder", "a folder", "file as folder"])
def test_report_path_is_checked_before_the_run(tmp_path: Path, where: str) -> None:
    write(tmp_path / "people.json", people(3))
    db = tmp_path / "directory.db"
    cfg = _config(tmp_path, f"sqlite:///{db}")
    (tmp_path / "plain").write_text("x", encoding="utf-8")
    report, expected = {
        "missing folder": (tmp_path / "missing" / "r.json", "does not exist"),
        "a folder": (tmp_path, "is a folder; give a file name"),
        "file as folder": (tmp_path / "plain" / "r.json", "is not a folder"),
    }[where]
    code, out = _run("sync", "hr", "--report", str(report), "--config", cfg)
    assert code == 2
    assert "cannot write the report:" in out and expected in out
    assert not db.exists()  # nothing ran: the store was never even opened


def test_report_written_when_the_path_is_good(tmp_path: Path) -> None:
    write(tmp_path / "people.json", people(3))
    cfg = _config(tmp_path, f"sqlite:///{tmp_path}/directory.db")
    report = tmp_path / "r.json"
    code, out = _run("sync", "hr", "--report", str(report), "--config", cfg)
    assert code == 0, out
    assert json.loads(report.read_text(encoding="utf-8"))


# -- e. store-only commands never resolve secrets ------------------------------------------


def test_store_only_commands_work_without_the_secrets(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "people.json", people(4))
    target = (
        f'\n[targets.app]\ntype = "scim"\nurl = "https://scim.example.org/v2"\n'
        f'token = "env:{UNSET}"\n'
    )
    okta = (
        '\n[connectors.okta.source]\ntype = "okta"\nbase_url = "https://example.okta.com"\n'
        f'api_token = "env:{UNSET}"\n'
    )
    cfg = _config(tmp_path, store_url, target + okta)
    monkeypatch.setenv(UNSET, "x")
    assert _run("sync", "hr", "--config", cfg)[0] == 0
    monkeypatch.delenv(UNSET)

    for command in (
        ["runs"],
        ["runs", "show", "1"],
        ["users"],
        ["users", "--json"],
        ["groups", "--members"],
        ["targets"],
    ):
        code, out = _run(*command, "--config", cfg)
        assert code == 0, (command, out)
        assert UNSET not in out
    code, out = _run("sync", "hr", "--config", cfg)
    assert code == 2
    assert f"connectors.okta.source.api_token: environment variable {UNSET} is not set" in out
    code, out = _run("config", "check", "--config", cfg)
    assert code == 2 and f"environment variable {UNSET} is not set" in out


def test_an_unresolved_secret_never_gives_a_value(tmp_path: Path) -> None:
    extra = f'[targets.app]\ntype = "scim"\nurl = "https://s"\ntoken = "env:{UNSET}"\n'
    cfg = _config(tmp_path, "sqlite:///x.db", extra)
    token = load_config(cfg, resolve_secrets=False).settings.targets["app"].token
    assert isinstance(token, UnresolvedSecret) and token.reference == f"env:{UNSET}"
    with pytest.raises(RuntimeError, match="was not read"):
        token.get_secret_value()


def test_inline_secrets_are_refused_even_without_resolving(tmp_path: Path) -> None:
    cfg = _config(
        tmp_path,
        "sqlite:///x.db",
        '[targets.app]\ntype = "scim"\nurl = "https://s"\ntoken = "hunter2"\n',
    )
    code, out = _run("users", "--config", cfg)
    assert code == 2 and "secrets are not written inline" in out and "hunter2" not in out


# -- f. config check warns when nothing can run --------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the file is empty"),
        ("# only a comment\n", "the file is empty"),
        ('[store]\nurl = "sqlite:///x.db"\n', "no connector is configured"),
    ],
)
def test_config_check_without_connectors_warns_and_exits_2(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "idpsync.toml"
    path.write_text(text, encoding="utf-8")
    code, out = _run("config", "check", "--config", str(path))
    assert code == 2
    assert f"warning: {path.resolve()}: {expected}, so nothing can sync" in out


def test_config_check_with_a_connector_is_ok(tmp_path: Path, store: Store) -> None:
    del store
    code, out = _run("config", "check", "--config", _config(tmp_path, "sqlite:///x.db"))
    assert code == 0 and "connector hr: source file" in out
