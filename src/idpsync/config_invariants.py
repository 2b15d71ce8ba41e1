"""Invariants: facts about the directory an administrator declares, checked before every apply.

An invariant is one table of ``[[connectors.NAME.invariants]]`` (that connector only) or of the
top-level ``[[invariants]]`` (every connector; a connector's own invariant of the same name
replaces it). Each has a ``name`` and exactly one rule:

- ``group = "jira-administrators"`` with ``max_members = 5``: the group has at most 5 direct
  members;
- ``group = "jira-administrators"`` with ``members_within = "it-staff"``: every direct member
  of the group is also a direct member of ``it-staff`` (a group of the same connector);
- ``no_active_where = { "attributes.userType" = "Guest" }``: no active user has all these
  values (a user field, or ``attributes.KEY``);
- ``active_email_suffix = "@example.org"``: every active user's e-mail ends with this text
  (case-insensitively; users without an e-mail are not checked).

Group names are compared case-insensitively. See :mod:`idpsync.engine.invariants`.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from idpsync.settings import Strict

Scalar = str | int | float | bool | None


class InvariantSettings(Strict):
    """One invariant: a name and exactly one rule."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    """How messages and ``--allow-invariant NAME`` refer to it."""
    group: str | None = Field(None, min_length=1)
    """The group a ``max_members`` or ``members_within`` rule is about (its name)."""
    max_members: int | None = Field(None, ge=0)
    """The group has at most this many direct members."""
    members_within: str | None = Field(None, min_length=1)
    """Every direct member of the group is a direct member of this group too."""
    no_active_where: dict[str, Scalar] | None = Field(None, min_length=1)
    """No active user has all these field values (``login``, ``attributes.userType``…)."""
    active_email_suffix: str | None = Field(None, min_length=1)
    """Every active user's e-mail ends with this text."""

    @model_validator(mode="after")
    def _one_rule(self) -> InvariantSettings:
        rules = [
            key
            for key in ("max_members", "members_within", "no_active_where", "active_email_suffix")
            if getattr(self, key) is not None
        ]
        if len(rules) != 1:
            raise ValueError(
                "an invariant needs exactly one of max_members, members_within, "
                f"no_active_where, active_email_suffix (got {', '.join(rules) or 'none'})"
            )
        needs_group = rules[0] in ("max_members", "members_within")
        if needs_group != (self.group is not None):
            raise ValueError(
                f"'group' goes with max_members and members_within only (rule {rules[0]})"
            )
        return self

    def describe(self) -> str:
        """The rule in words."""
        if self.max_members is not None:
            return f"group {self.group} has at most {self.max_members} members"
        if self.members_within is not None:
            return f"the members of group {self.group} are members of {self.members_within}"
        if self.no_active_where is not None:
            where = ", ".join(f"{k} = {v!r}" for k, v in self.no_active_where.items())
            return f"no active user with {where}"
        return f"every active user's e-mail ends with {self.active_email_suffix}"


def merged(
    own: list[InvariantSettings], everywhere: list[InvariantSettings]
) -> list[InvariantSettings]:
    """A connector's invariants: the global ones, replaced by its own of the same name."""
    names = {inv.name for inv in own}
    return [inv for inv in everywhere if inv.name not in names] + list(own)


def unique_names(value: list[InvariantSettings]) -> list[InvariantSettings]:
    """Refuse two invariants of one list with the same name."""
    seen: set[str] = set()
    for inv in value:
        if inv.name in seen:
            raise ValueError(f"two invariants are named {inv.name!r}")
        seen.add(inv.name)
    return value
