"""Checks of ``shadow_of``: a shadow connector names another configured, non-shadow connector.

A shadow connector (``shadow_of = "okta"``) reads its IdP and stages what it read, but never
changes the directory: it stands beside the connector it will replace during a move between
IdPs, so the two can be compared (``idpsync connectors compare``; see ``docs/migration.md``).
"""

from __future__ import annotations

from collections.abc import Mapping


def check_shadows(shadows: Mapping[str, str | None]) -> None:
    """Raise ``ValueError`` unless every ``shadow_of`` names another, non-shadow connector.

    ``shadows`` maps each connector's name to its ``shadow_of`` (``None`` for a normal one).
    """
    problems: list[str] = []
    for name, old in shadows.items():
        if old is None:
            continue
        if old == name:
            problems.append(f"connectors.{name}.shadow_of: a connector cannot shadow itself")
        elif old not in shadows:
            known = ", ".join(sorted(n for n in shadows if n != name)) or "none"
            problems.append(
                f"connectors.{name}.shadow_of: no connector named {old!r} (known: {known})"
            )
        elif shadows[old] is not None:
            problems.append(
                f"connectors.{name}.shadow_of: {old!r} is itself a shadow (of "
                f"{shadows[old]!r}); shadow the connector that changes the directory"
            )
    if problems:
        raise ValueError("; ".join(problems))
