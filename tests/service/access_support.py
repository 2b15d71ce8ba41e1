"""Helpers of the role and audit tests: local accounts of each role and tokens of each role."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import httpx

from idpsync.store import Store, tokens
from idpsync.web.roles import Role
from idpsync.web.security import hash_token
from tests.service.support import PASSWORD, PASSWORD_HASH, Harness, harness

ACCOUNTS = (
    f'accounts = {{ vera = {{ password_hash = "{PASSWORD_HASH}", role = "viewer" }}, '
    f'otto = {{ password_hash = "{PASSWORD_HASH}", role = "operator" }} }}'
)
USERS = {Role.VIEWER: "vera", Role.OPERATOR: "otto", Role.ADMIN: "admin"}
TOKENS = {role: f"{role.label}-token-0123456789abcdefghijklmnopqrstuv" for role in Role}


def access_harness(tmp_path: Path, store: Store) -> Harness:
    """A harness with a local account and a stored API token of every role."""
    h = harness(tmp_path, store, extra=ACCOUNTS)
    for role, token in TOKENS.items():
        tokens.add(
            store, f"ci-{role.label}", hash_token(token), role.label, "test", datetime.now(UTC)
        )
    return h


async def sign_in(client: httpx.AsyncClient, user: str) -> str:
    """Sign ``user`` in through the form; the session's CSRF token."""
    page = await client.get("/login")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    answer = await client.post(
        "/login", data={"csrf": found.group(1), "username": user, "password": PASSWORD}
    )
    assert answer.status_code == 303, answer.text
    home = await client.get("/")
    token = re.search(r'name="csrf" value="([^"]+)"', home.text)
    assert token is not None
    return token.group(1)
