"""``normalise`` checks each id once and shares id strings; its results are the old ones.

The oracle is the implementation before the change (:mod:`tests.engine.normalise_before`):
on generated snapshots full of bad data (unusable, duplicate and dangling ids, control
characters, lone surrogates, over-long fields, wrong types, unstorable numbers, deep or large
attributes) both give the same records, edges, skipped records, reasons and completeness.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idpsync.model import MemberKind, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.sources.clean import IdTable, normalise
from tests.engine import normalise_before

CHARS = ["a", "Z", "é", " ", "\t", "\n", "\x00", "\x07", "\x1b", "\ud800", "\u200b", "\xa0"]
CHARS += ["😀", "\\", '"', "\u0301"]
TEXT = st.lists(st.sampled_from(CHARS), max_size=5).map("".join)
LONG = st.sampled_from(["a" * 256, "a" * 513, "b" * 4097, "  ", "", "é" * 20_000, "x" * 70_000])


def huge() -> int:
    """An integer too long to write in decimal (hypothesis cannot show it as a constant)."""
    return 10**5000


HUGE = st.builds(huge)
ODD_ID = st.sampled_from([7, 2**70, True, None, 1.5, math.nan, ["no"], {"k": "v"}])
ODD = ODD_ID | HUGE
FIELD = st.none() | TEXT | LONG | ODD
IDS = st.sampled_from(["u1", "u2", "u3", "g1", "g2", "", " ", "a\x00", "\ud800x", "\u200bz"])
ID = IDS | st.sampled_from(["x" * 255, "x" * 256, "é"]) | ODD_ID
NUMBER = st.integers() | st.floats() | st.sampled_from([2**70, -(2**63)]) | HUGE
LEAF = st.none() | st.booleans() | NUMBER | TEXT | LONG
KEY = TEXT | st.integers(0, 3)
ATTRIBUTES = st.dictionaries(
    KEY,
    st.recursive(LEAF, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEY, inner)),
    max_size=4,
)
DEEP: Any = "x"
for _ in range(40):
    DEEP = [DEEP]


def copied(value: object) -> object:
    """A string equal to ``value`` but another object (as each JSON value is); else ``value``."""
    if type(value) is str and len(value) > 1:
        return "".join([value[:1], value[1:]])
    return value


@st.composite
def users(draw: st.DrawFn) -> SourceUser:
    attributes = draw(ATTRIBUTES | st.sampled_from([{"deep": DEEP}, ["no"], {"n": math.inf}]))
    return SourceUser(
        source_id=draw(ID),
        login=draw(FIELD),
        email=draw(FIELD),
        display_name=draw(FIELD),
        given_name=draw(st.none() | TEXT),
        family_name=draw(st.none() | LONG),
        active=draw(st.booleans() | st.just("yes")),
        manager_id=draw(st.none() | ID),
        photo_ref=draw(st.none() | TEXT),
        attributes=attributes,
    )


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    people = draw(st.lists(users(), max_size=6))
    groups = draw(
        st.lists(st.builds(SourceGroup, source_id=ID, name=FIELD, description=FIELD), max_size=4)
    )
    named = [r.source_id for r in [*people, *groups]]
    some_id = st.sampled_from(named) | ID if named else ID
    edges = draw(
        st.lists(
            st.builds(
                Membership,
                group_id=some_id.map(copied),
                member_id=some_id.map(copied),
                member_kind=st.sampled_from(MemberKind),
            ),
            max_size=12,
        )
    )
    return Snapshot(people, groups, edges, complete=draw(st.booleans()))


def result(run: Callable[[Snapshot], Snapshot], snap: Snapshot) -> object:
    """What ``run`` made of a copy of ``snap``: everything a run reads of it, or its error."""
    try:
        out = run(copy.deepcopy(snap))
    except Exception as exc:  # the oracle's error must be the same error
        return type(exc)
    return (
        out.users,
        out.groups,
        out.memberships,
        out.complete,
        out.incomplete_reasons,
        out.skipped,
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snapshots())
def test_normalise_gives_what_it_gave_before(snap: Snapshot) -> None:
    assert result(normalise, snap) == result(normalise_before.normalise, snap)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snapshots())
def test_edges_share_one_string_per_id(snap: Snapshot) -> None:
    edges = normalise(copy.deepcopy(snap)).memberships
    objects: dict[str, set[int]] = {}
    for edge in edges:
        for value in (edge.group_id, edge.member_id):
            if type(value) is str:
                objects.setdefault(value, set()).add(id(value))
    assert all(len(found) == 1 for found in objects.values()), objects


def test_duplicates_dangling_and_bad_ids() -> None:
    ada, again = SourceUser("u-1", "ada"), SourceUser("u-1", "ada")
    snap = Snapshot(
        [ada, again, SourceUser("", "nobody"), SourceUser("u-2", "bad\x00")],
        [SourceGroup("g-1", "Eng")],
        [
            Membership("g-1", copied("u-1")),  # type: ignore[arg-type]
            Membership("g-1", "u-1"),  # a duplicate edge is kept, as before
            Membership("g-1", "u-9"),  # dangling: no such user, kept as before
            Membership("g-1", 7),  # type: ignore[arg-type]  # kept as it was read
            Membership("g-1", "u\x00"),
            Membership(["g"], "u-1"),  # type: ignore[arg-type]  # unhashable: dropped
        ],
    )
    normalise(snap)
    assert snap.users == [ada, again]
    assert [(s.source_id, s.reason) for s in snap.skipped] == [
        ("u-2", "user u-2: login holds a control character (U+0000)")
    ]
    assert snap.incomplete_reasons == [
        "a user record has an unusable id ''",
        "2 membership edge(s) name an unusable id",
    ]
    kept = snap.memberships
    assert [e.member_id for e in kept] == ["u-1", "u-1", "u-9", 7]
    assert kept[0].member_id is kept[1].member_id


def test_an_integer_id_too_long_to_write_is_reported_not_raised() -> None:
    snap = normalise(Snapshot([SourceUser(huge(), "ada")]))  # type: ignore[arg-type]
    assert snap.users == []
    assert snap.incomplete_reasons == ["a user record has an unusable id <int too long to show>"]


def test_an_id_table_checks_each_id_once_and_shares_it() -> None:
    ids, first = IdTable(), copied("u-12345")
    assert ids.usable(first) is first
    assert ids.usable(copied("u-12345")) is first
    assert ids.usable("a\x00b") is None and ids.usable("a\x00b") is None
    assert ids.usable(True) is None and ids.usable(1) == "1"
    assert ids.usable(["u"]) is None


def test_a_snapshot_holds_edges_that_share_ids() -> None:
    snap = Snapshot()
    first = snap.edge(copied("g-123"), copied("u-123"))
    second = snap.edge(copied("g-999"), copied("u-123"), MemberKind.GROUP)
    assert first == Membership("g-123", "u-123") and second.member_kind is MemberKind.GROUP
    assert snap == Snapshot()
    snap.memberships.extend([first, second])
    held = list(normalise(snap).memberships)
    assert held == [first, second] and held[0].member_id is held[1].member_id


def test_a_count_of_cleaned_users_that_no_longer_describes_the_users_is_not_trusted() -> None:
    dirty = SourceUser("u2", "bob", display_name="Bell\x07 here")
    snap = Snapshot([SourceUser("u1", "ann")])
    normalise(snap)  # cleaned and counted: one user
    assert snap.cleaned_users == 1
    snap.users = [dirty]  # the source replaced the list after it was counted
    assert normalise(snap).users == [SourceUser("u2", "bob", display_name="Bell here")]
    shortened = Snapshot([SourceUser("u1", "ann"), SourceUser("u3", "cy")])
    normalise(shortened)
    shortened.users.clear()  # the same list, emptied, then a dirty user added
    shortened.users.append(dirty)
    assert normalise(shortened).users == [SourceUser("u2", "bob", display_name="Bell here")]
