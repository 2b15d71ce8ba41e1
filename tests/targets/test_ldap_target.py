"""File source → sync → delivery → a real OpenLDAP slapd (started by the tests)."""

from __future__ import annotations

from typing import Any

import ldap3
import pytest
from ldap3.utils.conv import escape_filter_chars

from idpsync.store import Store
from idpsync.targets import open_target, run_delivery
from idpsync.targets.ldap import LdapTarget
from idpsync.targets.ldap_protocol import dn_key, eq
from idpsync.targets.state import TargetState, pending_count
from tests.targets.scim_support import Directory
from tests.targets.slapd_support import ROOT_DN, ROOT_PW, SUFFIX, Slapd, ldap_settings

pytestmark = pytest.mark.slow
PEOPLE, GROUPS, DISABLED = f"ou=people,{SUFFIX}", f"ou=groups,{SUFFIX}", f"ou=disabled,{SUFFIX}"


async def deliver(store: Store, slapd: Slapd, name: str = "ldap", **kwargs: Any) -> Any:
    ldap = kwargs.pop("ldap", {})
    settings = ldap_settings(slapd.url, **ldap)
    return await run_delivery(store, name, settings, None, **kwargs)


def read_ldap(slapd: Slapd) -> dict[str, Any]:
    """What slapd holds, read with plain ldap3: users by uid, groups by cn with member uids.

    Member DNs are resolved by the server (a base search on each), not by idpsync's code.
    """
    with slapd.connect() as conn:
        conn.search(
            SUFFIX,
            "(objectClass=inetOrgPerson)",
            attributes=["uid", "mail", "employeeType", "displayName"],
        )
        users = {
            e.entry_attributes_as_dict["uid"][0]: (
                (e.entry_attributes_as_dict.get("mail") or [None])[0],
                (e.entry_attributes_as_dict.get("displayName") or [None])[0],
                "disabled" not in e.entry_attributes_as_dict.get("employeeType", [])
                and not e.entry_dn.endswith(DISABLED),
            )
            for e in conn.entries
        }
        conn.search(GROUPS, "(objectClass=groupOfNames)", ldap3.LEVEL, attributes=["cn", "member"])
        groups = {}
        for e in conn.entries:
            names = []
            for member in e.entry_attributes_as_dict.get("member", []):
                if member == ROOT_DN:
                    continue  # the placeholder of an empty group
                try:
                    conn.search(member, "(objectClass=*)", ldap3.BASE, attributes=["uid", "cn"])
                    found = conn.entries[0].entry_attributes_as_dict
                    uid = found.get("uid")
                    names.append(uid[0] if uid else "group:" + found["cn"][0])
                except ldap3.core.exceptions.LDAPNoSuchObjectResult:
                    names.append("dangling:" + member)
            groups[e.entry_attributes_as_dict["cn"][0]] = sorted(names)
    return {"users": users, "groups": groups}


def expected(directory: Directory) -> dict[str, Any]:
    logins = {uid: u["login"] for uid, u in directory.users.items()}
    return {
        "users": {
            u["login"]: (u.get("email"), u.get("display_name"), u.get("active", True))
            for u in directory.users.values()
        },
        "groups": {
            g["name"]: sorted(
                [logins[m] for m in g["members"]]
                + [f"group:{directory.groups[c]['name']}" for c in g.get("subgroups", [])]
            )
            for g in directory.groups.values()
        },
    }


def seed(directory: Directory) -> None:
    for n, login in enumerate(["ada", "grace", "linus", "barbara", "ken"]):
        directory.user(f"u{n}", login, given_name=login.title(), family_name="Doe")
    directory.group("g-eng", "Engineering", ["u0", "u1", "u2"])
    directory.group("g-ops", "Operations", ["u2", "u3"])
    directory.group("g-all", "Everyone", ["u0", "u1", "u2", "u3", "u4"])


def change(directory: Directory) -> None:
    directory.users["u1"]["email"] = "grace.hopper@example.org"
    directory.users["u0"]["login"] = "ada.lovelace"  # modrdn; member values follow
    directory.users["u3"]["active"] = False
    directory.user("u9", "margaret")
    directory.groups["g-eng"]["members"] = ["u0", "u9"]
    directory.groups["g-ops"]["name"] = "Platform"
    directory.groups["g-ops"]["members"] = []  # groupOfNames keeps the placeholder
    del directory.groups["g-all"]


async def test_full_sync_changes_rename_and_deactivation(
    store: Store, directory: Directory, slapd: Slapd
) -> None:
    seed(directory)
    await directory.sync(store)
    result = await deliver(store, slapd)
    assert result.status == "ok", result.message
    assert read_ldap(slapd) == expected(directory)
    ada = slapd.entries(PEOPLE, "(uid=ada)")[f"uid=ada,{PEOPLE}"]
    assert (ada["sn"], ada["givenName"], ada["employeeNumber"]) == (["Doe"], ["Ada"], ["u0"])

    change(directory)
    await directory.sync(store)
    result = await deliver(store, slapd)
    assert result.status == "ok", result.message
    assert read_ldap(slapd) == expected(directory)
    assert f"uid=ada.lovelace,{PEOPLE}" in slapd.entries(PEOPLE)
    ops = slapd.entries(GROUPS, "(cn=Platform)")[f"cn=Platform,{GROUPS}"]
    assert ops["member"] == [ROOT_DN]  # an empty groupOfNames holds the placeholder
    barbara = slapd.entries(PEOPLE, "(uid=barbara)")[f"uid=barbara,{PEOPLE}"]
    assert barbara["employeeType"] == ["disabled"] and barbara["mail"] == ["barbara@example.org"]
    assert pending_count(store, result.cursor) == 0

    directory.users["u3"]["active"] = True
    directory.groups["g-ops"]["members"] = ["u3"]
    await directory.sync(store)
    assert (await deliver(store, slapd)).status == "ok"
    assert read_ldap(slapd) == expected(directory)
    assert "employeeType" not in slapd.entries(PEOPLE, "(uid=barbara)")[f"uid=barbara,{PEOPLE}"]
    again = await deliver(store, slapd)
    assert (again.status, again.delivered) == ("ok", 0)
    reconciled = await deliver(store, slapd, reconcile=True)
    assert reconciled.status == "ok" and "created" not in reconciled.counts
    assert "updated" not in reconciled.counts, reconciled.counts


async def test_move_to_disabled_subtree_keeps_memberships(
    sqlite_store: Store, directory: Directory, slapd: Slapd
) -> None:
    seed(directory)
    await directory.sync(sqlite_store)
    move = {"deactivate": "move", "disabled_dn": DISABLED}
    assert (await deliver(sqlite_store, slapd, ldap=move)).status == "ok"
    directory.users["u2"]["active"] = False
    await directory.sync(sqlite_store)
    assert (await deliver(sqlite_store, slapd, ldap=move)).status == "ok"
    assert f"uid=linus,{DISABLED}" in slapd.entries(DISABLED)
    assert f"uid=linus,{PEOPLE}" not in slapd.entries(PEOPLE)
    assert read_ldap(slapd) == expected(directory)  # member DNs point into ou=disabled
    directory.users["u2"]["active"] = True
    directory.users["u2"]["login"] = "torvalds"  # back and renamed at once
    await directory.sync(sqlite_store)
    assert (await deliver(sqlite_store, slapd, ldap=move)).status == "ok"
    assert f"uid=torvalds,{PEOPLE}" in slapd.entries(PEOPLE)
    assert slapd.entries(DISABLED) == {}
    assert read_ldap(slapd) == expected(directory)


SPACES_ALLOWED = {"login_pattern": r"[^\x00-\x1f\x7f]{1,255}"}
"""A login pattern that allows spaces (the default refuses whitespace). Policy trims
leading and trailing spaces; those are shown by the direct target test at the end."""
SPECIAL = ['a,b+c"d\\e<f>g;h=i', "#hash", "Jürgen Ñandú 李", "*)(uid=*", "x = y ;z"]
"""Logins with characters special in DNs and filters (the file source trims logins, so
leading and trailing spaces are shown with group names and in the direct test below)."""


async def test_special_characters_and_filter_injection(
    sqlite_store: Store, directory: Directory, slapd: Slapd
) -> None:
    directory.user("u0", "ada")
    for n, login in enumerate(SPECIAL, start=1):
        directory.user(f"u{n}", login, email=f"user{n}@example.org")
    directory.group("g1", 'R&D, "Core" <team>; #1', ["u0", *[f"u{n}" for n in range(1, 6)]])
    directory.group("g2", "Ünïcode + = \\", ["u3", "u4"])  # ends with a backslash
    await directory.sync(sqlite_store, mapping=SPACES_ALLOWED)
    result = await deliver(sqlite_store, slapd)
    assert result.status == "ok", result.message
    assert read_ldap(slapd) == expected(directory)
    with slapd.connect() as conn:
        for login in SPECIAL:  # each is found as itself, and only itself
            conn.search(PEOPLE, f"(uid={escape_filter_chars(login)})", attributes=["uid"])
            assert [e.entry_attributes_as_dict["uid"][0] for e in conn.entries] == [login]

    # without the source-id attribute, a fresh target finds users by uid (escaped filters):
    # everything is adopted, nothing is created twice, and "*)(uid=*" adopts only itself
    no_source = {"source_id_attribute": None}
    adopted = await deliver(sqlite_store, slapd, name="ldap2", ldap=no_source, reconcile=True)
    assert adopted.status == "ok", adopted.message
    assert adopted.counts.get("adopted") == len(SPECIAL) + 3 and "created" not in adopted.counts
    state = TargetState(sqlite_store, "ldap2")
    with slapd.connect() as conn:
        conn.search(PEOPLE, f"(uid={escape_filter_chars('*)(uid=*')})", attributes=["entryUUID"])
        assert state.remote_id("user", "hr", "u4") == conn.entries[0].entryUUID.value
    assert read_ldap(slapd) == expected(directory)

    directory.users["u1"]["login"] = 'x,y+z"'  # rename with special characters
    await directory.sync(sqlite_store, mapping=SPACES_ALLOWED)
    assert (await deliver(sqlite_store, slapd)).status == "ok"
    assert read_ldap(slapd) == expected(directory)


async def test_slapd_killed_and_restarted_resumes_from_cursor(
    sqlite_store: Store, directory: Directory, slapd: Slapd
) -> None:
    seed(directory)
    await directory.sync(sqlite_store)
    assert (await deliver(sqlite_store, slapd)).status == "ok"
    cursor = TargetState(sqlite_store, "ldap").row()["cursor"]

    slapd.kill()
    change(directory)
    await directory.sync(sqlite_store)
    down = await deliver(sqlite_store, slapd)
    assert down.status == "down"
    assert f"on {slapd.url}" in down.message and "resumes from the same change" in down.message
    assert ROOT_PW not in down.message
    assert TargetState(sqlite_store, "ldap").row()["cursor"] == cursor

    slapd.start()  # the mdb database on disk still holds the first delivery
    back = await deliver(sqlite_store, slapd)
    assert back.status == "ok", back.message
    assert read_ldap(slapd) == expected(directory)
    assert pending_count(sqlite_store, back.cursor) == 0


async def test_wrong_password_is_a_clear_auth_error(
    sqlite_store: Store, directory: Directory, slapd: Slapd, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(directory)
    await directory.sync(sqlite_store)
    settings = ldap_settings(slapd.url)
    monkeypatch.setenv("IDPSYNC_TEST_LDAP_PASSWORD", "wrong-" + ROOT_PW)
    wrong = settings.model_validate(
        {**settings.model_dump(exclude={"password"}), "password": "env:IDPSYNC_TEST_LDAP_PASSWORD"}
    )
    result = await run_delivery(sqlite_store, "ldap", wrong, None)
    assert result.status == "down"
    assert "check bind_dn and password" in result.message
    assert ROOT_PW not in result.message


async def test_dry_run_and_unique_names_groups(
    sqlite_store: Store, directory: Directory, slapd: Slapd
) -> None:
    seed(directory)
    await directory.sync(sqlite_store)
    dry = await deliver(sqlite_store, slapd, dry_run=True)
    assert dry.status == "dry_run" and all(w.startswith("ADD ") for w in dry.would_send)
    assert slapd.entries(PEOPLE) == {}
    unique = {"group_object_class": "groupOfUniqueNames"}
    assert (await deliver(sqlite_store, slapd, ldap=unique)).status == "ok"
    groups = slapd.entries(GROUPS, "(objectClass=groupOfUniqueNames)")
    eng = groups[f"cn=Engineering,{GROUPS}"]["uniqueMember"]
    assert {dn_key(m) for m in eng} == {
        dn_key(f"uid={u},{PEOPLE}") for u in ("ada", "grace", "linus")
    }


def test_filters_and_dns_are_escaped() -> None:
    assert eq("uid", "*)(uid=*") == "(uid=\\2a\\29\\28uid=\\2a)"
    assert dn_key("uid=a\\2Cb,ou=People,DC=x") == dn_key("UID=A\\,B, ou=people,dc=X")
    assert dn_key("cn=\\ lead,dc=x") != dn_key("cn=lead,dc=x")


async def test_logins_with_leading_and_trailing_spaces(slapd: Slapd) -> None:
    target = open_target(ldap_settings(slapd.url), None)
    assert isinstance(target, LdapTarget)
    try:
        fields = {"login": " lead ", "email": "l@example.org", "active": True}
        remote = await target.create_user("s1", fields)
        found = await target.find_user("other", fields)  # by uid, not by the source id
        assert found is not None and found.id == remote
        assert found.fields["login"] == " lead "
        assert await target.find_user("none", {"login": "*", "email": "*"}) is None
        group = await target.create_group("g", " spaced ")
        await target.add_members(group, [(remote, "user")])
        await target.update_user(remote, {"login": "  lead2"})
        (dn,) = slapd.entries(PEOPLE)
        assert dn_key(dn) == dn_key(f"uid=\\20 lead2,{PEOPLE}")
        members = slapd.entries(GROUPS)[f"cn=\\20spaced\\20,{GROUPS}"]["member"]
        assert [dn_key(m) for m in members] == [dn_key(dn)]
    finally:
        await target.close()


async def test_nested_groups_follow_renames(
    sqlite_store: Store, directory: Directory, slapd: Slapd
) -> None:
    seed(directory)
    directory.groups["g-all"]["subgroups"] = ["g-eng", "g-ops"]
    await directory.sync(sqlite_store)
    assert (await deliver(sqlite_store, slapd)).status == "ok"
    assert read_ldap(slapd) == expected(directory)
    directory.groups["g-eng"]["name"] = "R&D, Engineering"  # the nested group's DN changes
    directory.groups["g-all"]["subgroups"] = ["g-eng"]
    await directory.sync(sqlite_store)
    result = await deliver(sqlite_store, slapd)
    assert result.status == "ok", result.message
    assert read_ldap(slapd) == expected(directory)
