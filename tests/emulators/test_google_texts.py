"""The Google emulator's answers joined from resource texts made once per tenant version."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from idpsync.emulators.google import GoogleEmulator, resources, texts

API = "/admin/directory/v1/"


@pytest.fixture
def emu() -> GoogleEmulator:
    return GoogleEmulator.generate(users=60, groups=8, seed=3, rate_limit=False)


def _counting(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts every resource :mod:`.texts` renders, by kind."""
    made: Counter[str] = Counter()

    def wrap(name: str, render: Callable[..., dict[str, Any]]) -> None:
        def counted(*args: Any) -> dict[str, Any]:
            made[name] += 1
            return render(*args)

        monkeypatch.setattr(texts, name, counted)

    for name in ("render_user", "render_group", "render_member"):
        wrap(name, getattr(resources, name))
    return made


def _get(emu: GoogleEmulator, path: str, **params: str) -> bytes:
    reply = emu.answer(API + path, params, "Bearer " + emu.issue_token())
    assert reply.status == 200, reply.body
    return reply.body


def _read(emu: GoogleEmulator) -> dict[str, Any]:
    """A users page, the groups page and the largest group's members page, parsed."""
    t = emu.tenant
    largest = max(t.group_ids, key=lambda g: len(t.groups[g].members))
    return {
        "users": json.loads(_get(emu, "users", customer="my_customer", maxResults="500")),
        "groups": json.loads(_get(emu, "groups", customer="my_customer")),
        "members": json.loads(_get(emu, f"groups/{t.gid(largest)}/members", maxResults="200")),
    }


def test_pages_are_json_dumps_of_the_resources_each_rendered_once_a_version(
    emu: GoogleEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = emu.tenant
    t.update_user(t.user_ids[2], display_name='Zoë "Ünïcode" ✓')
    t.add_alias(t.user_ids[3], "nick@example.com")
    made = _counting(monkeypatch)
    body = _get(emu, "users", customer="my_customer", maxResults="7", projection="full")
    again = _get(emu, "users", customer="my_customer", maxResults="7", projection="full")
    page = json.loads(body)
    users = [resources.render_user(t, t.users[i], None, None) for i in t.user_ids[:7]]
    assert body == again == json.dumps({**page, "users": users}).encode()
    assert "\\u00eb" in body.decode()  # ASCII, as json.dumps gives
    group = t.group_ids[0]
    owner = t.member_list(group)[0]
    members = _get(emu, f"groups/{t.gid(group)}/members", maxResults="3")
    expected = [
        resources.render_member(t, m, "OWNER" if m == owner else "MEMBER")
        for m in t.member_list(group)[:3]
    ]
    assert members == json.dumps({**json.loads(members), "members": expected}).encode()
    assert made["render_user"] == 7  # the second page's users were not rendered again


def test_a_change_after_a_page_was_rendered_is_in_the_next_answer(
    emu: GoogleEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = emu.tenant
    before = _read(emu)
    made = _counting(monkeypatch)
    assert _read(emu) == before and sum(made.values()) == 0  # unchanged: nothing rendered

    user = next(t.generic(m["id"]) for m in before["members"]["members"] if m["type"] == "USER")
    assert user is not None and user in t.users
    admin, group = next(u for u in t.user_ids if u not in t.admins and u != user), t.group_ids[0]
    t.update_user(user, display_name="Renamed Later", enabled=False)
    t.make_admin(admin)  # not a change in the tenant's log, still in the next answer
    t.rename_group(group, "Renamed group")
    after = _read(emu)
    listed = {u["id"]: u for u in after["users"]["users"]}
    assert listed[t.gid(user)]["name"]["fullName"] == "Renamed Later"
    assert listed[t.gid(user)]["suspended"] is True
    assert listed[t.gid(admin)]["isAdmin"] is True
    assert {g["id"]: g["name"] for g in after["groups"]["groups"]}[t.gid(group)] == "Renamed group"
    statuses = {m["id"]: m.get("status") for m in after["members"]["members"]}
    assert statuses[t.gid(user)] == "SUSPENDED"
    assert made["render_user"] == len(t.user_ids)  # every user made again for the new version


def test_warm_makes_a_plain_reads_texts_before_serving(
    emu: GoogleEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    cold = _read(emu)
    emu.tenant.update_user(emu.tenant.user_ids[0], display_name="Changed before serving")
    made = _counting(monkeypatch)
    emu.warm()
    warmed = sum(made.values())
    after = _read(emu)
    assert sum(made.values()) == warmed  # the read rendered nothing more
    assert made["render_user"] == len(emu.tenant.user_ids)
    assert after["members"] == cold["members"]
    assert after["users"]["users"][1:] == cold["users"]["users"][1:]
    assert after["users"]["users"][0]["name"]["fullName"] == "Changed before serving"
