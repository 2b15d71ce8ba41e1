"""Reading a JSON answer without letting a broken or hostile body raise a traceback.

``json.loads`` raises ``ValueError`` for a body that is not JSON (an HTML error page, a
truncated answer, bytes that are not UTF-8) and ``RecursionError`` for one nested deeper than
the interpreter's stack (``[[[[…]]]]`` 100,000 levels deep costs a hostile server 200 kB).
:func:`json_body` turns both into a :class:`~idpsync.http.errors.MalformedAnswer` that names
the endpoint and the host, like every other HTTP failure.
"""

from __future__ import annotations

from typing import Any

import httpx

from idpsync.http import errors as e
from idpsync.http.endpoint import ConcreteEndpoint, Endpoint
from idpsync.http.redact import truncate

_REMEDY = (
    "check base_url: it may point at a web page or a proxy's error page; if it is right, the "
    "IdP (or something between it and idpsync) sent a broken answer: try again later"
)


def json_body(response: httpx.Response, endpoint: Endpoint | ConcreteEndpoint) -> Any:
    """The decoded JSON body; :class:`~idpsync.http.errors.MalformedAnswer` when it is not."""
    try:
        return response.json()
    except RecursionError as exc:
        raise e.MalformedAnswer(
            _target(response, endpoint),
            "the IdP answered with malformed JSON (nested too deeply to be read)",
            _REMEDY,
            status=response.status_code,
        ) from exc
    except ValueError as exc:
        raise e.MalformedAnswer(
            _target(response, endpoint),
            "the IdP answered with malformed JSON (the answer is not JSON)",
            _REMEDY,
            status=response.status_code,
            body=truncate(response.text),
        ) from exc


def _target(response: httpx.Response, endpoint: Endpoint | ConcreteEndpoint) -> ConcreteEndpoint:
    if isinstance(endpoint, ConcreteEndpoint):
        return endpoint
    return ConcreteEndpoint(endpoint, str(response.request.url))
