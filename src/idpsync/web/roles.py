"""The three roles of the service, each allowed what the one below it is, and more.

- ``viewer``: every page and every read endpoint; no buttons that change anything.
- ``operator``: also starts syncs (full, dry run, one user), runs connector checks and
  delivers to targets.
- ``admin``: also approves or dismisses a guard's removals, changes settings and manages API
  tokens. The configured administrator (``[service] admin_user``) is always ``admin``.
"""

from __future__ import annotations

import enum


class Role(enum.IntEnum):
    """A level of access; a higher role may do everything a lower one may."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        """The role's name as written in the configuration, the CLI and the store."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str | None, default: Role | None = None) -> Role:
        """The role named ``text`` (``viewer``/``operator``/``admin``); ``default`` for none."""
        if text is None and default is not None:
            return default
        try:
            return cls[str(text).upper()]
        except KeyError:
            raise ValueError(f"unknown role {text!r}: give viewer, operator or admin") from None


ROLE_NAMES = tuple(r.label for r in Role)
"""The role names, lowest first."""
