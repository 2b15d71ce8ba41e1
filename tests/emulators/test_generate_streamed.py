"""``generate_streamed``: the tenant of ``generate_tenant``, its groups drawn one at a time."""

from __future__ import annotations

from idpsync.emulators.generate import TenantSpec, generate_streamed, generate_tenant


def test_the_streamed_tenant_is_the_generated_one_without_other_objects() -> None:
    spec = TenantSpec(users=400, groups=40, seed=7, medium_every=8)
    whole = generate_tenant(spec)
    tenant, drawn = generate_streamed(spec)
    assert list(tenant.users) == list(whole.users) and not tenant.groups  # no group yet
    members: dict[str, set[str]] = {}
    for group in drawn:
        assert tenant.groups == {}  # loaded only once every group is drawn
        members[group.id] = set(group.members)
        group.members = {}  # a reader lets each group's members go
    for gid, group in tenant.groups.items():
        members[gid] |= set(group.members)  # the nesting, added after the last group
    assert [(g.id, g.name) for g in tenant.groups.values()] == [
        (g.id, g.name) for g in whole.groups.values()
    ]
    expected = {
        gid: {m for m in g.members if m in whole.users or m in whole.groups}
        for gid, g in whole.groups.items()
    }
    assert members == expected
    assert [u.manager_id for u in tenant.users.values()] == [
        u.manager_id for u in whole.users.values()
    ]
