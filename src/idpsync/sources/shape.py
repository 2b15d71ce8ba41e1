"""Checking the shape of what an IdP answered, shared by every connector.

Two levels, two outcomes:

- **A page** whose shape is wrong (not an object, its item list not a list, a next link that is
  not text) raises :class:`ShapeError`, a :class:`~idpsync.sources.base.SourceError`: the
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

from idpsync.model import Snapshot
from idpsync.sources.base import SourceError
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
_NAMES = {dict: "an object", list: "a list", str: "text", bool: "true or false", int: "a number"}


class ShapeError(SourceError):
    """A page is not shaped as the IdP documents it (see the module docstring)."""


class BadRecord(ValueError):
    """A record does not match its schema; ``str()`` is the reason."""


def kind_of(value: object) -> str:
    """How a JSON value is called in a reason (``a list``, ``text``, ``an object``)."""
    if value is None:
        return "null"
    return _NAMES.get(type(value), f"a {type(value).__name__}")


def json_object(body: object, where: str) -> dict[str, Any]:
    """``body`` when it is a JSON object; else :class:`ShapeError`."""
    if not isinstance(body, dict):
        raise ShapeError(f"{where}: the answer is {kind_of(body)}, expected a JSON object")
    return body


def json_list(body: object, where: str) -> list[Any]:
    """``body`` when it is a JSON array; else :class:`ShapeError`."""
    if not isinstance(body, list):
        raise ShapeError(f"{where}: the answer is {kind_of(body)}, expected a JSON array")
    return body


def page_items(body: object, key: str, where: str, *, required: bool = False) -> list[Any]:
    """The item list ``body[key]`` of a page (absent: none, unless ``required``)."""
    page = json_object(body, where)
    if key not in page and not required:
        return []
    items = page.get(key)
    if not isinstance(items, list):
        raise ShapeError(f"{where}: {key!r} is {kind_of(items)}, expected a list")
    return items


def optional_text(body: Mapping[str, Any], key: str, where: str) -> str | None:
    """``body[key]`` as text (a next link or page token); ``None`` when absent or empty."""
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ShapeError(f"{where}: {key!r} is {kind_of(value)}, expected text")
    return value


def check(item: Mapping[str, Any], schema: Schema) -> None:
    """Raise :class:`BadRecord` naming the first field whose type ``schema`` does not allow."""
    for name, types in schema.items():
        value = item.get(name)
        wrong = not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
        if value is not None and wrong:
            wanted = " or ".join(_NAMES.get(t, t.__name__) for t in types)
            raise BadRecord(f"{name!r} is {kind_of(value)}, expected {wanted}")


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
        except (BadRecord, KeyError, TypeError, ValueError, AttributeError) as exc:
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
