"""The shape of a JSON page: checks shared by the paginators and every connector.

A page whose shape is wrong (not an object, its item list not a list, a next token that is not
text) raises :class:`~idpsync.errors.ShapeError`: the listing cannot be read to its end, so the
connector reports it incomplete and nothing is removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idpsync.errors import ShapeError

_NAMES = {dict: "an object", list: "a list", str: "text", bool: "true or false", int: "a number"}


def kind_of(value: object) -> str:
    """How a JSON value is called in a reason (``a list``, ``text``, ``an object``)."""
    if value is None:
        return "null"
    return _NAMES.get(type(value), f"a {type(value).__name__}")


def type_names(types: tuple[type, ...]) -> str:
    """``text or a number`` for a tuple of accepted JSON types."""
    return " or ".join(_NAMES.get(t, t.__name__) for t in types)


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


def at_path(body: object, path: str, where: str) -> object:
    """The value at a dotted ``path`` (``pagination.after_cursor``); ``None`` if absent.

    A key that itself holds a dot (``@odata.nextLink``) is read whole. Every step but the last
    must be an object when present; else :class:`ShapeError`.
    """
    if "." in path and path in json_object(body, where):
        return body[path]  # type: ignore[index]  # checked to be an object just above
    value: object = body
    steps = path.split(".")
    for i, step in enumerate(steps):
        if value is None:
            return None
        node = json_object(value, where) if i == 0 else _object(value, ".".join(steps[:i]), where)
        value = node.get(step)
    return value


def _object(value: object, path: str, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ShapeError(f"{where}: {path!r} is {kind_of(value)}, expected an object")
    return value
