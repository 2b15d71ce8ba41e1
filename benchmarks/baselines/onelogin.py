"""OneLogin baselines with the official ``onelogin`` SDK (4.x, synchronous; threads).

* **naive**: ``UsersV2Api.list_users2`` (the SDK's default page; ``After-Cursor`` to the
  end; each user carries its ``group_id``), then each user's roles with
  ``UsersV1Api.get_user_roles``, one user after the other, until the time cap.
* **group-sdk**: users (v2, ``limit=100``, which the API caps at 50), groups (v1), roles (v2,
  ``limit=100``), then each role's users (``RolesApi.get_role_users``), 16 roles in flight in a
  thread pool. The SDK's ``GroupsApi.get_groups`` takes no cursor and its model drops the v1
  ``pagination`` block, so group pages after the first are fetched through the SDK's own
  ``ApiClient.call_api`` (same auth and transport) and read raw. The SDK does not retry a
  429; the script waits for the reset the answer gives and tries again.

Both stop at their time cap: every call, and every wait for a reset, first checks the run's
:class:`Deadline`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import onelogin  # type: ignore[import-untyped]
from onelogin.models.generate_token_request import (  # type: ignore[import-untyped]
    GenerateTokenRequest,
)

from benchmarks.baselines.common import (
    CONCURRENCY,
    Capped,
    Counts,
    Deadline,
    Target,
    secret,
    setting,
)


def api_client(target: Target) -> onelogin.ApiClient:
    """An SDK client with a client-credentials token (set after construction: the SDK resets
    an ``access_token`` given to ``Configuration``)."""
    config = onelogin.Configuration(
        host=setting(target.block, "base_url"),
        username=setting(target.block, "client_id"),
        password=secret(target, "client_secret"),
    )
    config.connection_pool_maxsize = CONCURRENCY
    client = onelogin.ApiClient(config)
    token = onelogin.OAuth2Api(client).generate_token(
        GenerateTokenRequest(grant_type="client_credentials")
    )
    config.access_token = token.access_token
    return client


def patient(deadline: Deadline, call: Callable[..., Any], **kwargs: Any) -> Any:
    """``call(**kwargs)``, waiting out a 429 (``X-RateLimit-Reset`` seconds, else 1 s);
    :class:`Capped` before a call or in a wait once the run's cap is reached."""
    for _ in range(20):
        deadline.check()
        try:
            return call(**kwargs)
        except onelogin.ApiException as exc:
            if exc.status != 429:
                raise
            reset = (exc.headers or {}).get("X-RateLimit-Reset") or "1"
            time.sleep(min(60.0, max(0.1, float(reset)), deadline.left()))
    raise RuntimeError("still throttled after 20 tries")


def pages(deadline: Deadline, call: Callable[..., Any], **kwargs: Any) -> Iterator[Any]:
    """Items of a v2 listing, following ``After-Cursor`` (the SDK's users send it back)."""
    cursor: str | None = None
    while True:
        response = patient(deadline, call, **({"cursor": cursor} if cursor else {}), **kwargs)
        yield from response.data or []
        cursor = response.headers.get("After-Cursor")
        if not cursor:
            return


def groups_v1(client: onelogin.ApiClient, deadline: Deadline, found: set[str]) -> None:
    """Every v1 group id into ``found``, through ``call_api`` so that the ``after_cursor`` can
    be sent."""
    query: list[tuple[str, str]] = []
    while True:
        raw = patient(
            deadline,
            client.call_api,
            resource_path="/api/1/groups",
            method="GET",
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["OAuth2"],
            response_types_map={},
            _preload_content=False,
        )
        body = json.loads(raw.raw_data)
        found |= {str(g["id"]) for g in body.get("data") or []}
        cursor = (body.get("pagination") or {}).get("after_cursor")
        if not cursor:
            return
        query = [("after_cursor", cursor)]


def naive(target: Target, cap_s: float) -> Counts:
    """Users with the SDK's defaults, then each user's roles, one user after the other."""
    counts = Counts()
    with api_client(target) as client:
        try:
            _naive(client, Deadline(cap_s), counts)
        except Capped:
            counts.stopped = True
    return counts


def _naive(client: onelogin.ApiClient, deadline: Deadline, counts: Counts) -> None:
    users = []
    for user in pages(deadline, onelogin.UsersV2Api(client).list_users2_with_http_info):
        users.append(user)
        counts.users.add(str(user.id))
    counts.visit(len(users), "users")
    v1 = onelogin.UsersV1Api(client)
    for user in users:
        if user.group_id:
            counts.groups.add(str(user.group_id))
            counts.edges.add((str(user.group_id), str(user.id)))
        raw = patient(
            deadline, v1.get_user_roles_with_http_info, user_id=user.id, _preload_content=False
        )
        for rid in _role_ids(json.loads(raw.raw_data)):
            counts.groups.add(f"role:{rid}")
            counts.edges.add((f"role:{rid}", str(user.id)))
        counts.one_more()


def _role_ids(body: dict[str, Any]) -> list[int]:
    """Role ids of a v1 ``/users/{id}/roles`` answer (``data`` is ``[[ids…]]``)."""
    data = body.get("data") or []
    return [int(x) for x in (data[0] if data and isinstance(data[0], list) else data)]


def group_sdk(target: Target, cap_s: float) -> Counts:
    """Users, groups and roles, then every role's users, 16 roles in flight."""
    counts = Counts()
    with api_client(target) as client:
        pool = ThreadPoolExecutor(CONCURRENCY)
        try:
            _group_sdk(client, Deadline(cap_s), pool, counts)
        except Capped:
            counts.stopped = True
        finally:
            pool.shutdown(cancel_futures=True)  # the calls in flight end, no new one starts
    return counts


def _group_sdk(
    client: onelogin.ApiClient, deadline: Deadline, pool: ThreadPoolExecutor, counts: Counts
) -> None:
    users_api, roles_api = onelogin.UsersV2Api(client), onelogin.RolesApi(client)

    def users() -> None:
        for user in pages(deadline, users_api.list_users2_with_http_info, limit=100):
            counts.users.add(str(user.id))
            if user.group_id:
                counts.edges.add((str(user.group_id), str(user.id)))

    listed = pool.submit(users)
    roles = pool.submit(
        lambda: list(pages(deadline, roles_api.list_roles_with_http_info, limit=100))
    )
    groups = pool.submit(groups_v1, client, deadline, counts.groups)
    for listing in (listed, groups):
        listing.result()  # raises what the listing raised (Capped)
    role_ids = [str(r.id) for r in roles.result()]
    counts.groups |= {f"role:{rid}" for rid in role_ids}
    counts.visit(len(role_ids), "roles")

    def members(rid: str) -> list[tuple[str, str]]:
        found = pages(deadline, roles_api.get_role_users_with_http_info, role_id=rid, limit=100)
        return [(f"role:{rid}", str(u.id)) for u in found]

    for done in [pool.submit(members, rid) for rid in role_ids]:
        counts.edges.update(done.result())
        counts.one_more()
