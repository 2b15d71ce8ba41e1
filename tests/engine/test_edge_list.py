"""EdgeList: a snapshot's edges held as id indexes, behaving as the list of edges it replaces."""

from __future__ import annotations

import copy
import json
import random
from dataclasses import replace

from idpsync.model import EdgeList, MemberKind, Membership, Snapshot
from idpsync.sources.clean import normalise

GROUP = MemberKind.GROUP


def edges(count: int, seed: int = 0) -> list[Membership]:
    rng = random.Random(seed)
    return [
        Membership(f"g-{rng.randrange(20)}", f"u-{rng.randrange(50)}", rng.choice(list(MemberKind)))
        for _ in range(count)
    ]


def test_it_gives_back_the_edges_in_their_order() -> None:
    given = edges(300)
    held = EdgeList(given[:100])
    held.append(given[100])
    held.extend(given[101:200])
    held += given[200:]
    assert list(held) == given and held == given and given == held
    assert len(held) == 300 and held and not EdgeList() and EdgeList() == []
    assert held[0] == given[0] and held[-1] == given[-1]
    assert held != given[:-1] and held != list(reversed(given))
    assert sorted(held) == sorted(given)
    assert [(g, k, m) for g, k, m in held.rows()] == [
        (e.group_id, e.member_kind.value, e.member_id) for e in given
    ]


def test_sort_orders_as_sorted_does() -> None:
    given = edges(500, seed=3)
    held = EdgeList(given)
    held.sort()
    assert list(held) == sorted(given)


def test_each_id_is_held_once_whatever_copies_it_was_given() -> None:
    copies = json.loads(json.dumps(["u-12345"] * 3))
    assert copies[0] is not copies[1]
    held = EdgeList(Membership(f"g-{i}", copies[i]) for i in range(3))
    read = list(held)
    assert read[0].member_id is read[1].member_id is read[2].member_id


def test_ids_of_other_types_stay_apart_and_as_given() -> None:
    odd: list[Membership] = [
        Membership(1, "u"),  # type: ignore[arg-type]
        Membership(True, "u"),  # type: ignore[arg-type]
        Membership("1", "u"),
        Membership(["g"], "u"),  # type: ignore[arg-type]
    ]
    read = list(EdgeList(odd))
    assert [type(e.group_id) for e in read] == [int, bool, str, list]
    assert read == odd


def test_kept_drops_edges_naming_an_unusable_id() -> None:
    held = EdgeList([Membership("g", "u"), Membership("g", "bad"), Membership("g2", "u", GROUP)])
    assert held.kept(lambda value: True) is held
    kept = held.kept(lambda value: value != "bad")
    assert list(kept) == [Membership("g", "u"), Membership("g2", "u", GROUP)]
    assert len(held) == 3  # the list asked is left as it was


def test_a_snapshot_holds_whatever_it_is_given_as_an_edge_list() -> None:
    given = edges(40)
    snap = Snapshot([], [], given)
    assert isinstance(snap.memberships, EdgeList) and snap.memberships == given
    snap.memberships = given[:10]
    assert isinstance(snap.memberships, EdgeList) and snap.memberships == given[:10]
    snap.extend(memberships=given[10:])
    assert snap == Snapshot(memberships=given)
    assert replace(snap, complete=False).memberships == given
    assert copy.deepcopy(snap) == snap


def test_normalise_drops_the_edges_of_unusable_ids_only() -> None:
    snap = Snapshot(memberships=[Membership("g", "u"), Membership("g", "a\x00b")])
    normalise(snap)
    assert snap.memberships == [Membership("g", "u")] and not snap.complete


def test_parts_share_the_table_and_move_over_kept_and_once() -> None:
    whole = EdgeList([Membership("g-0", "u-0")])
    first, second = whole.part(), whole.part()
    first.extend([Membership("g-1", "u-1"), Membership("g-1", "u-2"), Membership("g-1", "u-1")])
    second.extend([Membership("g-2", "u-1"), Membership("g-2", "g-1", GROUP)])
    assert list(first) == [
        Membership("g-1", "u-1"),
        Membership("g-1", "u-2"),
        Membership("g-1", "u-1"),
    ]
    assert first[0].member_id is second[0].member_id  # one table: one string per id
    asked: list[tuple[str, MemberKind]] = []

    def listed(member: str, kind: MemberKind) -> bool:
        asked.append((member, kind))
        return member != "u-2"

    assert whole.extend_kept(first, listed) == 2  # u-2 refused, the second u-1 repeated
    assert whole.extend_kept(second, listed) == 0
    assert list(whole) == [
        Membership("g-0", "u-0"),
        Membership("g-1", "u-1"),
        Membership("g-2", "u-1"),
        Membership("g-2", "g-1", GROUP),
    ]
    assert asked == [  # once a member of each part
        ("u-1", MemberKind.USER),
        ("u-2", MemberKind.USER),
        ("u-1", MemberKind.USER),
        ("g-1", GROUP),
    ]


def test_extend_kept_takes_a_list_of_another_table_too() -> None:
    whole, other = EdgeList(), EdgeList([Membership("g", "u"), Membership("g", "x")])
    assert whole.extend_kept(other, lambda member, kind: member == "u") == 1
    assert whole == [Membership("g", "u")]
    assert len(other) == 2  # the part given is not changed


def test_fan_holds_what_a_group_listing_made_as_edges_holds() -> None:
    rng = random.Random(4)
    members: list[object] = [f"u-{rng.randrange(40)}" for _ in range(120)]
    members += ["g-1", 7, True, "u-3"]  # the group itself, ids of other types, a repeat
    for kind in MemberKind:
        fanned = EdgeList.fan("g-1", members, kind)
        made = EdgeList(Membership("g-1", m, kind) for m in dict.fromkeys(members))  # type: ignore[arg-type]
        assert fanned == made and list(fanned.rows()) == list(made.rows())
        assert fanned.columns()[0] == made.columns()[0]  # the same ids, in the same order
    assert EdgeList.fan("g-1", [], MemberKind.USER) == []


def test_detached_holds_the_same_edges_in_a_table_of_only_their_ids() -> None:
    whole = EdgeList(edges(300, seed=5))  # a big table
    part = whole.part()
    odd: list[Membership] = [
        Membership("g-3", 1),  # type: ignore[arg-type]
        Membership("g-3", True),  # type: ignore[arg-type]
        Membership("g-3", ["u"]),  # type: ignore[arg-type]
    ]
    part.extend([Membership("g-3", "u-7"), Membership("g-3", "g-1", GROUP), *odd])
    part.append(Membership("g-3", "u-7"))  # a repeat stays
    alone = part.detached()
    assert list(alone) == list(part) and list(alone.rows()) == list(part.rows())
    ids = alone.columns()[0]
    assert ids == ["g-3", "u-7", "g-1", 1, True, ["u"]]  # only the ids its edges name, each once
    assert alone[0].member_id is part[0].member_id  # the same objects, not looked up again
    alone.append(Membership("g-3", "u-7"))  # interned: the id it holds, not a new one
    alone.append(Membership("g-3", 1))  # type: ignore[arg-type]
    assert len(alone.columns()[0]) == 6
    assert len(whole.columns()[0]) == len(part.columns()[0])  # the snapshot's table unchanged
