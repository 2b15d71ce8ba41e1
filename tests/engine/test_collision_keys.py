"""``_by_key`` keeps the keys that may collide, in the order of walking every id sorted; and
``DirUser.fields``, spelt out for speed, is the fields by name."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Container, Mapping

from hypothesis import given
from hypothesis import strategies as st

from idpsync.engine.collisions import _by_key
from idpsync.engine.skeleton import collision_key
from idpsync.model import USER_FIELDS, DirUser

# a few names that look alike in pairs ("rn"/"m", Latin/Cyrillic "a", case), and no name
_NAMES = st.sampled_from(["ada", "Ada", "аda", "rn", "m", "eve", "bob", "ｂob", "", None])
_IDS = st.text(alphabet="ab01", min_size=1, max_size=4)


def _every_key(items: Mapping[str, str | None], named: Container[str]) -> dict[str, list[str]]:
    """The ids sorted, grouped by key in that order; then the keys a caller acts on."""
    keys: dict[str, list[str]] = defaultdict(list)
    for sid in sorted(items):
        if name := items[sid]:
            keys[collision_key(name)].append(sid)
    return {key: sids for key, sids in keys.items() if len(sids) > 1 or key in named}


@given(
    items=st.dictionaries(_IDS, _NAMES, max_size=30),
    named=st.sets(st.sampled_from(["ada", "eve", collision_key("rn"), "nobody"])),
)
def test_by_key_is_the_sorted_walk_of_the_keys_that_may_collide(
    items: dict[str, str | None], named: set[str]
) -> None:
    assert list(_by_key(items, named).items()) == list(_every_key(items, named).items())


def test_by_key_orders_keys_by_their_smallest_id_whatever_the_order_given() -> None:
    items = {"b2": "eve", "a9": "bob", "b1": "Eve", "a1": "ｂob", "c": "ada"}
    assert list(_by_key(items, {"ada"}).items()) == [
        ("bob", ["a1", "a9"]),
        ("eve", ["b1", "b2"]),
        ("ada", ["c"]),
    ]


def test_user_fields_are_the_user_fields_by_name_in_order() -> None:
    """``DirUser.fields`` spells its fields out: the same dict as looking them up by name."""
    user = DirUser("s", "ada", "a@x.org", "Ada L.", "Ada", "L", False, "m", "p1", {"dept": "R&D"})
    by_name = {name: getattr(user, name) for name in USER_FIELDS}
    assert list(user.fields().items()) == list(by_name.items())
