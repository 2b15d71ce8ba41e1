"""The users listing read page by page: records as pages come, managers matched at the end."""

from __future__ import annotations

from typing import Any

from idpsync.model import Snapshot
from idpsync.sources.google.users import UserPages


def user(uid: str, email: str, manager: str | None = None, **extra: Any) -> dict[str, Any]:
    """A Directory ``User`` resource as the listing has it."""
    item: dict[str, Any] = {"kind": "admin#directory#user", "id": uid, "primaryEmail": email}
    item |= {"etag": f'"{uid}"', "name": {"fullName": uid}, **extra}
    if manager:
        item["relations"] = [{"type": "manager", "value": manager}]
    return item


def test_managers_on_later_pages_are_matched_once_the_listing_ends() -> None:
    pages = UserPages(photos=True)
    pages.take([user("1", "a@x.test", "Boss@X.test"), user("2", "b@x.test", "nobody@x.test")])
    pages.take([user("3", "c@x.test", aliases=["boss@x.test"], thumbnailPhotoEtag="e3")])
    assert [u.manager_id for u in pages.users] == [None, None, None]  # not yet known
    snap = Snapshot()
    found = pages.records(snap)
    assert [(u.source_id, u.manager_id, u.photo_ref) for u in found] == [
        ("1", "3", None),
        ("2", None, None),
        ("3", None, "e3"),
    ]
    assert "etag" not in found[0].attributes and found[0].attributes["primaryEmail"] == "a@x.test"
    assert snap.complete and not snap.skipped


def test_what_the_pages_say_is_reported_only_when_the_listing_ends() -> None:
    pages = UserPages(photos=False)
    pages.take([user("1", "a@x.test"), {"primaryEmail": "no-id@x.test"}, "junk"])
    pages.take([user("2", ""), user("3", "c@x.test", suspended="yes")])
    snap = Snapshot()
    assert snap.complete and not snap.skipped  # a listing failing now would report nothing
    assert [u.source_id for u in pages.records(snap)] == ["1"]
    assert sorted(s.source_id for s in snap.skipped) == ["2", "3"]
    assert snap.incomplete_reasons == [
        "GET /admin/directory/v1/users: 2 item(s) are not objects with a usable id (skipped)"
    ]
