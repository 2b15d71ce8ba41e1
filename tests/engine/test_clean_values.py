"""Values no store holds alike (NUL, NaN, lone surrogates, huge fields): same on both stores."""

from __future__ import annotations

import math

from idpsync.app.runner import RunResult, run_sync
from idpsync.config import ConnectorSettings
from idpsync.model import DirectoryState, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.sources.base import Progress, Source, no_progress
from idpsync.sources.clean import clean_attributes, normalise
from idpsync.sources.file.settings import FileSourceSettings
from idpsync.store import Store

SETTINGS = ConnectorSettings(source=FileSourceSettings(type="file", path="x.json"))


class Fixed(Source):
    """A source that returns a fresh copy of a fixed snapshot."""

    type = "file"

    def __init__(self, users: list[SourceUser], groups: list[SourceGroup] | None = None) -> None:
        super().__init__()
        self.users, self.groups = users, groups or []

    async def snapshot(self, progress: Progress = no_progress) -> Snapshot:
        edges = [Membership(g.source_id, u.source_id) for g in self.groups for u in self.users]
        return Snapshot(list(self.users), list(self.groups), edges)


async def sync(store: Store, users: list[SourceUser], groups: list[SourceGroup]) -> RunResult:
    return await run_sync(store, "hr", SETTINGS, Fixed(users, groups))


def directory(store: Store) -> DirectoryState:
    with store.transaction() as conn:
        return store.load_directory(conn, "hr")


ENG = SourceGroup("g-1", "Eng")


async def test_nul_nan_and_surrogates_are_cleaned_alike(store: Store) -> None:
    odd = SourceUser(
        "u-1",
        "ada",
        display_name="Ada\x00 Love\x07lace\ud800",
        attributes={
            "score": math.nan,
            "big": math.inf,
            "n": 10**5000,
            "m": 2**70,
            "note\x00": ["a\x00b", 1.5],
        },
    )
    first = await sync(store, [odd], [ENG])
    assert first.status == "succeeded", first.message
    user = directory(store).users["u-1"]
    assert user.login == "ada" and user.display_name == "Ada Lovelace\ufffd"
    wanted = {"score": None, "big": None, "n": None, "m": 2**70, "note": ["ab", 1.5]}
    assert user.attributes == wanted
    again = await sync(store, [odd], [ENG])
    assert again.status == "succeeded" and len(again.plan) == 0


async def test_a_name_with_a_control_character_is_skipped_not_altered(store: Store) -> None:
    # "ada\x00" cleaned to "ada" would take over the real ada's name: it is refused instead.
    ada, odd = SourceUser("u-1", "ada"), SourceUser("u-2", "ada\x00", email="x\x07@example.org")
    result = await sync(store, [ada, odd], [SourceGroup("g-1", "Eng\x1b")])
    skipped = {item["source_id"]: item["reason"] for item in result.details["skipped"]}
    assert skipped["u-2"] == "user u-2: login holds a control character (U+0000)"
    assert skipped["g-1"] == "group g-1: name holds a control character (U+001B)"
    assert set(directory(store).users) == {"u-1"}
    assert result.status == "partial"  # a skipped group could take members out of scope


async def test_an_over_long_field_skips_the_record_and_keeps_it(store: Store) -> None:
    ada, bob = SourceUser("u-1", "ada", display_name="Ada"), SourceUser("u-2", "bob")
    assert (await sync(store, [ada, bob], [ENG])).status == "succeeded"
    huge = SourceUser("u-1", "ada2", display_name="A" * 5000)
    newcomer = SourceUser("u-3", "cy", given_name=["not", "text"])  # type: ignore[arg-type]
    result = await sync(store, [huge, bob, newcomer], [ENG])
    assert result.status == "succeeded", result.message
    skipped = {s["source_id"]: s["reason"] for s in result.details["skipped"]}
    assert skipped == {
        "u-1": "user u-1: display_name is 5,000 characters long, more than the 4,096 allowed",
        "u-3": "user u-3: given_name is a list, expected text",
    }
    state = directory(store)
    assert state.users["u-1"].login == "ada" and state.users["u-1"].active
    assert "u-3" not in state.users
    assert Membership("g-1", "u-1") in state.memberships


async def test_an_unusable_id_makes_the_run_partial(store: Store) -> None:
    ada, bob = SourceUser("u-1", "ada"), SourceUser("u-2", "bob")
    assert (await sync(store, [ada, bob], [ENG])).status == "succeeded"
    result = await sync(store, [SourceUser("u-\x002", "bob")], [ENG])
    assert result.status == "partial"
    assert "a user record has an unusable id" in result.message
    assert result.summary()["users_deactivated"] == 0
    assert all(u.active for u in directory(store).users.values())


async def test_a_skipped_group_makes_the_run_partial(store: Store) -> None:
    ada = SourceUser("u-1", "ada")
    assert (await sync(store, [ada], [ENG])).status == "succeeded"
    result = await sync(store, [ada], [SourceGroup("g-1", "E" * 600)])
    assert result.status == "partial"
    assert result.summary()["groups_deleted"] == 0
    assert result.summary()["memberships_removed"] == 0
    assert directory(store).groups["g-1"].name == "Eng"


def test_attributes_too_deep_or_too_large_skip_the_user() -> None:
    deep: object = "x"
    for _ in range(40):
        deep = [deep]
    snap = Snapshot(
        users=[
            SourceUser("u-1", "a", attributes={"deep": deep}),
            SourceUser("u-2", "b", attributes={"blob": "x" * 70_000}),
            SourceUser("u-3", "c", attributes={"ok": [[["fine"]]]}),
        ]
    )
    normalise(snap)
    assert [u.source_id for u in snap.users] == ["u-3"]
    reasons = [s.reason for s in snap.skipped]
    assert "nested deeper than 32 levels" in reasons[0]
    assert "more than the 65,536 allowed" in reasons[1]
    assert snap.complete
    assert clean_attributes({"k": (1, -math.inf)}) == {"k": [1, None]}
