"""One HTTP layer for every IdP and target.

A connector receives an :class:`HttpClient` (built by :func:`build_http_client` from its
``http`` settings), declares its calls as :class:`Endpoint` values, and calls
``await client.get_json(ENDPOINT, {"id": user_id}, params={...})``. Failures are
:class:`HttpError` subclasses (see :mod:`idpsync.http.errors`). See ``docs/http.md``.
"""

from idpsync.http.body import json_body
from idpsync.http.budget import RequestBudget
from idpsync.http.client import HttpClient, build_http_client
from idpsync.http.endpoint import ConcreteEndpoint, Endpoint
from idpsync.http.errors import HttpError
from idpsync.http.pacing import Pacer
from idpsync.http.policy import CLASSIFICATION, Action, set_testing
from idpsync.http.redact import redact_url, register_secret, scrub
from idpsync.http.transport import build_httpx_client, proxy_for, ssl_context

__all__ = [
    "CLASSIFICATION",
    "Action",
    "ConcreteEndpoint",
    "Endpoint",
    "HttpClient",
    "HttpError",
    "Pacer",
    "RequestBudget",
    "build_http_client",
    "build_httpx_client",
    "json_body",
    "proxy_for",
    "redact_url",
    "register_secret",
    "scrub",
    "set_testing",
    "ssl_context",
]
