"""Conformance: the official ``onelogin`` SDK (4.x), on a real port, reads the emulator's truth.

The SDK is a usable checker for v2 users and roles and v1 groups (its v1 users/roles models do
not match the real envelopes, see the reference notes). Its token quirk: ``access_token`` given
to ``Configuration()`` is reset to ``None``, so it is set after construction.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import onelogin
import pytest
from onelogin.models.generate_token_request import GenerateTokenRequest

from idpsync.emulators.framework import RunningServer
from idpsync.emulators.onelogin import OneLoginEmulator


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[OneLoginEmulator, RunningServer]]:
    emulator = OneLoginEmulator.generate(users=137, groups=12, roles=7, seed=4)
    with emulator.serve() as server:
        yield emulator, server


@pytest.fixture(scope="module")
def client(served: tuple[OneLoginEmulator, RunningServer]) -> onelogin.ApiClient:
    emulator, server = served
    config = onelogin.Configuration(
        host=server.url, username=emulator.client_id, password=emulator.client_secret
    )
    api = onelogin.ApiClient(config)
    token = onelogin.OAuth2Api(api).generate_token(
        GenerateTokenRequest(grant_type="client_credentials")
    )
    assert token.expires_in == 36000
    assert token.account_id == emulator.account.account_id
    config.access_token = token.access_token
    return api


def all_pages(call: Any, **kwargs: Any) -> list[Any]:
    """Follow ``After-Cursor`` as the SDK's users do (it sends the header value back)."""
    items: list[Any] = []
    cursor: str | None = None
    seen: set[str] = set()
    while True:
        response = call(cursor=cursor, **kwargs) if cursor else call(**kwargs)
        items.extend(response.data)
        cursor = response.headers.get("After-Cursor")
        if not cursor:
            return items
        assert cursor not in seen
        seen.add(cursor)


def test_sdk_lists_v2_users_with_groups_roles_and_codes(
    served: tuple[OneLoginEmulator, RunningServer], client: onelogin.ApiClient
) -> None:
    emulator, _ = served
    users = all_pages(onelogin.UsersV2Api(client).list_users2_with_http_info, limit=50)
    truth = emulator.account.truth()
    assert [u.id for u in users] == sorted(truth.users)
    for user in users:
        expected = truth.users[user.id]
        assert (user.username, user.email, user.firstname) == (
            expected.username,
            expected.email,
            expected.firstname,
        )
        assert user.group_id == expected.group_id
        assert user.role_ids == expected.role_ids
        assert (user.status, user.state) == (expected.status, expected.state)
    assert {u.status for u in users} >= {0, 1, 2, 3}


def test_sdk_reads_one_user_and_a_404(
    served: tuple[OneLoginEmulator, RunningServer], client: onelogin.ApiClient
) -> None:
    emulator, _ = served
    some = emulator.account.user_ids[5]
    user = onelogin.UsersV2Api(client).get_user2(some)
    assert user.username == emulator.account.users[some].username
    with pytest.raises(onelogin.ApiException) as caught:
        onelogin.UsersV2Api(client).get_user2(1)
    assert caught.value.status == 404


def test_sdk_lists_roles_and_role_users(
    served: tuple[OneLoginEmulator, RunningServer], client: onelogin.ApiClient
) -> None:
    emulator, _ = served
    truth = emulator.account.truth()
    roles = onelogin.RolesApi(client)
    listed = all_pages(roles.list_roles_with_http_info, limit=3)
    assert {(r.id, r.name) for r in listed} == {(r.id, r.name) for r in truth.roles.values()}
    edges = set()
    for role in listed:
        members = all_pages(roles.get_role_users_with_http_info, role_id=str(role.id), limit=20)
        edges |= {(role.id, m.id) for m in members}
    assert edges == truth.role_members()
    assert roles.get_role(str(listed[0].id)).name == listed[0].name


def test_sdk_lists_v1_groups_and_one_group(
    served: tuple[OneLoginEmulator, RunningServer], client: onelogin.ApiClient
) -> None:
    emulator, _ = served
    truth = emulator.account.truth()
    groups = onelogin.GroupsApi(client).get_groups()
    assert groups.status.code == 200
    assert {(g.id, g.name) for g in groups.data} == {(g.id, g.name) for g in truth.groups.values()}
    one = onelogin.GroupsApi(client).get_group_by_id(str(groups.data[1].id))
    assert one.data[0].name == groups.data[1].name


def test_sdk_reads_the_rate_limit(
    served: tuple[OneLoginEmulator, RunningServer], client: onelogin.ApiClient
) -> None:
    emulator, _ = served
    limit = onelogin.OAuth2Api(client).get_rate_limit()
    assert limit.data is not None
    assert limit.data.x_rate_limit_limit == 5000
    assert limit.data.x_rate_limit_remaining == 5000 - emulator.budget.used


def test_sdk_reads_v2_users_by_page_number_with_the_paging_headers(
    served: tuple[OneLoginEmulator, RunningServer], client: onelogin.ApiClient
) -> None:
    """``page=N`` (as idpsync's ``parallel_pages`` asks) gives the chain's pages and headers."""
    emulator, _ = served
    api = onelogin.UsersV2Api(client)
    total = len(emulator.account.truth().users)
    pages = -(-total // 50)
    users: list[Any] = []
    for number in range(1, pages + 1):
        response = api.list_users2_with_http_info(limit=50, page=number)
        headers = response.headers
        assert headers["Total-Count"] == str(total)
        assert headers["Total-Pages"] == str(pages)
        assert headers["Current-Page"] == str(number)
        assert len(response.data) == (50 if number < pages else total - 50 * (pages - 1))
        users.extend(response.data)
    assert [u.id for u in users] == [u.id for u in all_pages(api.list_users2_with_http_info)]
    past = api.list_users2_with_http_info(limit=50, page=pages + 1)
    assert past.data == [] and past.headers["Total-Count"] == str(total)
    assert "After-Cursor" not in past.headers


def test_sdk_reads_custom_attributes_of_v2_users(
    served: tuple[OneLoginEmulator, RunningServer], client: onelogin.ApiClient
) -> None:
    emulator, _ = served
    some = emulator.account.user_ids[2]
    emulator.account.update_user(some, custom_attributes={"badge": "B-2", "site": None})
    user = onelogin.UsersV2Api(client).get_user2(some)
    listed = onelogin.UsersV2Api(client).list_users2(limit=50, fields="id,custom_attributes")
    assert user.custom_attributes == {"badge": "B-2", "site": None}
    assert {u.id: u.custom_attributes for u in listed}[some] == {"badge": "B-2", "site": None}
