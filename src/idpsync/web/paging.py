"""Paging parameters of the listing pages: bounded, so no offset reaches the database unchecked.

The API refuses an offset out of range (``Query(ge=0, le=MAX_OFFSET)``: 422 with a message);
the pages clamp it, so a hand-edited link still shows a page (an empty one past the end).
"""

from __future__ import annotations

MAX_OFFSET = 10_000_000
"""The largest offset a listing accepts (far beyond any directory's size; within BIGINT)."""


def page_offset(offset: int) -> int:
    """``offset`` clamped to ``0 … MAX_OFFSET``."""
    return min(max(0, offset), MAX_OFFSET)
