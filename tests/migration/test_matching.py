"""Matching people across two IdPs (issue #24): keys in order, ambiguity both ways, folding."""

from __future__ import annotations

from typing import Any

import pytest

from idpsync.app.compare import (
    Ambiguity,
    CompareError,
    Difference,
    OldUser,
    match_people,
    parse_keys,
)
from idpsync.model import SourceUser


def old(uid: int, login: str, email: str | None = None, **attributes: Any) -> OldUser:
    return OldUser(uid, f"okta-{uid}", login, email, login.title(), True, attributes)


def new(sid: str, login: str, email: str | None = None, **attributes: Any) -> SourceUser:
    return SourceUser(sid, login, email, login.title(), attributes=attributes)


def test_a_changed_email_is_matched_by_employee_id() -> None:
    olds = [old(1, "ann", "ann@old.example", employeeId="E1"), old(2, "bob", "bob@x.org")]
    news = [
        new("n1", "ann", "ann.smith@new.example", employeeId="E1"),
        new("n2", "bob", "BOB@X.org"),
    ]
    result = match_people(olds, news, ["email", "attributes.employeeId"])
    assert [(m.old_user_id, m.new_source_id, m.key) for m in result.matched] == [
        (1, "n1", "attributes.employeeId"),
        (2, "n2", "email"),
    ]
    first = result.matched[0]
    assert first.differences == (Difference("email", "ann@old.example", "ann.smith@new.example"),)
    assert result.matched[1].differences == (Difference("email", "bob@x.org", "BOB@X.org"),)
    assert (result.only_old, result.only_new, result.ambiguous) == ([], [], [])


def test_keys_are_tried_in_the_order_given() -> None:
    olds = [old(1, "ann", "shared@x.org", employeeId="E1")]
    news = [new("n1", "ann", "other@x.org", employeeId="E1")]
    by_login = match_people(olds, news, ["login", "attributes.employeeId"])
    assert by_login.matched[0].key == "login"
    by_id = match_people(olds, news, ["attributes.employeeId", "login"])
    assert by_id.matched[0].key == "attributes.employeeId"


def test_one_old_to_many_new_is_ambiguous_and_never_guessed() -> None:
    olds = [old(1, "ann", "ann@x.org", employeeId="E1")]
    news = [new("n1", "ann1", "ann@x.org", employeeId="E1"), new("n2", "ann2", "ANN@x.org")]
    result = match_people(olds, news, ["email", "attributes.employeeId"])
    assert result.matched == []
    assert result.ambiguous == [Ambiguity("email", "ann@x.org", (1,), ("n1", "n2"))]
    assert result.ambiguous[0].kind == "one old to many new"
    # set aside: the later key (which would single out n1) is not tried for them
    assert (result.only_old, result.only_new) == ([], [])


def test_many_old_to_one_new_is_ambiguous() -> None:
    olds = [old(1, "ann", employeeId="E7"), old(2, "anna", employeeId=" e7 ")]
    news = [new("n1", "ann.x", employeeId="E7"), new("n2", "zed", employeeId="E8")]
    result = match_people(olds, news, ["attributes.employeeId"])
    assert result.ambiguous == [Ambiguity("attributes.employeeId", "e7", (1, 2), ("n1",))]
    assert result.ambiguous[0].kind == "many old to one new"
    assert result.only_new == ["n2"]


def test_unicode_and_case_fold_alike() -> None:
    olds = [
        old(1, "STRASSE", "Jürgen@Example.ORG"),
        old(2, "ｆｕｌｌｗｉｄｔｈ"),  # NFKC makes full-width letters plain
        old(3, "Ǆemal"),
    ]
    news = [
        new("n1", "strasse", "jürgen@example.org"),
        new("n2", "fullwidth"),
        new("n3", "ǆemal"),
    ]
    result = match_people(olds, news, ["email", "login"])
    assert {(m.old_user_id, m.new_source_id, m.key) for m in result.matched} == {
        (1, "n1", "email"),
        (2, "n2", "login"),
        (3, "n3", "login"),
    }


def test_people_without_a_value_fall_through_and_numbers_match_text() -> None:
    olds = [old(1, "ann", None, employeeId=1001), old(2, "bob", "", employeeId=None)]
    news = [new("n1", "ann.b", None, employeeId="1001"), new("n2", "carl", "c@x.org")]
    result = match_people(olds, news, ["email", "attributes.employeeId"])
    assert [(m.old_user_id, m.new_source_id) for m in result.matched] == [(1, "n1")]
    assert (result.only_old, result.only_new) == ([2], ["n2"])


def test_nested_attributes_and_the_differences_reported() -> None:
    olds = [OldUser(1, "o1", "ann", "ann@x.org", "Ann", True, {"hr": {"id": "7"}})]
    news = [
        SourceUser(
            "n1",
            "ann.smith",
            "ann@x.org",
            "Ann Smith",
            active=False,
            attributes={"hr": {"id": "7"}},
        )
    ]
    result = match_people(olds, news, ["attributes.hr.id"])
    (m,) = result.matched
    assert m.differences == (
        Difference("display_name", "Ann", "Ann Smith"),
        Difference("login", "ann", "ann.smith"),
        Difference("active", True, False),
    )
    assert result.counts() == {
        "matched": 1,
        "changed": 1,
        "only_old": 0,
        "only_new": 0,
        "ambiguous": 0,
    }


@pytest.mark.parametrize("key", ["mail", "attributes.", "", "source_id"])
def test_unknown_keys_are_refused(key: str) -> None:
    with pytest.raises(CompareError, match=r"match key|at least one"):
        parse_keys([key])


def test_keys_are_kept_once_in_order() -> None:
    assert parse_keys(["login", " email", "login"]) == ("login", "email")


def test_an_attribute_named_differently_is_given_as_a_pair() -> None:
    olds = [OldUser(1, "o1", "ann", "ann@old.example", "Ann", True, {"profile": {"hr": "77"}})]
    news = [new("n1", "ann.b", "ann@new.example", employeeId="77")]
    result = match_people(olds, news, ["email", "attributes.profile.hr = attributes.employeeId"])
    assert [(m.new_source_id, m.key) for m in result.matched] == [
        ("n1", "attributes.profile.hr=attributes.employeeId")
    ]
    with pytest.raises(CompareError):
        parse_keys(["email=login=email"])
