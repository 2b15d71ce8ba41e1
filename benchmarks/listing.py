"""``python -m benchmarks.listing --users 100000``: time and memory of the directory listings.

Seeds a directory straight into a fresh SQLite store (no IdP, no sync: the listing is what is
measured), then runs ``idpsync users --json`` and ``idpsync groups --json --members`` as
separate processes with their output to a file, and reports each one's wall time, CPU time,
peak resident set size (``/usr/bin/time -v``) and output size. ``users --json --limit 1`` runs
first: the floor (interpreter start-up, imports, the store's schema check). The figures go into
the "Directory listings" section of ``docs/benchmarks.md`` by hand, with the machine's load.

The directory: ``--users`` users (login, e-mail, names, two attributes), ``--groups`` groups:
one group of everyone, every user in two more groups, and a chain of ten nested groups.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.report import machine, machine_line
from idpsync.store import Store
from idpsync.store import schema as t
from idpsync.store.store import bulk_insert

CONNECTOR = "bench"
IDPSYNC = [sys.executable, "-m", "idpsync.cli"]
USER_COLUMNS = (
    "id", "source_id", "login", "login_key", "email", "email_key", "display_name",
    "given_name", "family_name", "active", "attributes",
)  # fmt: skip


def seed(store: Store, users: int, groups: int) -> int:
    """Fill ``store`` with the benchmark directory; returns the number of memberships."""
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    with store.transaction() as conn:
        conn.execute(
            t.connectors.insert().values(
                name=CONNECTOR, source_type="file", state={}, created_at=stamp, updated_at=stamp
            )
        )
        bulk_insert(
            conn,
            t.users,
            USER_COLUMNS,
            _users(users),
            same={"connector": CONNECTOR, "created_at": stamp, "updated_at": stamp},
        )
        bulk_insert(
            conn,
            t.groups,
            ["id", "source_id", "name", "name_key", "description"],
            (
                (g, f"g-{g}", f"Group {g:05d}", f"group {g:05d}", f"the group number {g}")
                for g in range(1, groups + 1)
            ),
            same={"connector": CONNECTOR, "created_at": stamp, "updated_at": stamp},
        )
        return bulk_insert(
            conn,
            t.memberships,
            ["group_id", "member_kind", "member_id"],
            _edges(users, groups),
            same={"connector": CONNECTOR, "created_at": stamp},
        )


def _users(count: int) -> Iterator[tuple[Any, ...]]:
    for i in range(1, count + 1):
        login = f"user{i:06d}"
        email = f"{login}@example.org"
        attributes = {"department": f"Department {i % 40}", "employee_number": str(i)}
        yield (
            i,
            f"id-{i}",
            login,
            login,
            email,
            email,
            f"User Nümber {i}",
            "User",
            f"Nümber {i}",
            i % 50 != 0,
            attributes,
        )


def _edges(users: int, groups: int) -> Iterator[tuple[Any, ...]]:
    """Everyone in group 1, every user in two of the others, groups 2–11 nested in a chain."""
    others = max(groups - 1, 1)
    for i in range(1, users + 1):
        yield (1, "user", i)
        first = 2 + i % others
        second = 2 + (i * 7 + 3) % others
        yield (first, "user", i)
        if second != first:
            yield (second, "user", i)
    for g in range(2, min(groups, 11)):
        yield (g, "group", g + 1)


def measure(config: Path, *args: str) -> dict[str, Any]:
    """Run ``idpsync ARGS`` under ``/usr/bin/time -v``, output to a file; wall, RSS, bytes."""
    with tempfile.TemporaryFile() as sink:
        started = time.perf_counter()
        done = subprocess.run(
            ["/usr/bin/time", "-v", *IDPSYNC, *args, "--config", str(config)],
            stdout=sink,
            stderr=subprocess.PIPE,
            text=False,
            check=False,
        )
        wall = time.perf_counter() - started
        size = sink.tell()
        sink.seek(0)
        rows = len(json.load(sink)) if done.returncode == 0 else 0
    stderr = done.stderr.decode("utf-8", "replace")
    if done.returncode != 0:
        sys.stderr.write(stderr[-2000:])
        raise SystemExit(f"idpsync {' '.join(args)} failed ({done.returncode})")
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    cpu = sum(float(x) for x in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", stderr))
    return {
        "command": "idpsync " + " ".join(args),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "rss_mib": round(int(m.group(1)) / 1024, 1) if m else None,
        "output_mib": round(size / 2**20, 1),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=500)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "directory.db"
        config = Path(tmp) / "idpsync.toml"
        config.write_text(f'[store]\nurl = "sqlite:///{db}"\n', encoding="utf-8")
        store = Store.open(f"sqlite:///{db}")
        started = time.perf_counter()
        edges = seed(store, args.users, args.groups)
        store.close()
        print(
            f"seeded {args.users:,} users, {args.groups:,} groups, {edges:,} memberships "
            f"in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        for command in (
            ("users", "--json", "--limit", "1"),  # the floor: start-up, imports, store check
            ("users", "--json"),
            ("groups", "--json", "--members"),
        ):
            print(json.dumps(measure(config, *command)), flush=True)
    print(machine_line(machine()))


if __name__ == "__main__":
    main()
