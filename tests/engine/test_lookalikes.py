"""Look-alike names collide (TR39 skeleton); invisible and bidi characters are refused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idpsync.config import ConnectorSettings
from idpsync.engine.decide import decide
from idpsync.engine.skeleton import (
    KEY_CACHE_SIZE,
    _ascii_table,
    collision_key,
    fold,
    forbidden_character,
    parse_confusables,
    prototypes,
    skeleton,
)
from idpsync.model import DirectoryState, Snapshot, SourceGroup, SourceUser
from idpsync.store import Store
from tests.world import World, add_local_group, add_local_user, person

ADAS = {
    "u1": "ada",
    "u2": "a\u200bda",  # zero-width space
    "u3": "ad\u00ada",  # soft hyphen
    "u4": "\u202eada",  # right-to-left override
    "u5": "\u0430da",  # Cyrillic а
    "u6": "\u0430d\u0430",  # two Cyrillic а
}
ADMINS = {"g1": "Admins", "g2": "\u0410dmins", "g3": "Adm\u0131ns"}  # Cyrillic А, dotless ı
INVISIBLE = {"u2", "u3", "u4"}


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    return World(tmp_path / "people.json", store)


def test_six_adas_and_three_admins_give_one_of_each(world: World) -> None:
    # the real ada and the real Admins group are there first; look-alikes appear later
    world.users = [person("u1", "ada")]
    world.groups = [{"id": "g1", "name": "Admins", "members": ["u1"]}]
    world.sync()
    world.users = [person(uid, login) for uid, login in ADAS.items()]
    world.groups = [{"id": g, "name": n, "members": list(ADAS)} for g, n in ADMINS.items()]
    result = world.sync()
    assert set(world.rows()) == {"ada"}
    assert world.group_names() == {"Admins": "hr"}
    assert world.members("Admins") == {"ada"}
    reasons = {s["source_id"]: s["reason"] for s in result.details["skipped"]}
    assert set(reasons) == set(ADAS) - {"u1"} | {"g2", "g3"}
    for uid in INVISIBLE:
        assert "invisible or bidi control character" in reasons[uid]
    assert "U+200B (ZERO WIDTH SPACE)" in reasons["u2"]
    assert "U+00AD (SOFT HYPHEN)" in reasons["u3"]
    assert "U+202E (RIGHT-TO-LEFT OVERRIDE)" in reasons["u4"]
    assert "looks like 'ada'" in reasons["u5"] and "u1" in reasons["u5"]
    assert "also computed" in reasons["u6"]
    assert "looks like 'Admins'" in reasons["g2"] and "g1" in reasons["g2"]


def test_look_alikes_arriving_together_are_all_skipped(world: World) -> None:
    # nobody holds the name yet: no look-alike is preferred, every one is reported
    world.users = [person(uid, login) for uid, login in ADAS.items()]
    world.groups = [{"id": g, "name": n, "members": ["u1"]} for g, n in ADMINS.items()]
    result = world.sync()
    assert world.rows() == {}
    assert world.group_names() == {}
    assert {s["source_id"] for s in result.details["skipped"]} == set(ADAS) | set(ADMINS)


def test_a_look_alike_of_a_local_users_email_is_refused(world: World) -> None:
    world.users = [person("u1", "ada")]
    world.sync()
    world.users = [person("u1", "ada"), {**person("u2", "bob"), "email": "\u0430da@example.org"}]
    result = world.sync()
    (skipped,) = result.details["skipped"]
    assert skipped["source_id"] == "u2" and "looks like 'ada@example.org'" in skipped["reason"]


def test_a_look_alike_of_a_local_or_foreign_name_is_refused(
    world: World, store: Store, tmp_path: Path
) -> None:
    add_local_user(store, "root")
    add_local_group(store, "Admins")
    other = World(tmp_path / "other.json", store, name="contractors", users=[person("c1", "carl")])
    other.sync()
    world.users = [person("u1", "r\u043e\u043et"), person("u2", "\u0441arl"), person("u3", "ada")]
    world.groups = [{"id": "g1", "name": "\u0410dmins", "members": ["u3"]}]
    result = world.sync()
    reasons = {s["source_id"]: s["reason"] for s in result.details["skipped"]}
    assert set(reasons) == {"u1", "u2", "g1"}
    assert "a local user" in reasons["u1"] and "connector contractors" in reasons["u2"]
    assert "a local group" in reasons["g1"]


def test_a_look_alike_pair_synced_before_is_left_as_it_is(world: World, store: Store) -> None:
    import sqlalchemy as sa

    from idpsync.store import schema as t

    world.users = [person("u1", "ada"), person("u5", "bob")]
    world.sync()
    with store.transaction() as conn:  # the state an older version left: both names synced
        conn.execute(
            t.users.update()
            .where(t.users.c.source_id == "u5")
            .values(login="\u0430da", login_key="\u0430da", login_skeleton=None)
        )
    world.users = [person("u1", "ada", display_name="Ada L."), person("u5", "\u0430da")]
    result = world.sync()
    skipped = {s["source_id"]: s["reason"] for s in result.details["skipped"]}
    assert list(skipped) == ["u5"] and "looks like 'ada'" in skipped["u5"]
    rows = world.rows()
    assert rows["ada"]["display_name"] == "Ada L." and rows["\u0430da"]["active"]
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.users)).scalar_one() == 2


def test_skeleton_examples() -> None:
    assert skeleton("\u0430") == "a"
    assert collision_key("ADMINS") == collision_key("\u0410dmins") == collision_key("Admins")
    assert collision_key("ａｄａ") == collision_key("ada")
    assert collision_key("ada") != collision_key("adb")
    assert forbidden_character("José") is None
    assert forbidden_character("jo\u2066se") == "U+2066 (LEFT-TO-RIGHT ISOLATE)"
    assert forbidden_character("x\u3164") == "U+3164 (HANGUL FILLER)"
    assert forbidden_character("a\x1bb") == "U+001B (a control character)"
    assert parse_confusables("\ufeff# c\n0430 ;\t0061 ;\tMA\t# x\n006D ;\t0072 006E ;\tMA\n") == {
        "\u0430": "a",
        "m": "rn",
    }
    assert len(prototypes()) > 6000


@settings(max_examples=300, deadline=None)
@given(name=st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=24))
def test_the_ascii_fast_path_equals_the_per_character_mapping(name: str) -> None:
    if name.isprintable():  # the fast path's domain; others take the general one
        assert skeleton(name) == name.translate(_ascii_table())
    assert collision_key(name) == skeleton(fold(name))


def test_collision_keys_are_cached_within_a_bound() -> None:
    collision_key.cache_clear()
    names = [f"Ada.Lovelace{i}@example.org" for i in range(50)]
    first = [collision_key(n) for n in names]
    assert [collision_key(n) for n in names] == first == [skeleton(fold(n)) for n in names]
    info = collision_key.cache_info()
    assert (info.hits, info.misses, info.maxsize) == (50, 50, KEY_CACHE_SIZE)


SOURCES = sorted(c for c, p in prototypes().items() if p.isascii() and p.isalnum())


@st.composite
def look_alike_pairs(draw: st.DrawFn) -> tuple[str, str]:
    """A name and a variant with some characters replaced by confusables of theirs."""
    by_prototype: dict[str, list[str]] = {}
    for char in SOURCES:
        by_prototype.setdefault(prototypes()[char], []).append(char)
    letters = sorted(p for p in by_prototype if len(p) == 1)
    base = "".join(draw(st.lists(st.sampled_from(letters), min_size=1, max_size=8)))
    variant = "".join(
        draw(st.sampled_from([c, *by_prototype[c]])) if c in by_prototype else c for c in base
    )
    return base, variant


def _decide(users: list[SourceUser], groups: list[SourceGroup]) -> set[str]:
    connector = ConnectorSettings.model_validate({"source": {"type": "file", "path": "x.json"}})
    decision = decide(
        Snapshot(users, groups, []),
        connector,
        DirectoryState(),
        connector="hr",
        now=datetime.now(UTC),
    )
    return set(decision.policy.desired.users) | set(decision.policy.desired.groups)


@settings(max_examples=150, deadline=None)
@given(pair=look_alike_pairs())
def test_skeleton_equal_names_always_collide(pair: tuple[str, str]) -> None:
    first, second = pair
    if collision_key(first) != collision_key(second):  # the prototype is not itself a fixpoint
        return
    kept = _decide(
        [SourceUser("a", first, email="a@x.org"), SourceUser("b", second, email="b@x.org")],
        [SourceGroup("g", first), SourceGroup("h", second)],
    )
    assert len(kept & {"a", "b"}) == 0
    assert len(kept & {"g", "h"}) == 0


@settings(max_examples=100, deadline=None)
@given(name=st.text(min_size=1, max_size=10), junk=st.sampled_from(["\u200b", "\u00ad", "\u202e"]))
def test_names_with_invisible_characters_are_refused(name: str, junk: str) -> None:
    login = name[:1] + junk + name[1:]
    kept = _decide([SourceUser("a", login, email="a@x.org")], [SourceGroup("g", login)])
    assert kept == set()


def test_the_migration_backfills_the_skeletons(tmp_path: Path) -> None:
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    from idpsync.store.store import MIGRATIONS, create_engine, migrate

    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005_service")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO users (connector, source_id, login, login_key, email, email_key, active,"
            " attributes, created_at, updated_at) VALUES (NULL, 'x', '\u0410da', '\u0430da',"
            " NULL, NULL, 1, '{}', '2026-01-01', '2026-01-01')"
        )
        conn.exec_driver_sql(
            "INSERT INTO groups (connector, source_id, name, name_key, created_at, updated_at)"
            " VALUES (NULL, 'g', 'Admins', 'admins', '2026-01-01', '2026-01-01')"
        )
    migrate(engine)
    with engine.connect() as conn:
        user = conn.execute(sa.text("SELECT login_skeleton, email_skeleton FROM users")).one()
        group = conn.execute(sa.text("SELECT name_skeleton FROM groups")).one()
    assert tuple(user) == ("ada", None)
    assert tuple(group) == (collision_key("Admins"),)
    engine.dispose()
