"""Okta's full read makes and cleans its users as their pages come (``sources/okta/ahead.py``):
nothing is left to convert after the last answer, and the read is exactly the one that converted
every user at its end (users, skipped records, reasons, marks), wrong records and
``lastUpdated`` ranges included; a directory synced the old way is not rewritten."""

from __future__ import annotations

from typing import Any

import pytest

from idpsync.app.runner import run_sync
from idpsync.config import ConnectorSettings
from idpsync.model import Snapshot, SourceUser
from idpsync.sources.okta.ahead import UsersAhead
from idpsync.sources.okta.endpoints import USERS, USERS_PAGE
from idpsync.sources.okta.reader import OktaSource
from idpsync.sources.okta.records import to_user
from idpsync.store import Store
from tests.sources.okta_support import RecordingEmulator, emulator, source
from tests.sources.test_malformed_answers import Rewrite

pytestmark = pytest.mark.usefixtures("no_sleep")


def _late(src: OktaSource) -> list[str]:
    """Counts the users ``src`` converts after its read (the ids, in order)."""
    converted: list[str] = []

    def counted(raw: dict[str, Any]) -> SourceUser:
        converted.append(str(raw.get("id")))
        return to_user(raw, src.active)

    src.to_user = counted  # type: ignore[method-assign]
    return converted


async def _read(emu: RecordingEmulator, ahead: bool, **settings: Any) -> tuple[Snapshot, Any]:
    """A full read of ``emu``; with ``ahead`` false, as before: every user made at the end."""
    prior = dict(settings.pop("prior", {}))
    src = source(emu, **settings)
    src.prior_state = prior
    late = _late(src)
    page = UsersAhead.page
    if not ahead:
        UsersAhead.page = lambda self, items: None  # type: ignore[method-assign]
    try:
        snap = await src.snapshot()
    finally:
        UsersAhead.page = page  # type: ignore[method-assign]
        await src.aclose()
    return snap, (late, src.saved_state)


def _same(a: Snapshot, b: Snapshot) -> None:
    assert a.users == b.users and a.groups == b.groups
    assert sorted(a.memberships) == sorted(b.memberships)
    assert a.skipped == b.skipped and a.incomplete_reasons == b.incomplete_reasons
    assert a.complete == b.complete and a.users_cleaned() == len(a.users)


async def test_the_users_are_made_during_the_read_and_are_those_made_after_it() -> None:
    emu = emulator(users=450, groups=12)
    snap, (late, state) = await _read(emu, ahead=True)
    before, (late_before, state_before) = await _read(emu, ahead=False)
    assert late == [] and len(late_before) == len(emu.tenant.users)
    assert len(snap.users) == len(emu.tenant.users) and snap.complete
    _same(snap, before)
    assert {k: v for k, v in (state or {}).items() if k != "full_at"} == {
        k: v for k, v in (state_before or {}).items() if k != "full_at"
    }


def _damage(body: Any) -> Any:
    """Wrong records in the active users' page: no id, not an object, a login that is a
    number, a name with a control character (cleaned) and attributes too large (skipped)."""
    if len(body) >= 6:
        body[0].pop("id")
        body[1] = "not an object"
        body[2]["profile"]["login"] = 5
        body[3]["profile"]["displayName"] = "Bad\x00Name"
        body[4]["profile"]["notes"] = "x" * 70_000
    return body


async def test_wrong_records_are_skipped_or_cleaned_with_the_same_reasons() -> None:
    emu = emulator(users=300, groups=6, seed=3)
    runs = []
    for ahead in (True, False):
        rewrite = Rewrite(emu.transport(), "/api/v1/users", _damage)
        runs.append(await _read(emu, ahead, transport=rewrite))
    (snap, (late, _)), (before, _) = runs
    _same(snap, before)
    reasons = [s.reason for s in snap.skipped]  # each damaged page: the login, the size
    assert not snap.complete and len(reasons) % 2 == 0 and reasons
    assert {"login" in r or "more than the 65,536 allowed" in r for r in reasons} == {True}
    assert late == []  # the wrong login is found by the listing's own check, as before


async def test_lastupdated_ranges_merge_the_users_made_ahead_as_before() -> None:
    emu = emulator(users=420, groups=6, seed=5)
    for index, uid in enumerate(emu.tenant.user_ids):  # distinct lastUpdated: ranges engage
        emu.tenant.update_user(uid, display_name=f"User {index}")
    _, (_, state) = await _read(emu, ahead=True, user_partitions=3)
    assert state and len(state["user_bounds"]) >= 2
    emu.tenant.update_user(emu.tenant.user_ids[0], display_name="Changed since")  # top range
    prior = {"user_bounds": state["user_bounds"]}
    snap, (late, _) = await _read(emu, True, user_partitions=3, prior=prior)
    before, _ = await _read(emu, False, user_partitions=3, prior=prior)
    assert late == [] and snap.complete
    _same(snap, before)
    assert next(u for u in snap.users if u.display_name == "Changed since")


async def test_a_directory_synced_the_old_way_is_not_rewritten(store: Store) -> None:
    emu = emulator(users=240, groups=8, seed=2)
    results = []
    for ahead in (False, True):
        src = source(emu)
        settings = ConnectorSettings(source=src.settings)
        page = UsersAhead.page
        if not ahead:
            UsersAhead.page = lambda self, items: None  # type: ignore[method-assign]
        try:
            results.append(await run_sync(store, "okta", settings, src, mode="full"))
        finally:
            UsersAhead.page = page  # type: ignore[method-assign]
            await src.aclose()
    first, second = results
    assert first.status == "succeeded"
    assert first.summary()["users_created"] == len(emu.tenant.users)
    assert second.status == "succeeded" and len(second.plan) == 0


async def test_ranges_that_drop_deprovisioned_users_do_not_make_them_ahead() -> None:
    """A range read lists ``DEPROVISIONED`` users too; when the read leaves them out, they are
    not made ahead (work for records the read drops), and the read is the one made at the end."""
    emu = emulator(users=300, groups=6, seed=11)
    for index, uid in enumerate(emu.tenant.user_ids):  # distinct lastUpdated: ranges engage
        emu.tenant.update_user(uid, display_name=f"User {index}")
    gone = emu.tenant.user_ids[:7]
    for uid in gone:
        emu.set_status(uid, "DEPROVISIONED")
    settings: dict[str, Any] = {"user_partitions": 3, "include_deprovisioned": False}
    _, (_, state) = await _read(emu, True, **settings)
    assert state and len(state["user_bounds"]) >= 2
    prior = {"user_bounds": state["user_bounds"]}
    made: list[str] = []
    page = UsersAhead.page

    def counted(self: UsersAhead, items: list[Any]) -> None:
        page(self, items)
        made.extend(str(raw["id"]) for raw, _ in self.made.values())

    UsersAhead.page = counted  # type: ignore[method-assign]
    try:
        snap, (late, _) = await _read(emu, True, prior=prior, **settings)
    finally:
        UsersAhead.page = page  # type: ignore[method-assign]
    before, _ = await _read(emu, False, prior=prior, **settings)
    assert late == [] and snap.complete and made
    assert not set(gone) & set(made)
    assert not {u.source_id for u in snap.users} & set(gone)
    _same(snap, before)


async def test_the_users_chain_asks_for_its_next_page_before_a_page_is_used() -> None:
    """Each next page is asked for from the answer's ``Link`` header, before the page's users
    are made (issue #20): the chain's round trips follow each other; the same pages, once."""
    emu = emulator(users=450, groups=3)
    src = source(emu)
    asked: list[int] = []
    read: list[Any] = []

    def each(records: list[Any]) -> None:
        asked.append(emu.requests.count("/api/v1/users"))
        read.extend(records)

    try:
        await src.listing(USERS, {"limit": str(USERS_PAGE)}, each=each)
    finally:
        await src.aclose()
    assert asked == [2, 3, 3]  # before: [1, 2, 3]
    assert emu.requests.count("/api/v1/users") == 3 == -(-len(read) // USERS_PAGE)
    assert len({u["id"] for u in read}) == len(read) > 400
