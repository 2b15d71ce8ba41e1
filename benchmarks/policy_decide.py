"""Benchmark: the policy pipeline (scope, filters, mapping, collisions, cleanup, plan).

Runs :func:`idpsync.engine.decide.decide` on a generated tenant, first against an empty
directory (initial sync) and then against the applied result with 2 % of users changed
(a typical incremental day), with the file preset (fast path) and with Entra templates.

    .venv/bin/python benchmarks/policy_decide.py [USERS]
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from datetime import UTC, datetime

from idpsync.config import ConnectorSettings
from idpsync.engine.decide import decide
from idpsync.engine.plan import apply_ops
from idpsync.model import DirectoryState, EdgeList, Membership, Snapshot, SourceGroup, SourceUser
from idpsync.sources.registry import preset


def tenant(count: int) -> Snapshot:
    users = [
        SourceUser(
            f"id-{i}",
            f"user{i}@example.org",
            email=f"user{i}@example.org",
            display_name=f"User {i}",
            attributes={
                "userPrincipalName": f"user{i}@example.org",
                "mail": f"user{i}@example.org",
                "givenName": "User",
                "surname": str(i),
                "userType": "Member",
            },
        )
        for i in range(count)
    ]
    groups = [SourceGroup(f"g-{j}", f"Team {j}") for j in range(count // 50 + 1)]
    edges = EdgeList(Membership(f"g-{i // 50}", f"id-{i}") for i in range(count))
    return Snapshot(users, groups, edges)


def measure(label: str, settings: ConnectorSettings, snap: Snapshot) -> None:
    now = datetime.now(UTC)
    start = time.perf_counter()
    first = decide(snap, settings, DirectoryState(), connector="b", now=now)
    initial = time.perf_counter() - start
    state = apply_ops(DirectoryState(), first.plan.ops)
    changed = list(snap.users)
    for i in range(0, len(changed), 50):
        changed[i] = replace(changed[i], display_name="Renamed")
    start = time.perf_counter()
    second = decide(replace(snap, users=changed), settings, state, connector="b", now=now)
    again = time.perf_counter() - start
    print(
        f"{label:>8} {len(snap.users):>8} users: initial {initial:6.2f} s "
        f"({len(first.plan)} ops), next {again:6.2f} s ({len(second.plan)} ops)"
    )


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    snap = tenant(count)
    for source in ("file", "entra"):
        settings = ConnectorSettings.model_validate(
            {"source": {"type": "file", "path": "x"}, "policy": {}}
        )
        if source == "entra":  # the Entra preset's templates on the same data
            settings = ConnectorSettings.model_validate(
                {
                    "source": {"type": "file", "path": "x"},
                    "policy": {
                        "mapping": {
                            "login": preset("entra")["login"],
                            "email": "{{ attributes.mail | fallback(email) }}",
                            "given_name": "{{ attributes.givenName | fallback(given_name) }}",
                            "family_name": "{{ attributes.surname | fallback(family_name) }}",
                        }
                    },
                }
            )
        measure(source, settings, snap)


if __name__ == "__main__":
    main()
