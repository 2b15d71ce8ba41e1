"""A hostile HTTP server on another loopback address: it records every request it gets.

It listens on ``127.0.0.2`` (another origin than the IdP's ``127.0.0.1``), in a thread, so
both async tests and CLI runs (``asyncio.run`` inside) can point links at it. Whatever it is
asked, it answers a page of plausible but foreign data, which a connector must never see.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

HOSTILE_HOST = "127.0.0.2"


class Hostile:
    """``with Hostile() as evil:`` … ``evil.requests`` (method, path, lower-cased headers)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        recorded = self.requests

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                recorded.append(
                    (self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
                )
                body = json.dumps(
                    [{"id": "evil1", "status": "ACTIVE", "profile": {"login": "evil@x"}}]
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer((HOSTILE_HOST, 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        """``http://127.0.0.2:PORT``."""
        return f"http://{HOSTILE_HOST}:{self.port}"

    def credentials_seen(self) -> list[str]:
        """Paths of requests that carried an ``Authorization`` header."""
        return [path for _, path, headers in self.requests if "authorization" in headers]

    def __enter__(self) -> Hostile:
        self.thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
