"""Graph's delta rounds: next links until a delta link, which is kept for the next run.

A delta round starts at the delta link the last run saved, follows each page's
``@odata.nextLink`` and ends at the page that gives a new ``@odata.deltaLink`` instead. That
link does not lead to another page: it is the state the next run starts from. So a round is
read with :class:`DeltaPages` (a :class:`~idpsync.http.paging.BodyLink` that also takes the
delta link), starting at the saved link (``HttpClient.pages(…, start=link)``).
"""

from __future__ import annotations

from idpsync.errors import ShapeError
from idpsync.http.paging import BodyLink, Page
from idpsync.http.shape import at_path, kind_of

DELTA = "@odata.deltaLink"
"""Where the last page of a delta round gives the link for the next run."""


class DeltaPages(BodyLink):
    """Follows ``@odata.nextLink``; the page without one must give ``@odata.deltaLink``.

    After the round, :attr:`delta` holds that link (as Graph wrote it: the caller checks that
    it stays on the listing's origin before keeping it). A page with neither link raises
    :class:`~idpsync.errors.ShapeError`: the round cannot be finished.
    """

    def __init__(self) -> None:
        super().__init__()
        self.delta: str | None = None
        """The new delta link, once the last page was read."""

    def advance(self, page: Page, where: str) -> bool:  # noqa: D102 - see the base class
        if super().advance(page, where):
            return True
        link = at_path(page.body, DELTA, where)
        if link is not None and not isinstance(link, str):
            raise ShapeError(f"{where}: {DELTA!r} is {kind_of(link)}, expected text")
        if not link:
            raise ShapeError(f"{where}: a page has neither next nor delta link")
        self.delta = link
        return False
