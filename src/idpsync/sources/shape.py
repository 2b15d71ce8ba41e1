"""Checking the shape of what an IdP answered, shared by every connector.

Two levels, two outcomes:

- **A page** whose shape is wrong (not an object, its item list not a list, a next link that is
  not text) raises :class:`~idpsync.errors.ShapeError`, a :class:`~idpsync.errors.SourceError`: the
  connector treats it as any listing that could not be read, so the snapshot is incomplete
  with a one-line reason naming the endpoint, and nothing is removed.
- **A record** is checked against a small schema (:data:`Schema`: field → accepted JSON
  types) before it is converted. An item that is not an object or has no usable ``id`` cannot
  be reported or held by id, so the listing is incomplete. Any other bad record is *skipped*:
  reported in the run's ``skipped`` list with the reason, and the directory keeps what it
  holds for it (a skipped group also marks the snapshot incomplete, see
  :mod:`idpsync.sources.clean`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from idpsync.errors import ShapeError
from idpsync.http.shape import (
    json_list,
    json_object,
    kind_of,
    optional_text,
    page_items,
    type_names,
)
from idpsync.model import Snapshot
from idpsync.sources.clean import usable_id

T = TypeVar("T")
Schema = Mapping[str, tuple[type, ...]]
"""Field name → the JSON types it may hold (``None`` is always allowed: an absent value)."""
TEXT: tuple[type, ...] = (str,)
ID: tuple[type, ...] = (str, int)
FLAG: tuple[type, ...] = (bool,)
OBJECT: tuple[type, ...] = (dict,)
LIST: tuple[type, ...] = (list,)
ANY: tuple[type, ...] = (object,)


class BadRecord(ValueError):
    """A record does not match its schema; ``str()`` is the reason."""


def check(item: Mapping[str, Any], schema: Schema) -> None:
    """Raise :class:`BadRecord` naming the first field whose type ``schema`` does not allow."""
    for name, types in schema.items():
        value = item.get(name)
        wrong = not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
        if value is not None and wrong:
            wanted = type_names(types)
            raise BadRecord(f"{name!r} is {kind_of(value)}, expected {wanted}")


CONVERT_ERRORS = (BadRecord, KeyError, TypeError, ValueError, AttributeError)
"""What a record's conversion raises when the record is bad (it is then skipped)."""


def records(
    snap: Snapshot,
    where: str,
    kind: str,
    items: Iterable[Any],
    convert: Callable[[dict[str, Any]], T],
    key: Callable[[dict[str, Any]], object] = lambda item: None,
) -> list[T]:
    """``convert`` applied to each usable item of a listing (see the module docstring).

    ``key`` gives the login or name to report for a skipped record.
    """
    found: list[T] = []
    unusable = 0
    for item in items:
        sid = usable_id(item.get("id")) if isinstance(item, dict) else None
        if sid is None:
            unusable += 1
            continue
        try:
            found.append(convert(item))
        except CONVERT_ERRORS as exc:
            reason = f"{where}: {_reason(exc)}"
            shown = key(item)
            snap.skip(kind, sid, shown if isinstance(shown, str) and shown else sid, reason)
            if kind == "group":
                snap.mark_incomplete(f"{where}: group {sid} skipped ({_reason(exc)})")
    if unusable:
        snap.mark_incomplete(
            f"{where}: {unusable} item(s) are not objects with a usable id (skipped)"
        )
    return found


def identified(snap: Snapshot, where: str, items: list[Any]) -> list[dict[str, Any]]:
    """The items that are objects with a usable id (others mark ``snap`` incomplete).

    An item that cannot be identified could be anyone (a member, a removal): the others are
    kept, but nothing is removed this run.
    """
    good = [i for i in items if isinstance(i, dict) and usable_id(i.get("id")) is not None]
    if len(good) < len(items):
        bad = len(items) - len(good)
        snap.mark_incomplete(f"{where}: {bad} item(s) are not objects with a usable id")
    return good


def _reason(exc: Exception) -> str:
    if isinstance(exc, BadRecord):
        return str(exc)
    if isinstance(exc, KeyError):
        return f"the record has no {exc.args[0]!r}" if exc.args else "a field is missing"
    return f"the record cannot be read ({type(exc).__name__})"


__all__ = [
    "CONVERT_ERRORS",
    "BadRecord",
    "Schema",
    "ShapeError",
    "check",
    "identified",
    "json_list",
    "json_object",
    "kind_of",
    "optional_text",
    "page_items",
    "records",
]
