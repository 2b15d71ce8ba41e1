"""The group sizes the membership limits read (:func:`idpsync.app.checks.group_sizes`)."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from idpsync.app.checks import group_sizes
from idpsync.store import Store
from idpsync.store import schema as t
from idpsync.store.store import now


def _group(conn: Connection, owner: str | None, source_id: str, name: str) -> int:
    row = {"connector": owner, "source_id": source_id, "name": name, "name_key": name.casefold()}
    stamps = {"created_at": now(), "updated_at": now()}
    result = conn.execute(t.groups.insert().values(**row, **stamps))
    return int(result.inserted_primary_key[0])


def test_sizes_count_members_of_any_owner_and_only_the_connectors_groups(store: Store) -> None:
    with store.transaction() as conn:
        store.ensure_connector(conn, "hr", "file")
        store.ensure_connector(conn, "crm", "file")
        eng = _group(conn, "hr", "g-eng", "Eng")
        _group(conn, "hr", "g-empty", "Empty")
        other = _group(conn, "crm", "g-eng", "CRM Eng")  # same source id, other owner
        owners = {eng: ["hr", "hr", None, "crm"], other: ["crm", "crm"]}
        rows = [
            {"connector": owner, "group_id": gid, "member_kind": "user", "member_id": i}
            for gid, owned in owners.items()
            for i, owner in enumerate(owned, start=1)
        ]
        conn.execute(t.memberships.insert().values(created_at=now()), rows)
        sizes, names = group_sizes(conn, "hr", ["g-eng", "g-empty", "g-unknown"])
    assert sizes == {"g-eng": 4, "g-empty": 0}
    assert names == {"g-eng": "Eng", "g-empty": "Empty"}


def test_sizes_of_many_groups_read_in_chunks(store: Store) -> None:
    ids = [f"g-{i:04d}" for i in range(1_205)]
    with store.transaction() as conn:
        store.ensure_connector(conn, "hr", "file")
        gids = [_group(conn, "hr", sid, sid.upper()) for sid in ids]
        rows = [
            {"connector": "hr", "group_id": gid, "member_kind": "user", "member_id": m}
            for n, gid in enumerate(gids)
            for m in range(n % 3)
        ]
        conn.execute(t.memberships.insert().values(created_at=now()), rows)
        sizes, names = group_sizes(conn, "hr", ids)
    assert sizes == {sid: n % 3 for n, sid in enumerate(ids)}
    assert len(names) == len(ids) and names["g-0007"] == "G-0007"
