"""``idpsync runs show RUN``: tables by default, JSON and CSV for scripts, the page's filters."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from typer.testing import CliRunner

from idpsync.cli import app
from tests.filedata import people, write
from tests.test_cli import make_config

runner = CliRunner()

POLICY = """
[connectors.hr.policy]
user_filters = [{ action = "exclude", field = "login", op = "equals", value = "user7" }]
"""


def _show(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["runs", "show", *args])
    return result.exit_code, result.stdout, result.stderr


def _two_runs(tmp_path: Path, store_url: str) -> tuple[str, list[str]]:
    doc = people(30)
    doc["users"][3]["display_name"] = "Ciaran OBrien"
    write(tmp_path / "people.json", doc)
    cfg = str(make_config(tmp_path, store_url, POLICY))
    assert runner.invoke(app, ["sync", "hr", "-c", cfg]).exit_code == 0
    doc["users"][3]["display_name"] = "Ciarán O'Brien"
    doc["users"][4]["display_name"] = "=HYPERLINK(1)"
    write(tmp_path / "people.json", doc)
    assert runner.invoke(app, ["sync", "hr", "-c", cfg]).exit_code == 0
    return cfg, ["-c", cfg]


def test_table_json_and_csv_with_filters(tmp_path: Path, store_url: str) -> None:
    _cfg, c = _two_runs(tmp_path, store_url)
    code, out, _ = _show("2", *c)
    assert code == 0, out
    assert "run 2 of hr: succeeded" in out and "changes (2)" in out
    flat = re.sub(r"[\s│┃]", "", out)  # the table wraps long cells
    assert "CiaranOBrien→CiaránO'Brien" in flat and "\\u00e1" not in out
    assert "out_of_scope (1)" in out and "excludedbyuserfilter#1(loginequals)" in flat

    code, out, _ = _show("1", "--op", "user.create", "--limit", "5", *c)
    assert code == 0 and "changes (29)" in out and "showing 5 of 29" in out

    code, out, _ = _show("2", "--user", "ciarán", "--format", "json", *c)
    document = json.loads(out)
    assert document["run"]["id"] == 2
    assert [e["key"] for e in document["entries"]] == ["user3"]
    assert document["entries"][0]["after"] == {"display_name": "Ciarán O'Brien"}

    code, out, _ = _show("2", "--format", "csv", *c)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["key"] for r in rows] == ["user3", "user4"]
    assert json.loads(rows[1]["after"].lstrip("'")) == {"display_name": "=HYPERLINK(1)"}
    assert rows[1]["after"].startswith("{")  # JSON text: no formula to neutralise

    code, out, _ = _show("2", "--outcome", "out_of_scope", "-f", "csv", *c)
    assert [(r["key"], r["outcome"]) for r in csv.DictReader(io.StringIO(out))] == [
        ("user7", "out_of_scope")
    ]
    code, out, _ = _show("1", "--format", "json", "--offset", "28", "--limit", "5", *c)
    assert len(json.loads(out)["entries"]) == 5


def test_refusals(tmp_path: Path, store_url: str) -> None:
    _cfg, c = _two_runs(tmp_path, store_url)
    code, _, err = _show("2", "--op", "user.explode", *c)
    assert code == 2 and "unknown operation 'user.explode'" in err
    code, _, err = _show("2", "--outcome", "gone", *c)
    assert code == 2 and "unknown outcome" in err
    code, _, err = _show("99", *c)
    assert code == 2 and "no run 99" in err
    code, _, err = _show("2", "--all", "--limit", "3", *c)
    assert code == 2 and "exclude each other" in err
