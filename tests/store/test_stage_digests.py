"""The digest of each staged record (``source_users.digest``, ``source_groups.digest``).

A complete read compares digests instead of JSON texts in the database; what it stages and the
:class:`StageChange` it reports must be exactly what comparing the JSON gives. The reference
here is a model of the stage in Python (a record is rewritten, with the run, when its JSON
changed; a complete read deletes the records not given, bar the skipped ones). Rows staged
before digests existed (``NULL``), or rewritten by a version that does not write them, are
compared by their JSON and given their digest.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import fields

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idpsync.model import Snapshot, SourceGroup, SourceUser
from idpsync.store import Store, stage
from idpsync.store import schema as t
from idpsync.store.stage import DeltaSnapshot, StageChange, change_bound

USER_IDS = [f"u{i}" for i in range(6)]
GROUP_IDS = [f"g{i}" for i in range(3)]
WORDS = st.sampled_from(["a", "b"])

users = st.builds(
    SourceUser,
    st.sampled_from(USER_IDS),
    WORDS,
    active=st.booleans(),
    attributes=st.dictionaries(st.sampled_from(["x", "y"]), WORDS, max_size=2),
)
groups = st.builds(
    SourceGroup,
    st.sampled_from(GROUP_IDS),
    WORDS,
    attributes=st.sampled_from([{}, {"email": "a@x"}, {"email": "b@x"}]),
)


@st.composite
def reads(draw: st.DrawFn) -> Snapshot:
    """A complete or incomplete read, or a complete delta, some records skipped."""
    kind = draw(st.sampled_from(["complete", "incomplete", "delta"]))
    found_users, found_groups = (
        draw(st.lists(users, max_size=7)),
        draw(st.lists(groups, max_size=4)),
    )
    if kind == "delta":
        return DeltaSnapshot(
            found_users,
            found_groups,
            removed_users=draw(st.lists(st.sampled_from(USER_IDS), max_size=2)),
            removed_groups=draw(st.lists(st.sampled_from(GROUP_IDS), max_size=1)),
        )
    snap = Snapshot(found_users, found_groups, complete=kind == "complete")
    for source_id in draw(st.lists(st.sampled_from(USER_IDS), max_size=2)):
        snap.skip("user", source_id, source_id, "unusable")
    return snap


Model = dict[str, dict[str, tuple[str, int]]]
"""Per table: each staged id's JSON text and run."""


def _text(record: SourceUser | SourceGroup) -> str:
    data = {f.name: getattr(record, f.name) for f in fields(record)}
    data["attributes"] = dict(data["attributes"])
    if isinstance(record, SourceGroup) and not data["attributes"]:
        del data["attributes"]  # a group without any is staged as before groups had them
    return json.dumps(data)


def _model_write(model: Model, snap: Snapshot, run_id: int) -> StageChange | None:
    """What staging ``snap`` must do to the records, by comparing their JSON text."""
    change = StageChange()
    removed: dict[str, list[str]] = {"source_users": [], "source_groups": []}
    if isinstance(snap, DeltaSnapshot):
        removed = {"source_users": snap.removed_users, "source_groups": snap.removed_groups}
    for name, records, listed in (
        ("source_users", snap.users, change.users),
        ("source_groups", snap.groups, change.groups),
    ):
        staged, gone = model[name], set(removed[name])
        latest = {r.source_id: _text(r) for r in records if r.source_id not in gone}
        keep = {r.source_id for r in snap.skipped if f"source_{r.kind}s" == name}
        replace = snap.complete and not isinstance(snap, DeltaSnapshot)
        out = [
            sid
            for sid, (text, _) in staged.items()
            if (sid in latest and latest[sid] != text)
            or (replace and sid not in latest and sid not in keep)
            or sid in gone
        ]
        if replace:
            out = [sid for sid in out if sid not in keep]
        for sid in out:
            del staged[sid]
        new = [sid for sid in latest if sid not in staged]
        staged.update((sid, (latest[sid], run_id)) for sid in new)
        found = {*out, *new}
        if len(found) > change_bound(len(latest)):
            change.large = "large"
        listed.update(found)
    if not snap.complete or isinstance(snap, DeltaSnapshot):
        return None
    return change


def _records(store: Store, connector: str) -> tuple[Model, dict[str, str | None]]:
    """The staged records (JSON text and run) and their digests."""
    model: Model = {}
    digests: dict[str, str | None] = {}
    with store.read() as conn:
        for table in (t.source_users, t.source_groups):
            c = table.c
            query = sa.select(c.source_id, sa.cast(c.data, sa.Text), c.run_id, c.digest)
            rows = conn.execute(query.where(c.connector == connector)).all()
            model[table.name] = {sid: (text, run) for sid, text, run, _ in rows}
            digests.update((f"{table.name}/{sid}", digest) for sid, _, _, digest in rows)
    return model, digests


def _forget_digests(store: Store, connector: str, rewrite: bool) -> None:
    """As a version without digests leaves the stage: none, and (``rewrite``) a record changed."""
    with store.transaction() as conn:
        for table in (t.source_users, t.source_groups):
            c = table.c
            conn.execute(table.update().where(c.connector == connector).values(digest=None))
            if rewrite:
                first = conn.execute(
                    sa.select(c.source_id).where(c.connector == connector).limit(1)
                ).scalar()
                if first is not None:
                    data = {"source_id": first, "display_name": "rewritten elsewhere"}
                    values = {"data": data, "run_id": 0}
                    where = (c.connector == connector, c.source_id == first)
                    conn.execute(table.update().where(*where).values(**values))


_names = itertools.count()


def _blake(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sequence=st.lists(st.tuples(reads(), st.sampled_from(["", "forget", "rewrite"])), max_size=5)
)
def test_staging_by_digest_equals_comparing_the_json(
    store: Store, sequence: list[tuple[Snapshot, str]]
) -> None:
    connector = f"d{next(_names)}"
    model: Model = {"source_users": {}, "source_groups": {}}
    with store.transaction() as conn:
        store.ensure_connector(conn, connector, "file")
    for run_id, (snap, before) in enumerate(sequence, start=1):
        if before:
            _forget_digests(store, connector, rewrite=before == "rewrite")
            model = _records(store, connector)[0]
        with store.transaction() as conn:
            change = store.write_stage(conn, connector, snap, run_id)
        expected = _model_write(model, snap, run_id)
        staged, digests = _records(store, connector)
        assert staged == model
        if expected is None or expected.large:
            assert change is None or change.large
        else:
            assert change is not None
            assert (change.users, change.groups) == (expected.users, expected.groups)
        for key, digest in digests.items():  # a digest is written with every record
            table, sid = key.split("/", 1)
            if digest is not None or (snap.complete and not isinstance(snap, DeltaSnapshot)):
                assert digest == _blake(staged[table][sid][0])


def test_a_stage_without_digests_is_compared_by_json_and_given_them(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stage, "_FILL_PAGE", 1)  # filled in page by page
    first = Snapshot([SourceUser("u1", "Ann"), SourceUser("u2", "Bob")], [SourceGroup("g", "G")])
    with store.transaction() as conn:
        store.ensure_connector(conn, "hr", "file")
        store.write_stage(conn, "hr", first, 1)
    _forget_digests(store, "hr", rewrite=False)
    with store.transaction() as conn:  # an older version rewrote u2's record, without digest
        c = t.source_users.c
        where = (c.connector == "hr", c.source_id == "u2")
        conn.execute(t.source_users.update().where(*where).values(data={"x": 1}, run_id=1))
    with store.transaction() as conn:
        change = store.write_stage(conn, "hr", first, 2)
    assert change is not None and change.users == {"u2"} and change.groups == set()
    staged, digests = _records(store, "hr")
    assert staged["source_users"]["u1"][1] == 1  # unchanged: not rewritten
    assert staged["source_users"]["u2"] == (_text(first.users[1]), 2)
    assert all(d == _blake(staged[k.split("/")[0]][k.split("/")[1]][0]) for k, d in digests.items())
    with store.transaction() as conn:
        assert store.write_stage(conn, "hr", first, 3) == StageChange()


def test_a_stage_whose_rows_all_have_digests_is_not_scanned_for_missing_ones(
    store: Store,
) -> None:
    first = Snapshot([SourceUser("u1", "Ann"), SourceUser("u2", "Bob")], [SourceGroup("g", "G")])
    with store.transaction() as conn:
        store.ensure_connector(conn, "hr", "file")
        store.write_stage(conn, "hr", first, 1)
    seen: list[str] = []

    def statement(*args: object) -> None:
        seen.append(" ".join(str(args[2]).split()))

    sa.event.listen(store.engine, "before_cursor_execute", statement)
    try:
        with store.transaction() as conn:
            again = Snapshot([SourceUser("u1", "Ann"), SourceUser("u2", "Bo")], first.groups)
            change = store.write_stage(conn, "hr", again, 2)
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", statement)
    assert change is not None and change.users == {"u2"}
    assert seen and not [s for s in seen if "digest IS NULL" in s]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)
any_text = st.none() | st.text()
attributes = st.dictionaries(st.text() | st.integers(), json_values, max_size=4)


@given(
    record=st.builds(
        SourceUser,
        st.text(),
        st.text(),
        email=any_text,
        display_name=any_text,
        active=st.booleans(),
        manager_id=any_text,
        attributes=attributes,
    )
    | st.builds(SourceGroup, st.text(), st.text(), any_text, attributes=attributes)
)
def test_a_records_staged_text_is_json_dumps_of_its_fields(
    record: SourceUser | SourceGroup,
) -> None:
    assert stage._json(record) == _text(record)


def test_a_record_of_strings_none_and_booleans_is_written_without_json_dumps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expected = [
        _text(SourceUser("u1", "Ann", attributes={"x": "Ü", "y": None})),
        _text(SourceGroup("g", "G")),
    ]

    def refused(*args: object, **kwargs: object) -> str:
        raise AssertionError("json.dumps called")

    monkeypatch.setattr(stage.json, "dumps", refused)
    user = SourceUser("u1", "Ann", attributes={"x": "Ü", "y": None})
    assert [stage._json(user), stage._json(SourceGroup("g", "G"))] == expected
