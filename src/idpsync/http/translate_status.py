"""Translation of an error response into an :mod:`idpsync.http.errors` error, done once.

:func:`status_error` reads an answer of status 400 or more (the IdP's own error message, a
403's missing permission, what a 401's request carried) and chooses the cause and remedy an
administrator needs; :func:`not_json` recognises an answer that is not the IdP's at all (a web
filter's block page, a proxy's sign-in). Whatever they quote is scrubbed and truncated. Failed
connections are :mod:`idpsync.http.translate_network`'s.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass

import httpx

from idpsync.http import errors as e
from idpsync.http.endpoint import ConcreteEndpoint
from idpsync.http.redact import redact_url, truncate


def status_error(
    response: httpx.Response, target: ConcreteEndpoint, attempts: int, waited: float = 0.0
) -> e.StatusError:
    """The :class:`~idpsync.http.errors.StatusError` for an error response (kept on it)."""
    error = _status_error(response, target, attempts, waited)
    error.response = response
    return error


def _status_error(
    response: httpx.Response, target: ConcreteEndpoint, attempts: int, waited: float
) -> e.StatusError:
    status = response.status_code
    foreign = not_json(response, target, attempts) if status < 500 and status != 404 else None
    if foreign is not None:
        return foreign
    said = idp_message(response)
    extra = f" — the IdP says: {truncate(said, 200)}" if said else ""
    facts = _Facts(status, "" if said else response.text, attempts)
    if status == 403:
        return _forbidden(response, target, extra, facts, waited)
    cls, template, remedy = _STATUS_TEXT.get(status, _STATUS_TEXT[500 if status >= 500 else 400])
    cause = template.format(status=status)
    if status == 401:
        cause, remedy = _UNAUTHORIZED.get(_scheme(response), (cause, remedy))
    if status == 404:
        cause += f" ({redact_url(str(response.request.url))})"
    if status == 429:
        cause += f" (waited {waited:.0f} s in total)"
    return cls(
        target,
        cause + extra,
        remedy,
        status=facts.status,
        body=facts.body,
        attempts=facts.attempts,
    )


@dataclass(frozen=True)
class _Facts:
    status: int
    body: str
    attempts: int


_RATE_REMEDY = (
    "lower http.requests_per_second or http.concurrency, sync less often, or raise "
    "http.max_retry_seconds; other applications may share the same quota"
)
_STATUS_TEXT: dict[int, tuple[type[e.StatusError], str, str]] = {
    400: (
        e.BadRequest,
        "{status} request rejected",
        "check the connector's settings (filters, attribute names); report it if they are right",
    ),
    401: (
        e.Unauthorized,
        "401 bad credentials: the IdP rejected the credentials or token",
        "check the connector's credentials and that the application is enabled",
    ),
    404: (
        e.NotFound,
        "404 not found",
        "check base_url and the tenant/domain/realm/org in the configuration",
    ),
    429: (
        e.RateLimited,
        "429 rate limited by the IdP, still throttled when retries ran out",
        _RATE_REMEDY,
    ),
    500: (
        e.ServerError,
        "{status} server error at the IdP, still failing when retries ran out",
        "usually temporary: try again later and check the IdP's status page",
    ),
}


def _scheme(response: httpx.Response) -> str:
    """The scheme of the request's ``Authorization`` header (``ssws``, ``bearer``…)."""
    try:
        header = str(response.request.headers.get("authorization", ""))
    except RuntimeError:  # a response built without its request
        return ""
    return header.split(" ", 1)[0].lower()


_UNAUTHORIZED: dict[str, tuple[str, str]] = {
    "ssws": (
        "401 the Okta API token was rejected",
        "check api_token: it must be an Okta API token (sent as 'SSWS …') of an administrator "
        "who may read users and groups; a token unused for 30 days expires and one dies with "
        "its administrator's account or role: create a new one (Security → API → Tokens) and "
        "update the secret it is read from",
    ),
    "bearer": (
        "401 the API refused the access token the token endpoint had issued",
        "check that token_url and base_url belong to the same tenant/org/realm (Entra: the "
        "cloud setting) and that the application is still enabled and granted access",
    ),
    "basic": (
        "401 the IdP rejected the user name and password",
        "check the connector's user name (or client id) and its password (or secret)",
    ),
}
"""401 on an API call, by how the request authenticated."""


_PERM = re.compile(
    r"(?:permission|scope|privilege|role)s?\b[^'\"]{0,60}['\"]([\w.:/-]{3,})['\"]", re.IGNORECASE
)


def missing_permission(
    response: httpx.Response, target: ConcreteEndpoint
) -> tuple[str | None, bool]:
    """The permission/scope a 403 lacks and whether the IdP named it (else the declared one)."""
    challenge = response.headers.get("www-authenticate", "")
    match = re.search(r'scope="([^"]+)"', challenge)
    if match:
        return match.group(1), True
    match = _PERM.search(idp_message(response) or "")
    if match:
        return match.group(1), True
    return target.endpoint.permission, False


def _forbidden(
    response: httpx.Response, target: ConcreteEndpoint, extra: str, facts: _Facts, waited: float
) -> e.StatusError:
    from idpsync.http.policy import GOOGLE_RATE_REASONS, google_reason

    if google_reason(response) in GOOGLE_RATE_REASONS:
        return e.RateLimited(
            target,
            f"403 rate limited by the IdP ({google_reason(response)}), still throttled "
            f"when retries ran out (waited {waited:.0f} s in total)",
            _RATE_REMEDY,
            status=facts.status,
            body=facts.body,
            attempts=facts.attempts,
        )
    permission, named = missing_permission(response, target)
    if permission and named:
        cause = f"403 forbidden: the application lacks the permission/scope {permission}"
    elif permission:
        cause = f"403 forbidden: this endpoint needs the permission/scope {permission}"
    else:
        cause = "403 forbidden: the application is not allowed to call this endpoint"
    remedy = (
        f"grant the application the permission {permission} (with admin consent where "
        "the IdP requires it)"
        if permission
        else "grant the application the read permission this endpoint needs"
    )
    return e.Forbidden(
        target,
        cause + extra,
        remedy,
        permission=permission,
        status=facts.status,
        body=facts.body,
        attempts=facts.attempts,
    )


def idp_message(response: httpx.Response) -> str | None:
    """The human part of an IdP's error body (Graph, Google, Okta, Keycloak, OAuth shapes)."""
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
        return ": ".join(str(x) for x in (code, message) if x) or None
    for keys in (
        ("errorCode", "errorSummary"),
        ("error", "error_description"),
        ("errorMessage",),
        ("message",),
        ("detail",),
    ):
        parts = [str(body[k]) for k in keys if body.get(k)]
        if parts:
            return ": ".join(parts)
    return None


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def foreign_answer(response: httpx.Response) -> tuple[str, str] | None:
    """``(what, title)`` of an HTML answer where JSON was due (``None``: not HTML).

    ``title`` is the page's ``<title>`` (e.g. a web filter's "URL category blocked by policy").
    5xx pages are left to :func:`status_error` (an IdP's own gateway sends those too).
    """
    content = response.content.strip()
    if not content:
        return None
    try:
        json.loads(content)
    except ValueError:
        pass
    except RecursionError:  # nested too deeply: JSON, if malformed; not a web page
        return None
    else:
        return None
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    text = response.text
    if "html" not in kind and text.lstrip()[:1] != "<":
        return None
    match = _TITLE.search(text)
    title = " ".join(html.unescape(match.group(1)).split()) if match else ""
    return "an HTML page", truncate(title, 120)


def not_json(
    response: httpx.Response, target: ConcreteEndpoint, attempts: int = 1
) -> e.NotFromIdp | None:
    """The error for an answer that is not the IdP's JSON (a web filter's block page…).

    A redirect counts too: the IdPs' APIs do not redirect, a proxy's sign-in does.
    """
    found = foreign_answer(response)
    if found is None and 300 <= response.status_code < 400:
        location = response.headers.get("location", "")
        found = ("a redirect", f"redirect to {redact_url(location)}" if location else "")
    if found is None:
        return None
    what, title = found
    shown = f": {title}" if title else ""
    return e.NotFromIdp(
        target,
        f"a proxy or web filter answered instead of {target.where}{shown} "
        f"(HTTP {response.status_code}, {what} instead of the IdP's JSON)",
        f"ask the network team to let this machine reach {target.host}:{target.port} past the "
        "proxy or web filter (the list: 'idpsync endpoints'); a proxy sign-in page needs the "
        "proxy's credentials in http.proxy; if base_url points at a web site, correct it",
        status=response.status_code,
        attempts=attempts,
    )
