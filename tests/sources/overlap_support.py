"""Overlap checks for full snapshots: who was answered before whom, and a gate on members."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from idpsync.emulators.framework import RecordedRequest

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


def members_before_last_users_page(log: list[RecordedRequest], users_path: str) -> int:
    """Member requests answered before the users listing's last page was."""
    last = max(i for i, r in enumerate(log) if r.path == users_path)
    return sum(1 for r in log[:last] if r.path.endswith("/members"))


class MembersWaitForUsers:
    """ASGI wrapper: a member request is held until the users listing has been answered.

    If member listings took every slot of the client's budget, the next users page would find
    none and the read would never end: the test's deadlock guard fails it. ``peak`` is the
    most member requests held at once (0 when members start only after the users).
    """

    def __init__(self, app: ASGIApp, users_path: str, user_pages: int) -> None:
        self.app, self.users_path, self.user_pages = app, users_path, user_pages
        self.users_done = asyncio.Event()
        self.answered = 0
        self.held = 0
        self.peak = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        path = str(scope.get("path", ""))
        if path.endswith("/members") and not self.users_done.is_set():
            self.held += 1
            self.peak = max(self.peak, self.held)
            try:
                await self.users_done.wait()
            finally:
                self.held -= 1
        await self.app(scope, receive, send)
        if path == self.users_path:
            self.answered += 1
            if self.answered == self.user_pages:
                self.users_done.set()
