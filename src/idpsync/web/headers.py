"""Security headers on every response of the service.

- ``Content-Security-Policy``: scripts, styles, images and fetches from this origin only; no
  inline script or style (the templates have none: the one script is ``/static/progress.js``),
  forms post to this origin only, no ``<base>``, no framing.
  The interactive API docs (``/docs``, ``/redoc``) load FastAPI's viewer from its CDN with an
  inline bootstrap script, so they get a policy of their own that allows just that.
- ``X-Frame-Options: DENY`` (older browsers' ``frame-ancestors``), ``X-Content-Type-Options:
  nosniff``, ``Referrer-Policy: no-referrer``, ``Cross-Origin-Opener-Policy: same-origin``.
- ``Cache-Control: no-store`` on everything but ``/static``: pages and API answers show the
  directory and must not stay in a shared or browser cache.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGES_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "img-src 'self' data: https://fastapi.tiangolo.com; connect-src 'self'; "
    "worker-src blob:; frame-ancestors 'none'; base-uri 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")

COMMON = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}


def security_headers(path: str) -> dict[str, str]:
    """The headers a response to ``path`` carries."""
    headers = dict(COMMON)
    docs = path in DOCS_PATHS or path.startswith("/docs/")
    headers["content-security-policy"] = DOCS_CSP if docs else PAGES_CSP
    if not path.startswith("/static/"):
        headers["cache-control"] = "no-store"
    return headers


class SecurityHeaders:
    """ASGI middleware: set :func:`security_headers` on every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the headers as the response starts."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(str(scope.get("path", "")))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
