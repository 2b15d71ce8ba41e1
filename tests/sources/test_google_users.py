"""The users listing read page by page: records as pages come, managers matched at the end."""

from __future__ import annotations

from typing import Any

import pytest

from idpsync.model import Snapshot, SourceUser
from idpsync.sources import clean
from idpsync.sources.clean import normalise
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


def test_users_are_cleaned_as_their_page_is_taken_and_normalise_trusts_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each page's users are cleaned when the page is taken (while the read waits), a user that
    cannot be stored reported skipped when the listing ends, as :func:`normalise` reports it,
    and still matched as a manager; ``normalise`` then cleans no user again and keeps the
    records, and checks every id as before."""
    deep: Any = "x"
    for _ in range(40):
        deep = {"d": deep}
    pages = UserPages(photos=False)
    pages.take([user("1", "a@x.test", "b@x.test", name={"fullName": "A\x00b"})])
    pages.take(
        [user("2", "b@x.test", customSchemas={"s": deep}), user("3", "c@x.test", "b@x.test")]
    )
    assert [u.display_name for u in pages.users] == ["Ab", "3"]  # cleaned as taken
    snap = Snapshot()
    assert not snap.skipped  # a listing failing now would report nothing
    found = pages.records(snap)
    assert [(u.source_id, u.manager_id) for u in found] == [("1", "2"), ("3", "2")]
    assert [(s.kind, s.source_id, s.key) for s in snap.skipped] == [("user", "2", "b@x.test")]
    assert snap.skipped[0].reason == "user 2: attributes are nested deeper than 32 levels"
    snap.users = found
    again: list[str] = []
    real = clean.clean_user

    def counted(record: Any) -> Any:
        again.append(record.source_id)
        return real(record)

    monkeypatch.setattr(clean, "clean_user", counted)
    normalise(snap)
    assert again == [] and snap.users == found and len(snap.skipped) == 1
    assert snap.complete


def test_normalise_still_checks_the_ids_of_users_cleaned_as_read() -> None:
    snap = Snapshot(users=[SourceUser("", "nobody"), SourceUser("u1", "one")], users_cleaned=True)
    normalise(snap)
    assert [u.source_id for u in snap.users] == ["u1"] and not snap.complete
