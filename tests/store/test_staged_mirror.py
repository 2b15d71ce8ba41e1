"""The staged mirror a source's ``delta()`` gets: each part read only when used, all parts from
one committed stage, and narrow reads (ids, managers) that build no record."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from idpsync.app.runner import run_sync
from idpsync.config import ConnectorSettings
from idpsync.model import MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.sources.base import DeltaResult, Progress, Source, no_progress
from idpsync.store import Store
from idpsync.store import staged_mirror as staged_mirror_module
from idpsync.store.staged_mirror import MirrorClosed, StagedMirror, staged_mirror
from tests.store.test_stage_sql import stage_of, users, write

G = [SourceGroup("g1", "One"), SourceGroup("g2", "Two")]
BOSSED = [
    SourceUser("u1", "ann"),
    SourceUser("u2", "bob", manager_id="u1"),
    SourceUser("u3", "cy", manager_id="u1", attributes={"manager_id": "not this"}),
]


def loaded(mirror: StagedMirror) -> tuple[bool, bool, bool]:
    return mirror.users_loaded, mirror.groups_loaded, mirror.edges_loaded


def test_narrow_reads_build_no_record_and_agree_with_the_records(store: Store) -> None:
    write(store, Snapshot(BOSSED, G, [Membership("g1", "u2")]), 1)
    with staged_mirror(store, "hr") as mirror:
        assert sorted(mirror.user_ids()) == ["u1", "u2", "u3"]
        assert sorted(mirror.group_ids()) == ["g1", "g2"]
        managers = mirror.managers()
        assert managers == {"u1": None, "u2": "u1", "u3": "u1"}
        assert loaded(mirror) == (False, False, False)
        assert mirror.memberships == [Membership("g1", "u2")]
        assert loaded(mirror) == (False, False, True)
        assert sorted(u.login for u in mirror.users) == ["ann", "bob", "cy"]
        assert sorted(g.name for g in mirror.groups) == ["One", "Two"]
        assert loaded(mirror) == (True, True, True)
        assert mirror.managers() == managers == Snapshot(mirror.users).managers()
        assert sorted(mirror.user_ids()) == ["u1", "u2", "u3"]


def test_edges_by_member_and_by_group_are_read_alone_in_batches(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staged_mirror_module, "IN_BATCH", 2)  # several selects a call
    nested = Membership("g2", "g1", MemberKind.GROUP)
    edges = [Membership(g, u) for g in ("g1", "g2") for u in ("u1", "u2", "u3")] + [nested]
    write(store, Snapshot(BOSSED, G, edges), 1)
    whole = Snapshot(BOSSED, G, edges)
    with staged_mirror(store, "hr") as mirror:
        for ids in (["u1", "u3", "g1", "nobody"], [], ["u2"]):
            assert sorted(mirror.edges_of_members(ids)) == sorted(whole.edges_of_members(ids))
        for ids in (["g2", "g1", "gone"], [], ["g1"]):
            assert sorted(mirror.edges_of_groups(ids)) == sorted(whole.edges_of_groups(ids))
        assert sorted(mirror.edges_of_members({"g1", "u1"})) == sorted(
            [Membership("g1", "u1"), Membership("g2", "u1"), nested]
        )
        assert loaded(mirror) == (False, False, False)
        mirror.memberships = [Membership("g9", "u9")]  # read whole (or set): answered from it
        assert mirror.edges_of_members(["u9", "u1"]) == [Membership("g9", "u9")]
        assert mirror.edges_of_groups(["g1"]) == []
    with staged_mirror(store, "hr") as late:
        pass
    with pytest.raises(MirrorClosed):
        late.edges_of_groups(["g1"])


def test_users_by_id_and_by_attribute_are_read_alone(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staged_mirror_module, "IN_BATCH", 2)
    people = [
        SourceUser("u1", "ann", attributes={"status": "DEPROVISIONED"}),
        SourceUser("u2", "bob", attributes={"status": "ACTIVE"}),
        SourceUser("u3", "cy", attributes={"status": "DEPROVISIONED", "n": 1}),
        SourceUser("u4", "dee"),
    ]
    write(store, Snapshot(people, G), 1)
    whole = Snapshot(people, G)
    with staged_mirror(store, "hr") as mirror:
        for ids in (["u3", "u1", "u9", "u2"], [], ["u4"]):
            got = sorted(mirror.users_of(ids), key=lambda u: u.source_id)
            assert got == sorted(whole.users_of(ids), key=lambda u: u.source_id)
        assert sorted(mirror.user_ids_with("status", "DEPROVISIONED")) == ["u1", "u3"]
        assert mirror.user_ids_with("status", "ACTIVE") == ["u2"]
        assert mirror.user_ids_with("n", "x") == []
        assert loaded(mirror) == (False, False, False)
        assert whole.user_ids_with("status", "DEPROVISIONED") == ["u1", "u3"]


def test_named_attributes_of_every_user_are_read_alone(store: Store) -> None:
    people = [
        SourceUser("u1", "ann", attributes={"primaryEmail": "ann@x", "aliases": ["a@x", "b@x"]}),
        SourceUser("u2", "bob", attributes={"primaryEmail": "bob@x", "aliases": None, "n": 2}),
        SourceUser("u3", "cy"),
    ]
    write(store, Snapshot(people, G), 1)
    whole = Snapshot(people, G)
    names = ("primaryEmail", "aliases")
    expected = {"u1": {"primaryEmail": "ann@x", "aliases": ["a@x", "b@x"]}}
    expected |= {"u2": {"primaryEmail": "bob@x"}, "u3": {}}
    with staged_mirror(store, "hr") as mirror:
        assert mirror.user_attribute_values(names) == expected
        assert loaded(mirror) == (False, False, False)
        assert whole.user_attribute_values(names) == expected
        assert mirror.user_attribute_values(["n"])["u2"] == {"n": 2}
        mirror.users = people[:1]  # read whole (or set): answered from it
        assert mirror.user_attribute_values(["aliases"]) == {"u1": {"aliases": ["a@x", "b@x"]}}


def test_named_attributes_of_every_group_are_read_alone(store: Store) -> None:
    groups = [
        SourceGroup("g1", "One", attributes={"email": "one@x", "n": 1}),
        SourceGroup("g2", "Two"),  # no attributes: staged as before groups had any
    ]
    write(store, Snapshot(BOSSED, groups), 1)
    assert stage_of(store)["source_groups"]["g2"][0] == {
        "source_id": "g2",
        "name": "Two",
        "description": None,
    }
    expected = {"g1": {"email": "one@x"}, "g2": {}}
    with staged_mirror(store, "hr") as mirror:
        assert mirror.group_attribute_values(["email"]) == expected
        assert loaded(mirror) == (False, False, False)
        assert Snapshot(BOSSED, groups).group_attribute_values(["email"]) == expected
        assert mirror.groups == groups  # the record reads back with its attributes
        assert mirror.group_attribute_values(["n"]) == {"g1": {"n": 1}, "g2": {}}


def test_a_set_part_is_never_read(store: Store) -> None:
    write(store, Snapshot(BOSSED, G), 1)
    with staged_mirror(store, "hr") as mirror:
        mirror.users, mirror.groups = [SourceUser("u9", "zed")], []
        assert loaded(mirror) == (True, True, False)
        assert mirror.user_ids() == ["u9"] and mirror.group_ids() == []
        assert mirror.managers() == {"u9": None}


def test_a_part_first_used_after_the_block_is_refused(store: Store) -> None:
    write(store, Snapshot(BOSSED, G, [Membership("g1", "u2")]), 1)
    with staged_mirror(store, "hr") as mirror:
        assert len(mirror.groups) == 2
    assert len(mirror.groups) == 2  # read in time: kept
    with pytest.raises(MirrorClosed, match="connector 'hr' was first used after"):
        _ = mirror.users
    with pytest.raises(MirrorClosed):
        mirror.managers()
    with pytest.raises(MirrorClosed):
        _ = mirror.memberships


def test_a_read_transaction_the_server_ended_meanwhile_fails_nothing(
    fresh_pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL may end the session while delta() waits on the network (an
    idle_in_transaction_session_timeout): the block still ends quietly, the store still works."""
    store = Store.open(fresh_pg_url)
    try:
        write(store, Snapshot(BOSSED, G, [Membership("g1", "u2")]), 1)
        with staged_mirror(store, "hr") as mirror:
            assert sorted(mirror.group_ids()) == ["g1", "g2"]
            pid = mirror._connection().execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            with store.engine.connect() as other:
                other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert "its read transaction had ended already" in caplog.text
        with staged_mirror(store, "hr") as again:
            assert sorted(again.user_ids()) == ["u1", "u2", "u3"]
    finally:
        store.close()


def test_every_part_is_read_from_the_stage_committed_when_the_block_began(store: Store) -> None:
    write(store, Snapshot(BOSSED, G, [Membership("g1", "u2")]), 1)
    with staged_mirror(store, "hr") as mirror:
        # another run stages a new mirror and commits while the source reads its delta
        write(store, Snapshot(users(u7="gus"), [SourceGroup("g7", "Seven")]), 2)
        assert sorted(mirror.user_ids()) == ["u1", "u2", "u3"]
        assert mirror.managers()["u2"] == "u1"
        assert sorted(mirror.group_ids()) == ["g1", "g2"]
        assert mirror.memberships == [Membership("g1", "u2")]
        assert sorted(u.login for u in mirror.users) == ["ann", "bob", "cy"]
    assert set(stage_of(store)["source_users"]) == {"u7"}  # the other run's stage stands


class Looking(Source):
    """A source whose delta read looks at the staged mirror through ``look`` only."""

    type = "file"

    def __init__(self, delta: DeltaResult, look: Callable[[Snapshot], Any]) -> None:
        super().__init__()
        self._delta, self._look = delta, look
        self.staged: Snapshot | None = None
        self.seen: Any = None

    def wants_full(self, state: dict[str, Any]) -> bool:
        return False

    async def snapshot(self, progress: Progress = no_progress) -> Snapshot:
        self.saved_state = {"mark": 1}
        edges = [Membership("g1", "u1"), Membership("g2", "u2")]
        return Snapshot(users(u1="ann", u2="bob"), list(G), edges)

    async def delta(
        self, state: dict[str, Any], staged: Snapshot, progress: Progress = no_progress
    ) -> DeltaResult | None:
        self.staged, self.seen = staged, self._look(staged)
        return self._delta


LOOKS: dict[str, tuple[Callable[[Snapshot], Any], Any, tuple[bool, bool, bool]]] = {
    "nothing": (lambda staged: None, None, (False, False, False)),
    "user ids": (lambda staged: sorted(staged.user_ids()), ["u1", "u2"], (False, False, False)),
    "managers": (lambda staged: staged.managers(), {"u1": None, "u2": None}, (False, False, False)),
    "users": (
        lambda staged: sorted(u.login for u in staged.users),
        ["ann", "bob"],
        (True, False, False),
    ),
}


@pytest.mark.parametrize("look", LOOKS, ids=list(LOOKS))
def test_an_incremental_run_reads_only_the_parts_its_source_uses(store: Store, look: str) -> None:
    settings = ConnectorSettings.model_validate(
        {"source": {"type": "file", "path": "unused"}, "policy": {}}
    )
    delta = DeltaResult(
        users=users(u3="cy"),
        added=[Membership("g1", "u3")],
        removed_users=["u2"],
        state={"mark": 2},
    )
    how, seen, parts = LOOKS[look]
    source = Looking(delta, how)
    assert asyncio.run(run_sync(store, "hr", settings, source, mode="full")).status == "succeeded"
    second = asyncio.run(run_sync(store, "hr", settings, source, mode="incremental"))
    assert second.status == "succeeded", second.message
    assert isinstance(source.staged, StagedMirror)
    assert loaded(source.staged) == parts and source.seen == seen
    assert second.summary()["users_created"] == 1
    assert second.summary()["users_deleted"] + second.summary()["users_deactivated"] == 1
    staged = stage_of(store)
    assert set(staged["source_users"]) == {"u1", "u3"}
    assert set(staged["source_memberships"]) == {("g1", "user", "u1"), ("g1", "user", "u3")}
    with store.read() as conn:
        assert store.connector_state(conn, "hr") == {"mark": 2}


def test_a_repr_reads_nothing(store: Store) -> None:
    write(store, Snapshot(BOSSED, G), 1)
    with staged_mirror(store, "hr") as mirror:
        assert repr(mirror) == "StagedMirror('hr', read: nothing)"
        assert len(mirror.groups) == 2
    assert repr(mirror) == "StagedMirror('hr', read: groups)"
