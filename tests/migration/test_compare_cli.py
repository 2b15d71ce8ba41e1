"""``idpsync connectors compare`` with two file connectors (issue #24)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from idpsync.cli import app
from idpsync.store import Store
from tests.filedata import write
from tests.migration.test_shadow import two_connectors

runner = CliRunner()


def person(pid: str, login: str, email: str, employee: str | None) -> dict[str, Any]:
    attributes = {"employeeId": employee} if employee else {}
    return {"id": pid, "login": login, "email": email, "attributes": attributes}


def overlap(tmp_path: Path) -> None:
    """Old: p0…p7. New: p0…p4 as they were, p5 with a new e-mail (same employeeId), two
    people sharing p6's e-mail, nobody for p7, and one newcomer."""
    olds = [person(f"o{i}", f"p{i}", f"p{i}@corp.example", f"E{i}") for i in range(8)]
    news = [person(f"n{i}", f"p{i}", f"P{i}@Corp.Example", f"E{i}") for i in range(5)]
    news += [
        person("n5", "p5", "p5.renamed@corp.example", "E5"),
        person("n6a", "p6", "p6@corp.example", None),
        person("n6b", "p6.two", "p6@corp.example", None),
        person("n9", "newcomer", "newcomer@corp.example", "E9"),
    ]
    news[0]["display_name"] = "Someone Else"
    write(tmp_path / "old.json", {"users": olds, "groups": []})
    write(tmp_path / "new.json", {"users": news, "groups": []})


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "250"})
    return result.exit_code, result.output


def synced(tmp_path: Path, store_url: str) -> str:
    overlap(tmp_path)
    cfg = two_connectors(tmp_path, store_url)
    for name in ("old", "new"):
        code, out = cli("sync", name, "--config", cfg)
        assert code == 0, out
    return cfg


KEYS = ("--match", "email", "--match", "attributes.employeeId")


def test_compare_json(tmp_path: Path, store: Store, store_url: str) -> None:
    cfg = synced(tmp_path, store_url)
    code, out = cli("connectors", "compare", "old", "new", *KEYS, "--json", "--config", cfg)
    assert code == 0, out
    data = json.loads(out)
    assert data["counts"] == {
        "matched": 6,
        "changed": 6,
        "only_old": 1,
        "only_new": 1,
        "ambiguous": 1,
    }
    by_login = {m["old"]["login"]: m for m in data["matched"]}
    assert by_login["p5"]["key"] == "attributes.employeeId"
    assert by_login["p5"]["new"]["source_id"] == "n5"
    assert by_login["p1"]["key"] == "email"
    assert {"field": "display_name", "old": None, "new": "Someone Else"} in (
        by_login["p0"]["differences"]
    )
    assert [p["login"] for p in data["only_old"]] == ["p7"]
    assert [p["source_id"] for p in data["only_new"]] == ["n9"]
    (amb,) = data["ambiguous"]
    assert (amb["key"], amb["value"], amb["kind"]) == (
        "email",
        "p6@corp.example",
        "one old to many new",
    )
    assert [p["login"] for p in amb["old"]] == ["p6"]
    assert sorted(p["source_id"] for p in amb["new"]) == ["n6a", "n6b"]


def test_compare_tables_and_csv(tmp_path: Path, store: Store, store_url: str) -> None:
    cfg = synced(tmp_path, store_url)
    code, out = cli("connectors", "compare", "old", "new", *KEYS, "--config", cfg)
    assert code == 0, out
    for text in ("matched", "only in old", "only in new", "ambiguous", "p5.renamed@corp.example"):
        assert text in out
    assert "email: p1@corp.example → P1@Corp.Example" in out
    code, out = cli("connectors", "compare", "old", "new", *KEYS, "--format", "csv", "-c", cfg)
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert sorted({r["category"] for r in rows}) == ["ambiguous", "matched", "only_new", "only_old"]
    assert len([r for r in rows if r["category"] == "ambiguous"]) == 3
    (p5,) = [r for r in rows if r["old_login"] == "p5"]
    assert (p5["key"], p5["new_source_id"]) == ("attributes.employeeId", "n5")
    assert p5["detail"] == "email: p5@corp.example → p5.renamed@corp.example"


def test_compare_limit_and_default_keys(tmp_path: Path, store: Store, store_url: str) -> None:
    cfg = synced(tmp_path, store_url)
    code, out = cli("connectors", "compare", "old", "new", "--limit", "2", "--config", cfg)
    assert code == 0, out
    assert "… and 4 more" in out  # p0…p4 by e-mail, p5 by login: 6 matched, 2 shown


def test_compare_errors(tmp_path: Path, store: Store, store_url: str) -> None:
    overlap(tmp_path)
    cfg = two_connectors(tmp_path, store_url)
    code, out = cli("connectors", "compare", "old", "nope", "--config", cfg)
    assert code == 2
    assert "no connector named 'nope' (known: new, old)" in out
    code, out = cli("connectors", "compare", "old", "new", "--config", cfg)
    assert code == 2
    assert "connector 'new' has not staged any users yet" in out
    code, out = cli("connectors", "compare", "old", "new", "--match", "mail", "--config", cfg)
    assert code == 2
    assert "unknown match key 'mail'" in out
    code, out = cli("connectors", "compare", "old", "new", "--format", "xml", "--config", cfg)
    assert code == 2
    assert "--format takes table, json or csv" in out
