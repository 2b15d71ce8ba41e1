"""``store.url`` and ``store.password`` as secret references; the password is never shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from idpsync.cli import app
from idpsync.config import ConfigError, parse_config
from idpsync.store import Store
from tests.filedata import people, write

runner = CliRunner()


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "idpsync.toml")
    return caught.value.problems


def test_whole_url_from_the_environment(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDPSYNC_TEST_STORE_URL", store_url)
    write(tmp_path / "people.json", people(3))
    cfg = tmp_path / "idpsync.toml"
    cfg.write_text(
        '[store]\nurl = "env:IDPSYNC_TEST_STORE_URL"\n\n'
        '[connectors.hr.source]\ntype = "file"\npath = "people.json"\n',
        encoding="utf-8",
    )
    assert runner.invoke(app, ["sync", "hr", "--config", str(cfg)]).exit_code == 0
    found = runner.invoke(app, ["users", "--json", "--config", str(cfg)])
    assert sorted(u["login"] for u in json.loads(found.stdout)) == ["user0", "user1", "user2"]


def test_password_from_a_file_is_merged_into_the_url(tmp_path: Path) -> None:
    secret = tmp_path / "pg-password"
    secret.write_text("s3cr3t/pass@word\n", encoding="utf-8")
    settings = parse_config(
        f'[store]\nurl = "postgresql+psycopg://idpsync@db.example.org/idpsync"\n'
        f'password = "file:{secret}"\n'
    )
    url = settings.store.engine_url(tmp_path)
    assert url.password == "s3cr3t/pass@word"
    assert (url.host, url.username, url.database) == ("db.example.org", "idpsync", "idpsync")
    assert "s3cr3t" not in repr(settings) and "s3cr3t" not in str(url)


def test_a_relative_sqlite_path_is_taken_from_the_config_folder(tmp_path: Path) -> None:
    settings = parse_config('[store]\nurl = "sqlite:///data/idpsync.db"\n')
    assert settings.store.engine_url(tmp_path).database == str(tmp_path / "data/idpsync.db")
    settings = parse_config('[store]\nurl = "sqlite:////srv/idpsync.db"\n')
    assert settings.store.engine_url(tmp_path).database == "/srv/idpsync.db"


def test_reference_problems_name_the_key_and_never_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("IDPSYNC_TEST_UNSET", raising=False)
    assert problems('[store]\nurl = "env:IDPSYNC_TEST_UNSET"\n') == [
        "idpsync.toml:2: store.url: environment variable IDPSYNC_TEST_UNSET is not set"
    ]
    monkeypatch.setenv("IDPSYNC_TEST_BAD_URL", "mysql://root:hunter2@db/x")
    (line,) = problems('[store]\nurl = "env:IDPSYNC_TEST_BAD_URL"\n')
    assert line.startswith("idpsync.toml:2: store.url: use sqlite:///PATH or postgresql")
    assert "hunter2" not in line
    monkeypatch.setenv("IDPSYNC_TEST_BAD_URL", "postgresql://root:hunter2@db:notaport/x")
    (line,) = problems('[store]\nurl = "env:IDPSYNC_TEST_BAD_URL"\n')
    assert "not a valid URL" in line and "hunter2" not in line
    monkeypatch.setenv("IDPSYNC_TEST_PW", "hunter2")
    (line,) = problems('[store]\nurl = "sqlite:///x.db"\npassword = "env:IDPSYNC_TEST_PW"\n')
    assert "password is only for a PostgreSQL url" in line
    (line,) = problems(
        '[store]\nurl = "postgresql+psycopg://u:inline@db/x"\npassword = "env:IDPSYNC_TEST_PW"\n'
    )
    assert "password already" in line and "hunter2" not in line and "inline" not in line
    (line,) = problems('[store]\nurl = "sqlite:///x.db"\npassword = "hunter2"\n')
    assert line.startswith("idpsync.toml:3: store.password: secrets are not written inline")


def test_a_wrong_password_is_reported_without_it(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test server trusts local logins, so a role that does not exist stands in for a
    # refused login: the message comes from the server, the password must not.
    monkeypatch.setenv("IDPSYNC_TEST_PW", "hunter2-secret")
    url = sa.make_url(pg_url).set(username="idpsync_nobody")
    cfg = tmp_path / "idpsync.toml"
    cfg.write_text(
        f'[store]\nurl = "{url.render_as_string(hide_password=False)}"\n'
        'password = "env:IDPSYNC_TEST_PW"\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["users", "--config", str(cfg)])
    assert result.exit_code == 2
    assert 'role "idpsync_nobody" does not exist' in result.stderr
    assert "store.url: cannot connect to PostgreSQL at" in result.stderr
    assert "hunter2" not in result.output


def test_the_store_url_is_shown_without_its_password(pg_url: str) -> None:
    url = sa.make_url(pg_url).set(password="hunter2-secret")
    store = Store.open(url)  # the test server trusts local logins: any password does
    try:
        assert "hunter2" not in repr(store.engine.url) and "***" in repr(store.engine.url)
    finally:
        store.close()
