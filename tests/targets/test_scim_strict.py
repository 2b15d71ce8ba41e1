"""The SCIM target against a strict in-process server (the rules scim2-server lets pass)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from idpsync.store import Store
from idpsync.store import schema as t
from idpsync.store.store import now
from idpsync.targets import http_client, run_delivery
from idpsync.targets.state import TargetState
from tests.targets.scim_support import Directory, target_settings
from tests.targets.strict_scim import ScimFail, StrictScim

URL = "http://scim.test/scim"


async def deliver(store: Store, server: StrictScim, **kwargs: Any) -> Any:
    options = {
        k: kwargs.pop(k)
        for k in list(kwargs)
        if k not in ("reconcile", "resume", "dry_run", "allow_deletes")
    }
    settings = target_settings(URL, **options)
    transport = httpx.ASGITransport(app=server)
    async with http_client(settings, transport=transport) as client:
        return await run_delivery(store, "scim", settings, client, **kwargs)


def held(server: StrictScim) -> dict[str, Any]:
    logins = {u["id"]: u["userName"] for u in server.users.values()}
    return {
        "users": {
            u["userName"]: ((u.get("emails") or [{}])[0].get("value"), u["active"])
            for u in server.users.values()
        },
        "groups": {
            g["displayName"]: sorted(logins[m["value"]] for m in g.get("members", []))
            for g in server.groups.values()
        },
    }


def seed(directory: Directory, size: int = 7) -> None:
    for n in range(size):
        directory.user(f"u{n}", f"user{n}")
    directory.group("g-all", "Everyone", [f"u{n}" for n in range(size)])
    directory.group("g-few", "Few", ["u0", "u1"])


@pytest.mark.parametrize("profile", ["generic", "atlassian"])
async def test_delivery_obeys_strict_rules(
    sqlite_store: Store, directory: Directory, profile: str
) -> None:
    server = StrictScim(atlassian=profile == "atlassian", max_members_per_patch=3)
    seed(directory)
    await directory.sync(sqlite_store)
    result = await deliver(sqlite_store, server, profile=profile, members_per_patch=3, page_size=2)
    assert result.status == "ok", result.message
    assert held(server) == directory.expected()
    member_patches = [r for r in server.requests if r.startswith("PATCH /Groups")]
    assert len(member_patches) == 3 + 1  # 7 members in chunks of 3, then 2 more

    directory.groups["g-few"]["name"] = "Fewer"
    del directory.users["u6"]
    directory.groups["g-all"]["members"].remove("u6")
    await directory.sync(sqlite_store)
    server.requests.clear()
    result = await deliver(sqlite_store, server, profile=profile, members_per_patch=3)
    assert result.status == "ok", result.message
    expected = directory.expected()
    expected["users"]["user6"] = ("user6@example.org", False)  # deactivated, not deleted
    # A deactivated leaver keeps their memberships (policy.remove_memberships is off).
    expected["groups"]["Everyone"] = sorted([*expected["groups"]["Everyone"], "user6"])
    assert held(server) == expected
    assert not [r for r in server.requests if r.startswith("DELETE /Users")]
    if profile == "atlassian":  # no rename: a new group, members moved, the old one deleted
        assert [r for r in server.requests if r.startswith(("POST /Groups", "DELETE /Groups"))]


async def test_reconcile_pages_and_adopts_groups_by_name(
    sqlite_store: Store, directory: Directory
) -> None:
    server = StrictScim(atlassian=True)
    seed(directory, size=5)
    await directory.sync(sqlite_store)
    server.groups["x"] = {
        "id": "x",
        "displayName": "everyone",
        "members": [],
        "meta": {"version": 'W/"1"'},
    }
    server.versions["x"] = 1
    result = await deliver(sqlite_store, server, profile="atlassian", page_size=2, reconcile=True)
    assert result.status == "ok", result.message
    assert (result.counts["created"], result.counts["adopted"]) == (6, 1)
    server.requests.clear()
    again = await deliver(sqlite_store, server, profile="atlassian", page_size=2, reconcile=True)
    assert again.status == "ok" and "created" not in again.counts
    assert server.requests.count("GET /Users") == 3  # 5 users, 2 per page
    assert len(server.groups) == 2 and "x" in server.groups
    assert sorted(m["value"] for m in server.groups["x"]["members"]) == sorted(server.users)


async def test_group_create_conflict_is_adopted(sqlite_store: Store, directory: Directory) -> None:
    """Atlassian filters groups by displayName only; a 409 on create leads to adoption."""
    server = StrictScim(atlassian=True)
    seed(directory, size=2)
    await directory.sync(sqlite_store)
    server.groups["x"] = {
        "id": "x",
        "displayName": "Few",
        "members": [],
        "meta": {"version": 'W/"1"'},
    }
    server.versions["x"] = 1
    result = await deliver(sqlite_store, server, profile="atlassian")
    assert result.status == "ok", result.message
    assert len(server.groups) == 2
    assert TargetState(sqlite_store, "scim").remote_id("group", "hr", "g-few") == "x"


async def test_stale_etag_is_reread_once(sqlite_store: Store, directory: Directory) -> None:
    """The version a response gave is sent back with If-Match; a 412 re-reads once."""
    server = StrictScim()
    bumped: list[str] = []

    def someone_else_changes_it(method: str, path: str, body: Any) -> None:
        if method == "PATCH" and path.startswith("/Groups/") and not bumped:
            bumped.append(path)
            server.bump(server.groups[path.rsplit("/", 1)[1]])

    server.reject = someone_else_changes_it
    directory.user("u0", "ada")
    directory.group("g", "G", ["u0"])
    await directory.sync(sqlite_store)
    result = await deliver(sqlite_store, server)
    assert result.status == "ok", result.message
    (gid,) = server.groups
    assert server.requests[-3:] == [
        f"PATCH /Groups/{gid}",
        f"GET /Groups/{gid}",
        f"PATCH /Groups/{gid}",
    ]
    assert held(server) == directory.expected()


async def test_rejections_are_recorded_retried_and_quarantine(
    store: Store, directory: Directory
) -> None:
    sqlite_store = store  # the failure bookkeeping runs on both SQLite and PostgreSQL
    server = StrictScim()
    refused = {"user3"}

    def reject(method: str, path: str, body: Any) -> ScimFail | None:
        if method == "POST" and body and body.get("userName") in refused:
            return ScimFail(400, "the e-mail domain is not verified", "invalidValue")
        return None

    server.reject = reject
    seed(directory)
    await directory.sync(sqlite_store)
    result = await deliver(sqlite_store, server, retry_base_seconds=3600)
    assert result.status == "ok"
    assert result.rejected == 2  # the user, then its membership of Everyone
    state = TargetState(sqlite_store, "scim")
    failures = state.failures()
    assert [f["object_type"] for f in failures] == ["user", "member"]
    assert (
        "HTTP 400 invalidValue: the e-mail domain is not verified (the server refused"
        in failures[0]["reason"]
    )
    assert state.row()["last_error"] == failures[-1]["reason"]

    refused.clear()
    again = await deliver(sqlite_store, server, retry_base_seconds=3600)
    assert again.retried == 0  # backoff not over yet
    with sqlite_store.transaction() as conn:
        conn.execute(
            sa.update(t.target_failures).values(next_attempt_at=now() - timedelta(seconds=1))
        )  # the backoff is over
    later = await deliver(sqlite_store, server)
    assert (later.status, later.retried) == ("ok", 2)
    assert held(server) == directory.expected()
    assert state.failures() == []

    refused.update(f"late{n}" for n in range(8))
    for n in range(8):
        directory.user(f"l{n}", f"late{n}")
    await directory.sync(sqlite_store)
    stopped = await deliver(sqlite_store, server)
    assert stopped.status == "quarantined"
    assert "delivery is paused" in stopped.message and "--resume" in stopped.message
    assert state.row()["status"] == "quarantined"
    skipped = await deliver(sqlite_store, server)
    assert (skipped.status, skipped.delivered, skipped.rejected) == ("quarantined", 0, 0)
    refused.clear()
    resumed = await deliver(sqlite_store, server, resume=True)
    assert resumed.status == "ok", resumed.message
    assert len(server.users) == 15


async def test_strict_server_refuses_what_scim2_server_lets_pass() -> None:
    """The double itself: the leniencies of targets.md §6.4 are errors here."""
    server = StrictScim()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=server), base_url="http://s/scim/"
    ) as client:
        scim = {"Content-Type": "application/scim+json"}
        plain = await client.post("Users", json={"userName": "a"})
        assert plain.status_code == 415
        group = {"schemas": [], "displayName": "G"}
        assert (await client.post("Groups", json=group, headers=scim)).status_code == 201
        dup = await client.post("Groups", json=group, headers=scim)
        assert (dup.status_code, dup.json()["scimType"]) == (409, "uniqueness")
        gid = next(iter(server.groups))
        patch = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": "nope"}]}],
        }
        bad = await client.patch(f"Groups/{gid}", json=patch, headers=scim)
        assert (bad.status_code, bad.json()["scimType"]) == (400, "invalidValue")


@pytest.mark.parametrize(("profile", "deleted"), [("generic", True), ("atlassian", False)])
async def test_delete_users_option_and_unmanaged_users(
    sqlite_store: Store, directory: Directory, profile: str, deleted: bool
) -> None:
    """``delete_users`` sends DELETE, except to Atlassian where DELETE only deactivates."""
    server = StrictScim(atlassian=profile == "atlassian")
    server.users["stranger"] = {
        "id": "stranger",
        "userName": "stranger",
        "active": True,
        "meta": {"version": 'W/"1"'},
    }
    server.versions["stranger"] = 1
    directory.user("u0", "ada")
    directory.user("u1", "grace")
    await directory.sync(sqlite_store)
    assert (await deliver(sqlite_store, server, profile=profile)).status == "ok"
    del directory.users["u1"]
    await directory.sync(sqlite_store, deprovision="delete")  # a user.delete change
    result = await deliver(sqlite_store, server, profile=profile, delete_users=True)
    assert result.status == "ok", result.message
    logins = {u["userName"]: u["active"] for u in server.users.values()}
    assert ("grace" not in logins) is deleted
    assert any(r.startswith("DELETE /Users") for r in server.requests) is deleted
    if not deleted:
        assert logins["grace"] is False

    assert logins["stranger"] is True
    swept = await deliver(
        sqlite_store, server, profile=profile, unmanaged="deactivate", reconcile=True
    )
    assert swept.status == "ok" and swept.counts["unmanaged_deactivated"] == 1
    assert server.users["stranger"]["active"] is False


async def test_two_deliveries_never_overlap(store: Store, directory: Directory) -> None:
    server = StrictScim()
    directory.user("u0", "ada")
    await directory.sync(store)
    state = TargetState(store, "scim")
    assert state.acquire("other-host:1") is None
    busy = await deliver(store, server)
    assert busy.status == "busy" and "other-host:1" in busy.message
    assert server.requests == []
    with store.transaction() as conn:  # the other process died: its lease runs out
        conn.execute(sa.update(t.targets).values(lease_until=now() - timedelta(seconds=1)))
    done = await deliver(store, server)
    assert done.status == "ok" and len(server.users) == 1
    assert state.row()["lease_owner"] is None


async def test_relinked_and_anonymised_users_follow_in_the_target(
    sqlite_store: Store, directory: Directory
) -> None:
    server = StrictScim(atlassian=False)
    seed(directory, size=3)
    await directory.sync(sqlite_store)
    assert (await deliver(sqlite_store, server)).status == "ok"
    remote_ids = {u["userName"]: u["id"] for u in server.users.values()}

    # user1 is deleted and re-created in the IdP under a new id: the account is kept.
    directory.users["u1-new"] = {**directory.users.pop("u1"), "id": "u1-new"}
    directory.groups["g-all"]["members"] = ["u0", "u1-new", "u2"]
    directory.groups["g-few"]["members"] = ["u0", "u1-new"]
    await directory.sync(sqlite_store, relink_recreated=True)
    server.requests.clear()
    assert (await deliver(sqlite_store, server)).status == "ok"
    assert not [r for r in server.requests if r.startswith(("POST /Users", "DELETE /Users"))]
    assert {u["userName"]: u["id"] for u in server.users.values()} == remote_ids
    ops = [c["op"] for r in sqlite_store.runs("hr")[:1] for c in sqlite_store.changes(r["id"])]
    assert "user.relink" in ops
    # The mapping moved to the new id as our own object, not re-discovered and "adopted".
    with sqlite_store.engine.connect() as conn:
        row = conn.execute(
            sa.select(t.target_objects).where(t.target_objects.c.source_id == "u1-new")
        ).one()
    assert (row.remote_id, row.adopted) == (remote_ids["user1"], False)

    # user2 leaves and is anonymised: the same target account is updated, not re-created.
    del directory.users["u2"]
    directory.groups["g-all"]["members"] = ["u0", "u1-new"]
    await directory.sync(sqlite_store, deprovision="anonymise")
    assert (await deliver(sqlite_store, server)).status == "ok"
    assert len(server.users) == 3
    former = next(u for u in server.users.values() if u["id"] == remote_ids["user2"])
    assert former["userName"] != "user2" and former["active"] is False
