"""A scripted IdP for the real-socket tests: a token endpoint and ``/v1/users``."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.http.conftest import SECRET
from tests.http.servers import Reply, Request


@dataclass
class FakeIdp:
    """Issues ``tok-N`` tokens for the right secret; ``users`` decides ``/v1/users`` answers."""

    users: Callable[[Request, FakeIdp], Reply | str] = lambda _r, _i: Reply(
        200, {"users": [{"id": "u1", "login": "ada"}]}
    )
    token: Callable[[Request], Reply | str] | None = None
    issued: list[str] = field(default_factory=list)
    user_calls: int = 0
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __call__(self, request: Request) -> Reply | str:
        if request.path == "/oauth2/token":
            if self.token is not None:
                return self.token(request)
            if request.form().get("client_secret") != SECRET:
                return Reply(401, {"error": "invalid_client"})
            value = f"tok-{next(self._counter)}-AbCdEf"
            self.issued.append(value)
            return Reply(200, {"access_token": value, "token_type": "Bearer", "expires_in": 3600})
        if request.path == "/v1/users":
            self.user_calls += 1
            if request.headers.get("authorization", "").removeprefix("Bearer ") not in (
                self.issued
            ):
                return Reply(401, {"error": "invalid_token"})
            return self.users(request, self)
        return Reply(404, {"error": "not found"})
