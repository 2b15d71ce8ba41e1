"""Redaction: secrets never reach a log line or an error message.

Three layers: query parameters with secret names are masked in URLs, ``Authorization``-like
headers are never printed, and any text shown to an administrator (response bodies, exception
messages) is truncated and scrubbed of known secret values and of anything shaped like a token
(JWTs, bearer values, ``"access_token": "…"`` fields, long opaque strings).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
BODY_LIMIT = 500
"""Characters of a response body kept in an error."""

SECRET_PARAMS = frozenset(
    {
        "client_secret",
        "assertion",
        "client_assertion",
        "code",
        "code_verifier",
        "refresh_token",
        "access_token",
        "id_token",
        "password",
        "key",
        "api_key",
        "apikey",
        "token",
        "secret",
        "sig",
        "signature",
        "private_key",
    }
)
"""Query/form parameter names whose values are masked."""

SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
    }
)
"""Header names whose values are never shown."""

_KNOWN: set[str] = set()

_PATTERNS = [
    # JSON fields holding a secret: "access_token": "…"
    re.compile(
        r'("(?:access_token|refresh_token|id_token|client_secret|assertion|password|token|'
        r'private_key|client_assertion)"\s*:\s*")[^"]*(")',
        re.IGNORECASE,
    ),
    # form/query fields: access_token=…
    re.compile(r"\b((?:" + "|".join(sorted(SECRET_PARAMS)) + r")=)[^&\s\"']+()", re.IGNORECASE),
    # Authorization schemes: Bearer …, SSWS …, Basic …
    re.compile(r"\b((?:Bearer|SSWS|Basic)\s+)[A-Za-z0-9._~+/=-]+()", re.IGNORECASE),
]
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_OPAQUE = re.compile(r"(?<![A-Za-z0-9_~+-])[A-Za-z0-9_~+-]{40,}={0,2}(?![A-Za-z0-9])")
_PEM = re.compile(r"-----BEGIN [A-Z ]+-----.*?-----END [A-Z ]+-----", re.DOTALL)


def register_secret(value: str | None) -> None:
    """Remember a secret value so :func:`scrub` removes it wherever it appears."""
    if value and len(value) >= 4:
        _KNOWN.add(value)
        for line in value.splitlines():
            if len(line.strip()) >= 8:
                _KNOWN.add(line.strip())


def scrub(text: str) -> str:
    """Text with known secrets and token-shaped strings masked."""
    for secret in sorted(_KNOWN, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    text = _PEM.sub(MASK, text)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK + m.group(2), text)
    text = _JWT.sub(MASK, text)
    return _OPAQUE.sub(MASK, text)


def truncate(text: str, limit: int = BODY_LIMIT) -> str:
    """Scrubbed text cut to ``limit`` characters."""
    text = scrub(text.strip())
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more chars)"


def redact_url(url: str) -> str:
    """The URL with secret query parameters and any user:password masked."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rsplit("@", 1)[1]
    query = urlencode(
        [
            (k, MASK if k.lower() in SECRET_PARAMS else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs every record's message (installed on httpx's loggers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's message by its scrubbed form; never drops a record."""
        message = record.getMessage()
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


_FILTER = RedactingFilter()


def install_log_filter() -> None:
    """Scrub the log records of httpx/httpcore (they log request URLs)."""
    for name in ("httpx", "httpcore", "idpsync"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
