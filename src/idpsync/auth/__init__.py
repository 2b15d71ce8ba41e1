"""Token providers for every IdP flow, the authorization-code flow and encrypted storage.

See :mod:`idpsync.auth.base` (the :class:`TokenProvider` protocol and the caching base),
:mod:`idpsync.auth.flows` (one class per flow), :mod:`idpsync.auth.authorize` and
:mod:`idpsync.auth.vault`.
"""

from idpsync.auth.base import CachedTokenProvider, Token
from idpsync.auth.flows import (
    ClientSecret,
    JwtBearer,
    OneLoginCredentials,
    PrivateKeyJwt,
    RefreshTokenFlow,
    StaticToken,
)
from idpsync.http.auth import TokenProvider

__all__ = [
    "CachedTokenProvider",
    "ClientSecret",
    "JwtBearer",
    "OneLoginCredentials",
    "PrivateKeyJwt",
    "RefreshTokenFlow",
    "StaticToken",
    "Token",
    "TokenProvider",
]
