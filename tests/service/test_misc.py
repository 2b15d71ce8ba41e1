"""Smaller parts of the service: password and token hashes, JSON logs, the CLI helpers,
the Authorize page, the PostgreSQL advisory lock, configuration errors."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from idpsync.cli import app
from idpsync.config import ConfigError, parse_config
from idpsync.service.locks import LOCK_NAMESPACE, ConnectorLocks
from idpsync.service.logs import JsonFormatter
from idpsync.store import Store
from idpsync.web.security import hash_password, token_client, verify_password
from tests.service.support import harness, login


def test_password_hash_round_trip_and_malformed_hashes() -> None:
    stored = hash_password("s3cret")
    assert stored.startswith("scrypt$") and "s3cret" not in stored
    assert verify_password("s3cret", stored)
    assert not verify_password("S3cret", stored)
    assert not verify_password("s3cret", "scrypt$bad")
    assert not verify_password("s3cret", None)


def test_cli_prints_a_password_hash_and_a_new_token() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["serve", "--hash-password"], input="pw-one\npw-one\n")
    assert result.exit_code == 0, result.output
    digest = re.search(r"scrypt\$\S+", result.output)
    assert digest is not None and verify_password("pw-one", digest.group(0))
    result = runner.invoke(app, ["serve", "--new-token"])
    token = re.search(r"token \(give it to the API client\): (\S+)", result.output)
    digest = re.search(r"(sha256\$[0-9a-f]{64})", result.output)
    assert token and digest
    assert token_client(token.group(1), {"app": digest.group(1)}) == "app"


def test_config_refuses_a_plain_token_and_a_bad_cron() -> None:
    with pytest.raises(ConfigError) as bad:
        parse_config('[service]\napi_tokens = { app = "my-plain-token" }\n')
    assert "never the token itself" in "\n".join(bad.value.problems)
    assert "my-plain-token" not in "\n".join(bad.value.problems)
    text = '[connectors.hr]\nschedule = { full = "sometimes" }\n[connectors.hr.source]\n'
    with pytest.raises(ConfigError) as cron:
        parse_config(text + 'type = "file"\npath = "x.json"\n')
    assert "connectors.hr.schedule.full" in "\n".join(cron.value.problems)


def test_json_log_lines_carry_extra_fields() -> None:
    record = logging.LogRecord("idpsync.service", logging.INFO, "x", 1, "run finished", None, None)
    record.connector, record.run_id = "hr", 7
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "run finished" and line["connector"] == "hr"
    assert line["run_id"] == 7 and line["level"] == "info"


async def test_authorize_page_for_a_source_without_interactive_flow(
    tmp_path: Path, store: Store
) -> None:
    h = harness(tmp_path, store)
    async with h.client() as web:
        assert (await web.get("/connectors/hr/authorize")).status_code == 303
        await login(web)
        page = await web.get("/connectors/hr/authorize")
        assert "no interactive authorization" in page.text
        forged = await web.get("/connectors/hr/authorize/callback?code=x&state=y")
        assert forged.status_code == 400


def test_advisory_lock_is_seen_by_other_sessions(pg_url: str) -> None:
    store = Store.open(pg_url)
    try:
        locks = ConnectorLocks(store.engine)
        other = sa.create_engine(pg_url)
        probe = sa.text("SELECT pg_try_advisory_lock(:ns, hashtext('hr'))")
        with locks.hold("hr") as taken, other.connect() as conn:
            assert taken
            assert conn.execute(probe, {"ns": LOCK_NAMESPACE}).scalar_one() is False
        with other.connect() as conn:
            assert conn.execute(probe, {"ns": LOCK_NAMESPACE}).scalar_one() is True
            conn.execute(sa.text("SELECT pg_advisory_unlock_all()"))
        other.dispose()
    finally:
        store.close()
