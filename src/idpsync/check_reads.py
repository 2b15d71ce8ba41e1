"""The ``read`` steps of ``idpsync check``: one minimal request per row of the endpoint table.

A source declares, per endpoint name, a :class:`Read`: the query parameters that keep the
answer small (``$top=1``, ``limit=1``), which example object a ``{placeholder}`` needs
(``{"id": "user"}``) and which example a listing yields (``gives="user"``: the id of its first
item). :func:`table_reads` makes the probes for every non-token row of the source's own table,
so nothing the connector calls goes unchecked. Listings run first; a read whose example could
not be found (an empty directory, a failed listing) is *skipped*, not failed. A 404 on a
per-object read that :attr:`Read.absent` explains (a user without a manager) still proves the
endpoint answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from idpsync.errors import SourceError
from idpsync.http.client import HttpClient
from idpsync.http.endpoint import ConcreteEndpoint
from idpsync.http.errors import NotFound
from idpsync.http.translate_status import not_json
from idpsync.sources.base import Probe


class ProbeSkipped(SourceError):
    """A step that could not run (its example object is missing); ``str()`` says why."""


@dataclass(frozen=True)
class Read:
    """How ``idpsync check`` reads one endpoint."""

    params: Mapping[str, str] = field(default_factory=dict)
    """Query parameters of the minimal read."""
    needs: Mapping[str, str] = field(default_factory=dict)
    """Placeholder → example kind (``{"id": "user"}``)."""
    gives: str | None = None
    """Example kind the first item of this listing provides (``user``, ``group``, ``role``)."""
    absent: str | None = None
    """What a 404 means for the example object (it proves the endpoint answers)."""
    detail: Callable[[httpx.Response], str] | None = None
    """Extra words for the step's detail (e.g. the rate-limit bucket left)."""


Prepare = Callable[[], Awaitable[None]]


async def _nothing() -> None:
    """Default preparation: none."""


def first_id(body: Any) -> str | None:
    """The ``id`` of a listing's first item (a JSON list, or one under a usual key)."""
    items = body
    if isinstance(body, dict):
        items = next(
            (body[k] for k in ("value", "users", "groups", "data", "members") if k in body), []
        )
    if isinstance(items, list) and items and isinstance(items[0], dict):
        value = items[0].get("id")
        return str(value) if value is not None else None
    return None


def table_reads(
    http: HttpClient,
    table: list[ConcreteEndpoint],
    reads: Mapping[str, Read],
    prepare: Prepare = _nothing,
    current: Callable[[], list[ConcreteEndpoint]] | None = None,
) -> list[Probe]:
    """One ``read`` probe per non-token row of ``table``; listings first.

    ``prepare`` runs before each read (e.g. a source's own setup); ``current``, when given,
    is asked for the table again after it (URLs that setup may have changed).
    """
    examples: dict[str, str] = {}
    rows = [t for t in table if not t.endpoint.token and t.endpoint.method == "GET"]
    rows.sort(key=lambda t: bool(reads.get(t.endpoint.name, Read()).needs))
    return [
        Probe(
            "read",
            t.endpoint.label,
            _reader(http, t, reads.get(t.endpoint.name, Read()), examples, prepare, current),
        )
        for t in rows
    ]


def _reader(
    http: HttpClient,
    target: ConcreteEndpoint,
    read: Read,
    examples: dict[str, str],
    prepare: Prepare,
    current: Callable[[], list[ConcreteEndpoint]] | None,
) -> Callable[[], Awaitable[str]]:
    async def run() -> str:
        await prepare()
        now = target
        if current is not None:
            now = next((t for t in current() if t.endpoint == target.endpoint), target)
        url, used = now.url, []
        for placeholder, kind in read.needs.items():
            if kind not in examples:
                raise ProbeSkipped(f"no {kind} was found to read this endpoint with")
            url = url.replace("{" + placeholder + "}", quote(examples[kind], safe=""))
            used.append(f"{kind} {examples[kind]}")
        concrete = ConcreteEndpoint(now.endpoint, url)
        try:
            response = await http.request(concrete, params=dict(read.params))
        except NotFound:
            if read.absent is None:
                raise
            return f"HTTP 404: {read.absent} (the endpoint answers)"
        if (foreign := not_json(response, concrete)) is not None:
            raise foreign
        if read.gives is not None and response.content:
            try:
                found = first_id(response.json())
            except ValueError:
                found = None
            if found is not None:
                examples[read.gives] = found
        example = f" ({', '.join(used)})" if used else ""
        extra = f", {read.detail(response)}" if read.detail else ""
        return f"HTTP {response.status_code}, {len(response.content)} bytes{extra}{example}"

    return run
