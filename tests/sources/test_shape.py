"""The shared shape checks: pages raise ShapeError, records are skipped or make it incomplete."""

from __future__ import annotations

import pytest

from idpsync.model import Snapshot, SourceGroup
from idpsync.sources.shape import (
    ID,
    TEXT,
    BadRecord,
    ShapeError,
    check,
    identified,
    optional_text,
    page_items,
    records,
)


def test_page_shapes() -> None:
    assert page_items({"value": [1]}, "value", "GET /x") == [1]
    assert page_items({}, "value", "GET /x") == []
    with pytest.raises(ShapeError, match=r"^GET /x: the answer is a list, expected a JSON object"):
        page_items([], "value", "GET /x")
    with pytest.raises(ShapeError, match=r"'value' is null, expected a list"):
        page_items({"value": None}, "value", "GET /x")
    with pytest.raises(ShapeError, match=r"'next' is a number, expected text"):
        optional_text({"next": 3}, "next", "GET /x")
    assert optional_text({"next": ""}, "next", "GET /x") is None


def test_schema_check_names_the_field() -> None:
    check({"name": "a", "id": 3}, {"name": TEXT, "id": ID})
    with pytest.raises(BadRecord, match=r"'id' is true or false, expected text or a number"):
        check({"id": True}, {"id": ID})
    with pytest.raises(BadRecord, match=r"'name' is an object, expected text"):
        check({"name": {}}, {"name": TEXT})


def test_records_skip_or_mark_incomplete() -> None:
    snap = Snapshot()

    def group(item: dict[str, object]) -> SourceGroup:
        check(item, {"name": TEXT})
        return SourceGroup(str(item["id"]), str(item["name"]))

    items = [{"id": "g1", "name": "A"}, {"id": "g2", "name": ["B"]}, {"name": "C"}, "x"]
    found = records(snap, "GET /groups", "group", items, group, lambda i: i.get("name"))
    assert [g.source_id for g in found] == ["g1"]
    [skipped] = snap.skipped
    assert (skipped.kind, skipped.source_id, skipped.key) == ("group", "g2", "g2")
    assert skipped.reason == "GET /groups: 'name' is a list, expected text"
    assert not snap.complete
    assert "GET /groups: 2 item(s) are not objects with a usable id (skipped)" in (
        snap.incomplete_reasons
    )
    other = Snapshot()
    assert identified(other, "GET /m", [{"id": 1}, {"id": ""}]) == [{"id": 1}]
    assert other.incomplete_reasons == ["GET /m: 1 item(s) are not objects with a usable id"]
