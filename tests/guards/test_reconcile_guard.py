"""A reconcile that would switch off most of a target is refused before any write."""

from __future__ import annotations

from typing import Any

import pytest

from idpsync.config import TargetOptions
from idpsync.model import DirectoryState, DirUser
from idpsync.store import Store
from idpsync.targets.base import RemoteUser
from idpsync.targets.reconcile_guard import ReconcileRefused, check, would_remove
from tests.targets.conftest import directory, sqlite_store  # noqa: F401
from tests.targets.scim_support import Directory
from tests.targets.strict_scim import StrictScim
from tests.targets.test_scim_strict import deliver as plain_deliver


async def deliver(store: Store, server: StrictScim, **kwargs: Any) -> Any:
    return await plain_deliver(store, server, **kwargs)


def remote(uid: str, login: str, active: bool = True, ext: str | None = None) -> RemoteUser:
    return RemoteUser(uid, ext, {"login": login, "email": None, "active": active})


def test_counts_gone_mapped_users_and_unmatched_unmanaged_ones() -> None:
    state = DirectoryState(users={"s1": DirUser("s1", "ada", email="ada@x.org")})
    users = [
        remote("r1", "ada"),  # matched by login
        remote("r2", "gone"),  # mapped, its directory user is gone
        remote("r3", "stranger"),
        remote("r4", "off", active=False),
        remote("r5", "other", ext="s1"),  # matched by externalId
    ]
    mapped = {("hr", "s2"): "r2"}
    assert would_remove(users, mapped, {"hr": state}, unmanaged=False) == (1, 4)
    assert would_remove(users, mapped, {"hr": state}, unmanaged=True) == (2, 4)
    options = TargetOptions(unmanaged="deactivate", min_reconcile_removals_for_share=2)
    with pytest.raises(ReconcileRefused, match="deactivate or delete 2 target users"):
        check(options, users, mapped, {"hr": state})
    lenient = options.model_copy(update={"max_reconcile_remove_share": 0.5})
    check(lenient, users, mapped, {"hr": state})


async def test_a_sweeping_reconcile_is_guarded_and_sends_nothing(
    sqlite_store: Store,  # noqa: F811
    directory: Directory,  # noqa: F811
) -> None:
    server = StrictScim()
    for n in range(10):
        server.users[f"x{n}"] = {
            "id": f"x{n}",
            "userName": f"stranger{n}",
            "active": True,
            "meta": {"version": 'W/"1"'},
        }
        server.versions[f"x{n}"] = 1
    directory.user("u0", "ada")
    await directory.sync(sqlite_store)
    refused = await deliver(sqlite_store, server, unmanaged="deactivate", reconcile=True)
    assert refused.status == "guarded", refused.message
    assert "10 target users" in refused.message and "--allow-deletes" in refused.message
    assert not [r for r in server.requests if not r.startswith("GET")]
    assert all(server.users[f"x{n}"]["active"] for n in range(10))
    allowed = await deliver(
        sqlite_store, server, unmanaged="deactivate", reconcile=True, allow_deletes=True
    )
    assert allowed.status == "ok", allowed.message
    assert not any(server.users[f"x{n}"]["active"] for n in range(10))
