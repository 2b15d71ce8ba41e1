"""Property tests: scoping and mapping never touch unowned objects; a guarded run changes
nothing; planning again after applying gives nothing (SQLite, generated worlds)."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idpsync.config import ConnectorSettings
from idpsync.engine.decide import decide
from idpsync.engine.plan import apply_ops
from idpsync.model import DirectoryState, MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.store import Store
from idpsync.store import schema as t
from tests.world import World, add_local_group, add_local_user, person

LOGINS = st.sampled_from(
    [
        "ada",
        "Ada",
        "bob",
        "BOB",
        "eve",
        "ｅｖｅ",
        "root",
        "svc-x",
        "",
        " x",
        "carl",
        "dan",
        "fay",
        "gus",
    ]
)
GROUP_NAMES = st.sampled_from(["Eng", "eng", "Ops", "admins", "Team-A", "Team-B", "jira-users"])


@st.composite
def idp(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(0, 8))
    users = [
        person(
            f"u{i}",
            draw(LOGINS) or "x",
            active=draw(st.booleans()),
            attributes={"kind": draw(st.sampled_from(["staff", "guest", ""]))},
        )
        for i in range(count)
    ]
    for user in users:
        if not user["login"].strip():
            user["login"] = "blank"
    ids = [u["id"] for u in users]
    groups = []
    for gi in range(draw(st.integers(0, 4))):
        groups.append(
            {
                "id": f"g{gi}",
                "name": draw(GROUP_NAMES),
                "members": draw(st.lists(st.sampled_from(ids), unique=True)) if ids else [],
            }
        )
    return {"users": users, "groups": groups}


POLICIES = st.fixed_dictionaries(
    {},
    optional={
        "required_groups": st.lists(GROUP_NAMES, max_size=2),
        "transitive": st.booleans(),
        "deprovision": st.sampled_from(["deactivate", "delete", "anonymise", "keep"]),
        "remove_memberships": st.booleans(),
        "grace_runs": st.integers(0, 2),
        "relink_recreated": st.booleans(),
        "user_filters": st.lists(
            st.fixed_dictionaries(
                {
                    "action": st.sampled_from(["include", "exclude"]),
                    "field": st.sampled_from(["attributes.kind", "login"]),
                    "op": st.just("equals"),
                    "value": st.sampled_from(["guest", "staff", "ada"]),
                }
            ),
            max_size=2,
        ),
        "groups": st.fixed_dictionaries(
            {},
            optional={
                "exclude": st.lists(st.sampled_from(["team-*", "re:ops"]), max_size=1),
                "lowercase": st.booleans(),
                "prefix": st.sampled_from(["", "idp-"]),
                "always": st.lists(
                    st.sampled_from(["jira-users", "staff"]), max_size=1, unique=True
                ),
            },
        ),
        "mapping": st.fixed_dictionaries(
            {},
            optional={
                "login": st.sampled_from(
                    ["{{ login | lower }}", "{{ email | strip_domain }}", "{{ attributes.kind }}"]
                ),
            },
        ),
    },
)


def unowned(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row no ``hr`` sync may change: other owners' users and groups, local edges."""
    with store.engine.connect() as conn:
        u, g, m = t.users.c, t.groups.c, t.memberships.c
        users = conn.execute(
            sa.select(u.id, u.connector, u.login, u.email, u.active, u.display_name)
            .where(sa.or_(u.connector.is_(None), u.connector != "hr"))
            .order_by(u.id)
        ).all()
        groups = conn.execute(
            sa.select(g.id, g.connector, g.name)
            .where(sa.or_(g.connector.is_(None), g.connector != "hr"))
            .order_by(g.id)
        ).all()
        edges = conn.execute(
            sa.select(m.group_id, m.member_id)
            .where(
                m.connector.is_(None),
                m.group_id.in_(sa.select(g.id).where(g.connector.is_(None))),
                m.member_id.in_(sa.select(u.id).where(u.connector.is_(None))),
            )
            .order_by(m.id)
        ).all()
    return {
        "users": [tuple(r) for r in users],
        "groups": [tuple(r) for r in groups],
        "edges": [tuple(r) for r in edges],
    }


def seeded(folder: Path) -> tuple[Store, World]:
    store = Store.open(f"sqlite:///{folder / 'd.db'}")
    root = add_local_user(store, "root", "root@example.org")
    ada = add_local_user(store, "ada", "ada@example.org")
    add_local_group(store, "admins", [root, ada])
    other = World(
        folder / "other.json",
        store,
        name="contractors",
        users=[person("c1", "bob"), person("c2", "eve")],
        groups=[{"id": "cg", "name": "Eng", "members": ["c1"]}],
    )
    assert other.sync().status == "succeeded"
    return store, World(folder / "hr.json", store)


PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(first=idp(), second=idp(), policy=POLICIES, allow=st.booleans())
def test_scoping_and_mapping_never_change_unowned_objects(
    first: dict[str, Any], second: dict[str, Any], policy: dict[str, Any], allow: bool
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store, world = seeded(Path(folder))
        try:
            before = unowned(store)
            world.policy = policy
            for state in (first, second):
                world.users, world.groups = state["users"], state["groups"]
                assert world.sync(allow_deletes=allow).status in ("succeeded", "guarded")
                assert unowned(store) == before
        finally:
            store.close()


@PROPERTY
@given(first=idp(), second=idp(), policy=POLICIES)
def test_a_guarded_run_changes_nothing(
    first: dict[str, Any], second: dict[str, Any], policy: dict[str, Any]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store, world = seeded(Path(folder))
        try:
            world.policy = policy
            world.users, world.groups = first["users"], first["groups"]
            world.sync(allow_deletes=True)
            before = world.dump()
            world.guard = {
                "max_deactivate_share": 0,
                "min_deactivations_for_share": 1,
                "max_snapshot_shrink": 0,
                "min_snapshot_shrink_count": 1,
            }
            world.users, world.groups = second["users"], second["groups"]
            result = world.sync()
            if result.status == "guarded":
                assert world.dump() == before
            else:
                counts = result.summary()
                assert not counts["users_deactivated"] + counts["users_deleted"]
                assert not counts["users_anonymised"]
        finally:
            store.close()


def snapshot_of(state: dict[str, Any]) -> Snapshot:
    users = [
        SourceUser(
            u["id"], u["login"], email=u["email"], active=u["active"], attributes=u["attributes"]
        )
        for u in state["users"]
    ]
    groups = [SourceGroup(g["id"], g["name"]) for g in state["groups"]]
    edges = [Membership(g["id"], m, MemberKind.USER) for g in state["groups"] for m in g["members"]]
    return Snapshot(users, groups, edges)


@settings(max_examples=150, deadline=None)
@given(first=idp(), second=idp(), policy=POLICIES)
def test_planning_again_after_applying_is_empty(
    first: dict[str, Any], second: dict[str, Any], policy: dict[str, Any]
) -> None:
    connector = ConnectorSettings.model_validate(
        {"source": {"type": "file", "path": "x.json"}, "policy": {**policy, "grace_runs": 0}}
    )
    now = datetime.now(UTC)
    state = DirectoryState()
    for snap in (snapshot_of(first), snapshot_of(second)):
        decision = decide(snap, connector, state, connector="hr", now=now)
        state = apply_ops(state, decision.plan.ops)
        again = decide(snap, connector, state, connector="hr", now=now)
        assert not again.plan.ops, again.plan.ops
