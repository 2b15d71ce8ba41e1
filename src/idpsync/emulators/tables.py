"""Tables of what an emulator made from its tenant, kept while the tenant is unchanged.

The Entra and Google emulators render each resource's JSON text once per tenant version
(``entra/texts.py``, ``google/texts.py``); both keep those texts here, keyed by table, and
drop every table as soon as the tenant's stamp (its version and whatever else a change moves)
differs from the one they were made under.
"""

from __future__ import annotations

from typing import Any


class StampedTables:
    """Tables by key, all dropped when :meth:`table` is asked under another stamp."""

    def __init__(self) -> None:
        self._stamp: tuple[Any, ...] | None = None
        self._tables: dict[tuple[Any, ...], dict[Any, Any]] = {}

    def table(self, stamp: tuple[Any, ...], key: tuple[Any, ...]) -> dict[Any, Any]:
        """The table ``key`` made under ``stamp`` (empty after the stamp moved)."""
        if stamp != self._stamp:
            self._tables.clear()
            self._stamp = stamp
        return self._tables.setdefault(key, {})
