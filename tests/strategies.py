"""Hypothesis strategies for directory states."""

from __future__ import annotations

from hypothesis import strategies as st

from idpsync.model import DirectoryState, DirGroup, DirUser, MemberKind, Membership

USER_IDS = [f"u{i}" for i in range(12)]
GROUP_IDS = [f"g{i}" for i in range(6)]
text = st.text(alphabet="aAbBzéÉßİıſ'ñ😀 -.\u0301", min_size=1, max_size=8)


@st.composite
def users(draw: st.DrawFn, source_id: str) -> DirUser:
    return DirUser(
        source_id=source_id,
        login=draw(text),
        email=draw(st.none() | text),
        display_name=draw(st.none() | text),
        active=draw(st.booleans()),
        manager_id=draw(st.none() | st.sampled_from(USER_IDS)),
        attributes=draw(st.dictionaries(st.sampled_from(["dept", "title"]), text, max_size=2)),
    )


@st.composite
def states(draw: st.DrawFn) -> DirectoryState:
    uids = draw(st.sets(st.sampled_from(USER_IDS)))
    gids = draw(st.sets(st.sampled_from(GROUP_IDS)))
    state = DirectoryState()
    for uid in sorted(uids):
        state.users[uid] = draw(users(uid))
    for gid in sorted(gids):
        state.groups[gid] = DirGroup(gid, draw(text), draw(st.none() | text))
    if gids:
        group_list = sorted(gids)
        user_edges = (
            draw(st.sets(st.tuples(st.sampled_from(group_list), st.sampled_from(sorted(uids)))))
            if uids
            else set()
        )
        group_edges = draw(
            st.sets(st.tuples(st.sampled_from(group_list), st.sampled_from(group_list)))
        )
        state.memberships = {Membership(g, u, MemberKind.USER) for g, u in user_edges} | {
            Membership(g, c, MemberKind.GROUP) for g, c in group_edges if g != c
        }
    return state


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
