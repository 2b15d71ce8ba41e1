"""URL-valued configuration keys: each needs a scheme it can use and a host.

A base URL written without its scheme (``base_url = "example.okta.com"``) would otherwise be
accepted and fail only at run time with a puzzling name-resolution error. These checks run
when the file is loaded, so ``idpsync config check`` (and every command) names the key::

    idpsync.toml:6: connectors.okta.source.base_url: "example.okta.com" has no scheme;
    write https://example.okta.com

A URL's user name and password (``http://user:secret@proxy:3128``) never appear in a message.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_USERINFO = re.compile(r"^((?:[A-Za-z][A-Za-z0-9+.-]*://)?)[^/@\s]*@")

HTTP_SCHEMES = ("https", "http")
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def shown(value: str) -> str:
    """``value`` as an error may quote it: quoted, without a user name or password."""
    return '"' + _USERINFO.sub(r"\1***@", value) + '"'


def check_url(value: str, schemes: Collection[str] = HTTP_SCHEMES) -> str:
    """``value`` unchanged when it is a URL with one of ``schemes`` and a host.

    Raises ``ValueError`` with a one-line message saying what is wrong and what to write.
    """
    if value != value.strip() or any(ch.isspace() for ch in value):
        raise ValueError(f"{shown(value)} contains spaces; write the URL without them")
    names = [f"{s}://" for s in schemes]
    wanted = ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]
    scheme = _SCHEME.match(value)
    if scheme is None:
        example = f"{next(iter(schemes))}://{value.lstrip(':/')}"
        raise ValueError(f"{shown(value)} has no scheme; write {shown(example)[1:-1]}")
    if scheme.group(1).lower() not in schemes:
        raise ValueError(f"{shown(value)} must start with {wanted}")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise ValueError(f"{shown(value)} is not a valid URL (check the host and port)") from None
    if not parts.hostname:
        raise ValueError(
            f"{shown(value)} has no host; write e.g. {scheme.group(0)}host.example.com"
        )
    return value


def _http_url(value: str) -> str:
    return check_url(value) if value else value


def _proxy_url(value: str) -> str:
    return check_url(value, PROXY_SCHEMES) if value else value


HttpUrlText = Annotated[str, AfterValidator(_http_url)]
"""A setting holding an http(s) URL (an empty string is left for the model to judge)."""

ProxyUrlText = Annotated[str, AfterValidator(_proxy_url)]
"""A setting holding a proxy URL: ``http(s)://`` or ``socks5(h)://``."""
