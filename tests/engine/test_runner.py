from __future__ import annotations

from pathlib import Path

import pytest

from idpsync.app.runner import run_sync
from idpsync.config import ConnectorSettings, GuardSettings
from idpsync.model import Snapshot
from idpsync.sources.base import Progress, Source, no_progress
from idpsync.sources.file.reader import FileSource
from idpsync.sources.file.settings import FileSourceSettings
from idpsync.store import Store
from tests.filedata import people, write


def settings(**guard: object) -> ConnectorSettings:
    return ConnectorSettings(
        source=FileSourceSettings(type="file", path="people.json"),
        guard=GuardSettings(**guard),
    )


async def sync(store: Store, path: Path, **kwargs: object):
    return await run_sync(store, "hr", kwargs.pop("cfg", settings()), FileSource(path), **kwargs)


def directory(store: Store):
    with store.transaction() as conn:
        return store.load_directory(conn, "hr")


async def test_full_sync_then_nothing_to_do(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "people.json", people(30, inactive=(4,)))
    first = await sync(store, path)
    assert first.status == "succeeded"
    assert first.summary()["users_created"] == 30
    assert first.summary()["groups_created"] == 3
    assert first.summary()["memberships_added"] == 31
    state = directory(store)
    assert state.users["id-4"].active is False
    assert state.users["id-7"].display_name == "User Nümber 7"
    second = await sync(store, path)
    assert second.status == "succeeded" and len(second.plan) == 0
    assert [r["status"] for r in store.runs("hr")] == ["succeeded", "succeeded"]


async def test_leaver_is_deactivated_and_returns_reactivated(store: Store, tmp_path: Path) -> None:
    doc = people(30)
    path = write(tmp_path / "people.json", doc)
    await sync(store, path)
    leaver = doc["users"].pop(5)
    for g in doc["groups"]:
        g["members"] = [m for m in g["members"] if m != leaver["id"]]
    write(path, doc)
    result = await sync(store, path)
    assert result.summary()["users_deactivated"] == 1
    # A deactivated leaver keeps their memberships unless policy.remove_memberships is set,
    # so a return restores access as it was.
    assert result.summary()["memberships_removed"] == 0
    assert directory(store).users["id-5"].active is False
    doc["users"].append(leaver)
    write(path, doc)
    back = await sync(store, path)
    assert back.summary()["users_reactivated"] == 1
    assert directory(store).users["id-5"].active is True


async def test_guard_refuses_mass_deactivation_and_changes_nothing(
    store: Store, tmp_path: Path
) -> None:
    doc = people(40)
    path = write(tmp_path / "people.json", doc)
    await sync(store, path)
    before = directory(store)
    doc["users"] = doc["users"][:30]
    for g in doc["groups"]:
        g["members"] = [m for m in g["members"] if int(m.split("-")[1]) < 30]
    write(path, doc)
    refused = await sync(store, path)
    assert refused.status == "guarded" and not refused.ok
    assert "would deactivate or delete 10 users" in refused.message
    assert "--allow-deletes" in refused.message
    assert directory(store) == before
    allowed = await sync(store, path, allow_deletes=True)
    assert allowed.status == "succeeded"
    assert allowed.summary()["users_deactivated"] == 10


async def test_count_limit(store: Store, tmp_path: Path) -> None:
    doc = people(10)
    path = write(tmp_path / "people.json", doc)
    await sync(store, path)
    doc["users"], doc["groups"] = doc["users"][:8], []
    write(path, doc)
    result = await sync(store, path, cfg=settings(max_deactivate_count=1, max_deactivate_share=1.0))
    assert result.status == "guarded"
    assert "more than the limit of 1 users" in result.message


async def test_dry_run_changes_nothing_but_reports(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "people.json", people(5))
    result = await sync(store, path, dry_run=True)
    assert result.status == "dry_run" and result.summary()["users_created"] == 5
    assert directory(store).users == {}
    assert store.runs("hr")[0]["status"] == "dry_run"


class PartialSource(Source):
    """Returns what a file holds but says that a listing could not be finished."""

    type = "file"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.inner = FileSource(path)

    async def snapshot(self, progress: Progress = no_progress) -> Snapshot:
        snap = await self.inner.snapshot(progress)
        snap.mark_incomplete("GET /groups/{id}/members failed after 6 attempts")
        return snap


async def test_incomplete_snapshot_adds_and_updates_but_removes_nothing(
    store: Store, tmp_path: Path
) -> None:
    doc = people(20)
    path = write(tmp_path / "people.json", doc)
    await sync(store, path)
    doc["users"] = doc["users"][:2]  # a truncated read: almost everyone "missing"
    doc["users"][0]["display_name"] = "Changed"
    doc["users"].append({"id": "new", "login": "new"})
    doc["groups"] = []
    write(path, doc)
    result = await run_sync(store, "hr", settings(), PartialSource(path))
    assert result.status == "partial" and not result.ok and not result.complete
    summary = result.summary()
    assert summary["users_created"] == 1 and summary["users_updated"] == 1
    assert summary["users_deactivated"] == summary["memberships_removed"] == 0
    state = directory(store)
    assert len(state.users) == 21 and all(u.active for u in state.users.values())
    assert len(state.groups) == 3 and len(state.memberships) == 21
    run = store.runs("hr")[0]
    assert run["status"] == "partial" and "/members failed" in run["message"]
    # The next complete read still sees the whole staged picture and can remove.
    full = await sync(store, path, allow_deletes=True)
    assert full.summary()["users_deactivated"] == 18


async def test_bad_document_fails_run_and_changes_nothing(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "people.json", people(5))
    await sync(store, path)
    before = directory(store)
    path.write_text('{"users": [{"id": "a", "login": "a"}', encoding="utf-8")  # truncated
    result = await sync(store, path)
    assert result.status == "failed"
    assert "not valid JSON" in result.message and "truncated" in result.message
    assert directory(store) == before
    assert store.runs("hr")[0]["status"] == "failed"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"users": [{"id": "a", "login": "a", "colour": "red"}]}, "users.0.colour: Extra inputs"),
        (
            {"users": [{"id": "a", "login": "a"}, {"id": "a", "login": "b"}]},
            "user id 'a' appears more than once",
        ),
        ({"users": [{"id": "a", "login": "  "}]}, "users.0.login"),
        ({"users": [{"id": "a", "login": "x" * 600}]}, "at most 512 characters"),
        ({"groups": [{"id": "g", "name": "G", "members": ["ghost"]}]}, "member 'ghost'"),
        ({"groups": [{"id": "g", "name": "G", "subgroups": ["g"]}]}, "subgroup 'g'"),
        ([1, 2], "invalid document"),
    ],
)
async def test_bad_input_is_specific(store: Store, tmp_path: Path, doc, message) -> None:
    path = write(tmp_path / "people.json", doc)
    result = await sync(store, path)
    assert result.status == "failed"
    assert message in result.message
