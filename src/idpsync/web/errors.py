"""Errors on the admin pages: an HTML page with the message and a way back, never JSON.

The REST API (``/api``) keeps answering errors as JSON; the pages raise :class:`PageError`.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, Response


class PageError(Exception):
    """An admin page cannot do what was asked: ``message`` says why and what to do."""

    def __init__(self, status: int, message: str, back: str = "/") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.back = back
        """Where the page's link leads (a local path)."""


async def page_error(request: Request, exc: Exception) -> Response:
    """Render a :class:`PageError` as the ``error.html`` page."""
    assert isinstance(exc, PageError)
    from idpsync.web.pages import _page

    back = exc.back if exc.back.startswith("/") and not exc.back.startswith("//") else "/"
    response: HTMLResponse = _page(
        request, "error.html", status=exc.status, message=exc.message, back=back
    )
    return response
