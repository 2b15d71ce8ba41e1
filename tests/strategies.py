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
