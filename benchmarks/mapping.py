"""``python -m benchmarks.mapping [--users N] [--preset okta …] [--jinja]``: mapping's cost.

Maps N generated users through a source type's preset (:class:`idpsync.engine.mapping.Mapper`,
the five templates every user goes through on a first sync) and prints µs a user. The users'
raw attributes have the shape that IdP's connector keeps (Okta's ``profile``, Google's
``name``…), a few of them missing or blank so that ``fallback`` moves on. ``--jinja`` renders
every template by Jinja (the direct evaluator of :mod:`idpsync.template_direct` switched off),
for a comparison in one process; the code of another checkout is measured by running this
module with that checkout's ``src`` on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from idpsync.config_policy import MappingSettings
from idpsync.engine.mapping import Mapper
from idpsync.model import JSONValue, SourceUser
from idpsync.sources.registry import preset

IDPS = ("okta", "entra", "google", "keycloak", "onelogin")


def raw_attributes(idp: str, i: int) -> dict[str, JSONValue]:
    """User ``i``'s attributes as ``idp``'s connector keeps them (every 7th without a name)."""
    login, first, last = f"user{i}@example.org", "User" if i % 7 else "", f"N{i}"
    if idp == "okta":
        return {
            "status": "ACTIVE",
            "profile": {"login": login, "email": login, "firstName": first, "lastName": last},
        }
    if idp == "entra":
        upn = f"user{i}_partner.org#EXT#@t.onmicrosoft.com" if i % 10 == 0 else login
        return {
            "userPrincipalName": upn,
            "mail": None if i % 3 else login,
            "otherMails": [],
            "displayName": f"{first} {last}",
            "givenName": first,
            "surname": last,
        }
    if idp == "google":
        return {
            "primaryEmail": login,
            "orgUnitPath": "/",
            "name": {"fullName": f"{first} {last}", "givenName": first, "familyName": last},
        }
    if idp == "keycloak":
        return {"username": login, "email": login, "firstName": first, "lastName": last}
    return {"username": login, "email": login, "firstname": first, "lastname": last}


def users(idp: str, count: int) -> list[SourceUser]:
    """``count`` users as ``idp``'s connector normalises them."""
    return [
        SourceUser(
            f"id-{i}",
            f"user{i}@example.org",
            email=f"user{i}@example.org",
            given_name="User" if i % 7 else None,
            family_name=f"N{i}",
            attributes=raw_attributes(idp, i),
        )
        for i in range(count)
    ]


def mapper(idp: str, jinja: bool) -> Mapper:
    """The preset's mapper; with ``jinja`` its templates lose their direct evaluators."""
    built = Mapper.build(MappingSettings(), preset(idp))
    if jinja:
        for template in built.templates.values():
            if template is not None and hasattr(template, "direct"):
                template.direct = None
    return built


def measure(idp: str, count: int, jinja: bool) -> float:
    """µs a user of :meth:`Mapper.map_user` (best of three passes)."""
    sample, mapped = users(idp, count), mapper(idp, jinja)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for user in sample:
            mapped.map_user(user)
        best = min(best, time.perf_counter() - start)
    return best / count * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mapping", description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--preset", choices=IDPS, action="append")
    parser.add_argument("--jinja", action="store_true", help="render every template by Jinja")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    for idp in args.preset or IDPS:
        results[idp] = measure(idp, args.users, args.jinja)
        print(f"{idp:<9} {results[idp]:6.2f} µs a user ({args.users} users)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
