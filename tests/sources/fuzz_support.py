"""Fuzzing a connector's parsing: an emulator's answers, with some bodies replaced or mutated.

:class:`Mutating` forwards every request to an emulator's in-process app and, for the answers
chosen by a :data:`Mutation`, rewrites the JSON body: replaces it whole with any JSON value,
replaces one item of its first list, or sets or drops one field of such an item. Token
answers are left alone (token answers are the HTTP layer's concern), so each example reads
real pages with some of them wrong in some way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from hypothesis import strategies as st

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
"""Any JSON value (NaN and infinities included, as Python's JSON reader accepts them)."""

Mutation = tuple[int, str, Any, int]
"""(which answer, how, the new value, a selector for the item and the field)."""
mutations: st.SearchStrategy[list[Mutation]] = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=12),
        st.sampled_from(["whole", "item", "field", "drop", "id"]),
        json_values,
        st.integers(min_value=0, max_value=10**6),
    ),
    min_size=1,
    max_size=4,
)
FIELDS = ("id", "displayName", "name", "value", "profile", "primaryEmail", "username", "type")
"""Fields a mutation prefers (the ones parsers read), before any other field of an item."""


def _first_list(body: Any) -> list[Any] | None:
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, list):
                return value
    return None


def mutate(body: Any, how: str, value: Any, selector: int) -> Any:
    """``body`` changed as one :data:`Mutation` says."""
    if how == "whole":
        return value
    items = _first_list(body)
    if not items:
        return body
    index = selector % len(items)
    if how == "item":
        items[index] = value
        return body
    item = items[index]
    if not isinstance(item, dict):
        return body
    keys = [k for k in FIELDS if k in item] + sorted(k for k in item if k not in FIELDS)
    key = "id" if how == "id" else keys[selector % len(keys)] if keys else "id"
    if how == "drop":
        item.pop(key, None)
    else:
        item[key] = value
    return body


class Mutating(httpx.AsyncBaseTransport):
    """Forwards to ``inner``; the ``n``-th non-token JSON answer is mutated as planned."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        plan: list[Mutation],
        is_token: Callable[[httpx.Request], bool],
    ) -> None:
        self.inner, self.plan, self.is_token = inner, plan, is_token
        self.seen = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer from the emulator, mutated when the plan says so."""
        response = await self.inner.handle_async_request(request)
        if self.is_token(request):
            return response
        await response.aread()
        number, self.seen = self.seen, self.seen + 1
        chosen = [m for m in self.plan if m[0] == number]
        if not chosen or "json" not in response.headers.get("content-type", ""):
            return response
        body = response.json()
        for _, how, value, selector in chosen:
            body = mutate(body, how, value, selector)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        headers.pop("content-encoding", None)
        return httpx.Response(
            response.status_code,
            headers=headers,
            content=json.dumps(body).encode(),
            request=request,
        )
