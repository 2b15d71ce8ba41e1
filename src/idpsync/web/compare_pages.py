"""The comparison page of a move between IdPs: ``/connectors/OLD/compare/NEW``.

Shows who of OLD's directory users is who among NEW's staged users (see
:mod:`idpsync.app.compare`): a tab per category (matched, only in OLD, only in NEW, ambiguous)
with its count, a paged table per tab, the match keys in a form (``?keys=email,login``), and
the CSV export ``/connectors/OLD/compare/NEW/export.csv`` (the same as ``idpsync connectors
compare --format csv``). Reads the store only; a viewer may see it.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from idpsync.app import compare_export as export
from idpsync.app.compare import CompareError, Comparison, compare, mapper_for
from idpsync.store.run_export import chunked
from idpsync.textsafety import printable
from idpsync.web.api import service
from idpsync.web.errors import PageError
from idpsync.web.pages import VIEW, need_admin, render
from idpsync.web.paging import page_offset
from idpsync.web.queries import Listing

router = APIRouter(include_in_schema=False)
PAGE = 50
"""Rows per page of each table."""
TABS = ("matched", "only_old", "only_new", "ambiguous")
"""The categories, in the order of the tabs."""
DEFAULT_KEYS = "email,login"
"""The match keys when the address gives none."""


def _compared(request: Request, old: str, new: str, keys: str) -> Comparison:
    svc = service(request)
    for name in (old, new):
        if name not in svc.loaded.settings.connectors:
            raise PageError(404, f"there is no connector named {name!r} in the configuration")
    chosen = [k for k in (part.strip() for part in keys[:512].split(",")) if k]
    try:
        mapper = mapper_for(svc.loaded.connector(new))
        return compare(svc.store, old, new, chosen, mapper=mapper)
    except CompareError as exc:
        raise PageError(400, f"cannot compare {old} with {new}: {exc}") from None


def _visible(person: dict[str, Any]) -> dict[str, Any]:
    """A person with control, bidi and invisible characters shown as escapes."""
    return {k: printable(v) if isinstance(v, str) else v for k, v in person.items()}


def _rows(result: Comparison, tab: str) -> list[dict[str, Any]]:
    def old_person(user_id: int) -> dict[str, Any]:
        return _visible(export.old_person(result, user_id))

    def new_person(source_id: str) -> dict[str, Any]:
        return _visible(export.new_person(result, source_id))

    if tab == "matched":
        return [
            {
                "key": m.key,
                "old": old_person(m.old_user_id),
                "new": new_person(m.new_source_id),
                "differences": [printable(p) for p in export.differences_text(m).split("; ") if p],
            }
            for m in result.matched
        ]
    if tab == "only_old":
        return [old_person(i) for i in result.only_old]
    if tab == "only_new":
        return [new_person(s) for s in result.only_new]
    return [
        {
            "key": a.key,
            "value": a.value,
            "kind": a.kind,
            "old": [old_person(i) for i in a.old_user_ids],
            "new": [new_person(s) for s in a.new_source_ids],
        }
        for a in result.ambiguous
    ]


@router.get("/connectors/{old}/compare/{new}", response_class=HTMLResponse, dependencies=[VIEW])
async def compare_page(
    request: Request,
    old: str,
    new: str,
    keys: str = DEFAULT_KEYS,
    tab: str = "matched",
    offset: int = 0,
) -> Response:
    """Compare OLD's directory users with NEW's staged users, one category per tab."""
    if (redirect := need_admin(request)) is not None:
        return redirect
    result = await asyncio.to_thread(_compared, request, old, new, keys)
    tab = tab if tab in TABS else "matched"
    rows = _rows(result, tab)
    start = page_offset(offset)
    listing = Listing(rows[start : start + PAGE], len(rows), start, PAGE)
    shown_keys = ",".join(result.keys)
    base = f"/connectors/{old}/compare/{new}"

    def link(**changes: Any) -> str:
        params = {"keys": shown_keys, "tab": tab, "offset": 0, **changes}
        return f"{base}?{urlencode({k: v for k, v in params.items() if v})}"

    return render(
        request,
        "compare.html",
        old=old,
        new=new,
        keys=shown_keys,
        tab=tab,
        tabs=TABS,
        counts=result.counts(),
        listing=listing,
        link=link,
        export=f"{base}/export.csv?{urlencode({'keys': shown_keys})}",
    )


@router.get("/connectors/{old}/compare/{new}/export.csv", dependencies=[VIEW])
async def compare_export(
    request: Request, old: str, new: str, keys: str = DEFAULT_KEYS
) -> Response:
    """The whole comparison as CSV (every category, every row)."""
    if (redirect := need_admin(request)) is not None:
        return redirect
    result = await asyncio.to_thread(_compared, request, old, new, keys)
    name = f"compare-{old}-{new}.csv"
    return StreamingResponse(
        chunked(export.csv_lines(result)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
