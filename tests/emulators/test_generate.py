from __future__ import annotations

import pytest

from idpsync.emulators import TenantSpec, generate_tenant
from idpsync.emulators.tenant import Tenant, TenantError


def _tenant(users: int = 1000, groups: int = 60, seed: int = 1) -> Tenant:
    return generate_tenant(TenantSpec(users=users, groups=groups, seed=seed))


def test_same_seed_same_tenant_other_seed_other_tenant() -> None:
    a, b, c = _tenant(seed=5), _tenant(seed=5), _tenant(seed=6)
    assert a.tenant_id == b.tenant_id
    assert a.ground_truth() == b.ground_truth()
    assert a.ground_truth() != c.ground_truth()


@pytest.mark.parametrize(("users", "groups"), [(1, 1), (7, 3), (1000, 60), (20000, 300)])
def test_sizes(users: int, groups: int) -> None:
    t = _tenant(users, groups)
    assert len(t.users) == users and len(t.groups) == groups
    assert t.user_ids == sorted(t.users) and t.group_ids == sorted(t.groups)
    everyone = next(g for g in t.groups.values() if g.name == "All Users")
    assert set(everyone.members) == set(t.users)


def test_sizes_are_skewed() -> None:
    t = _tenant(5000, 400)
    sizes = sorted((len(g.members) for g in t.groups.values()), reverse=True)
    assert sizes[0] >= 5000
    assert sizes[3] >= 500  # a few large groups
    assert sizes[len(sizes) // 2] < 30  # many small ones


def test_awkward_names_and_states() -> None:
    t = _tenant(2000, 30)
    names = [u.display_name for u in t.users.values()]
    assert any(not n.isascii() for n in names)
    assert any("'" in n for n in names)
    assert any(len(n) > 80 for n in names)
    assert any(any(ord(ch) > 0xFFFF for ch in n) for n in names)  # emoji
    assert any(n != n.lower() and n != n.title() and n != n.upper() for n in names)
    assert any(u.given_name is None for u in t.users.values())
    assert any(not u.enabled for u in t.users.values())
    guests = [u for u in t.users.values() if u.guest]
    assert guests and all("#EXT#" in t.login(u) for u in guests)
    assert any(u.photo_version for u in t.users.values())
    assert any(not u.photo_version for u in t.users.values())


def test_manager_hierarchy_is_a_tree() -> None:
    t = _tenant(3000, 20)
    roots = [u for u in t.users.values() if u.manager_id is None and not u.guest]
    assert len(roots) == 1
    depths = []
    for user in t.users.values():
        depth, current = 0, user
        while current.manager_id is not None:
            current = t.users[current.manager_id]
            depth += 1
            assert depth < 50
        depths.append(depth)
    assert max(depths) >= 3


def test_nesting_diamond_and_other_members() -> None:
    t = _tenant(500, 40)
    by_name = {g.name: g for g in t.groups.values()}
    top, left, right, bottom = (by_name[f"Diamond {n}"] for n in ("top", "left", "right", "bottom"))
    assert {left.id, right.id} <= set(top.members)
    assert bottom.id in left.members and bottom.id in right.members
    transitive = t.transitive_members(top.id)
    assert len(transitive) == len(set(transitive))
    assert set(bottom.members) <= set(transitive)
    assert set(t.transitive_groups(next(iter(bottom.members)))) >= {top.id, left.id, right.id}
    chain_depth = max(_depth(t, g) for g in t.groups)
    assert chain_depth >= 4
    with pytest.raises(TenantError, match="cycle"):
        t.add_member(bottom.id, top.id)
    kinds = {t.kind_of(m) for g in t.groups.values() for m in g.members}
    assert {"user", "group", "servicePrincipal", "device", "orgContact"} <= kinds


def _depth(t: Tenant, group_id: str) -> int:
    children = [m for m in t.groups[group_id].members if m in t.groups]
    return 1 + max((_depth(t, c) for c in children), default=0)


def test_control_api_keeps_indexes_and_change_log() -> None:
    t = _tenant(100, 20)
    user_id, group_id = t.user_ids[0], t.group_ids[0]
    login = t.login(t.users[user_id])
    t.update_user(user_id, alias="renamed.person")
    assert t.find_user(login) is None
    assert t.find_user(f"RENAMED.PERSON@{t.domain}") is t.users[user_id]
    t.add_member(group_id, user_id)
    t.delete_user(user_id)
    assert user_id not in t.user_ids and user_id not in t.groups[group_id].members
    assert t.removed[user_id] == "changed"
    changed = t.changes_between(0, t.version)
    assert ("user", user_id) in changed and ("group", group_id) in changed
    with pytest.raises(TenantError):
        t.delete_user(user_id)
