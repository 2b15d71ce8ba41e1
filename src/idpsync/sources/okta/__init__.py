"""The okta connector: an Okta org's Management API (see docs/sources/okta.md).

``settings`` (the ``source`` table), ``endpoints`` (the calls, their paging, the ``check`` reads
and rate-limit buckets), ``reader`` (:class:`~idpsync.sources.okta.reader.OktaSource`),
``records`` (user and group conversion), ``incremental`` (reads from change marks) and
``pacing`` (the rate-limit pacer). :func:`build` makes the HTTP client with everything it
needs, then the source.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from idpsync.http import HttpClient
    from idpsync.http.auth import TokenProvider
    from idpsync.sources.base import Source
    from idpsync.sources.okta.settings import OktaSourceSettings
    from idpsync.sources.registry import SourceContext


def build(context: SourceContext) -> Source:
    """An Okta source with its HTTP client."""
    from idpsync.sources.okta.reader import OktaSource
    from idpsync.sources.okta.settings import OktaSourceSettings

    settings = context.connector.source
    assert isinstance(settings, OktaSourceSettings)
    return OktaSource(settings, http_client(settings, transport=context.transport), context=context)


def http_client(
    settings: OktaSourceSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    default_concurrency: int | None = None,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> HttpClient:
    """The HTTP client of an Okta source: org URL, credentials and pacer set at construction.

    ``default_concurrency`` replaces the source's default (``org_concurrency − 3``, see
    :meth:`OktaSourceSettings.default_concurrency`) when ``http.concurrency`` is not set;
    ``clock`` and ``sleep`` drive the pacer (tests give a fake clock).
    """
    import time

    from idpsync.http.client import build_http_client
    from idpsync.http.policy import pause
    from idpsync.http.stats import RequestStats
    from idpsync.sources.okta.endpoints import bucket_of
    from idpsync.sources.okta.pacing import OktaPacer

    stats = RequestStats()
    pacer = OktaPacer(
        bucket_of,
        settings.reserve,
        stats=stats,
        clock=clock or time.monotonic,
        sleep=sleep or pause,
    )
    return build_http_client(
        settings.http,
        base_url=settings.base_url.rstrip("/"),
        default_concurrency=default_concurrency or settings.default_concurrency(),
        transport=transport,
        stats=stats,
        auth=credentials(settings),
        pacer=pacer,
    )


def credentials(
    settings: OktaSourceSettings,
) -> TokenProvider | Callable[[HttpClient], TokenProvider]:
    """The API token as ``SSWS``, or the service app's ``private_key_jwt`` token flow.

    The flow sends its token requests through the client, so it is a factory taking it.
    """
    from idpsync.auth import PrivateKeyJwt, StaticToken
    from idpsync.sources.okta.endpoints import TOKEN

    if settings.api_token is not None:
        return StaticToken(settings.api_token, scheme="SSWS")
    client_id, private_key = settings.client_id, settings.private_key
    assert client_id and private_key  # the settings refuse anything else
    scope = " ".join(settings.scopes)

    def flow(http: HttpClient) -> TokenProvider:
        return PrivateKeyJwt(
            http,
            http.target(TOKEN),
            client_id,
            private_key,
            scope,
            key_id=settings.key_id,
            connector="okta",
        )

    return flow
