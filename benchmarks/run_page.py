"""``python -m benchmarks.run_page --changes 20000``: the run page of a large run.

Syncs a file source of ``--changes`` users into a fresh SQLite store (one ``user.create`` each:
a first run of that many changes), then a dry run renaming every user (as many planned
``user.update`` changes, kept in ``run_objects``). For each run it asks the admin app in
process (httpx over ASGI, logged in through the form, no network) for the run page's first
page, a page at the end, a search and an operation filter, and the whole CSV export, and
reports the median server time of ``--repeat`` requests and the size of each answer. The
figures go into the "Run page" section of ``docs/benchmarks.md`` by hand, with the machine's
load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.report import machine, machine_line
from idpsync.app.runner import run_sync
from idpsync.config import LoadedConfig, parse_config
from idpsync.sources.file.reader import FileSource
from idpsync.store import Store
from idpsync.web import create_app
from idpsync.web.security import hash_password

PASSWORD = "benchmark password"


def people(n: int, suffix: str = "") -> dict[str, Any]:
    """A file-source document of ``n`` users with non-ASCII names."""
    users = [
        {
            "id": f"id-{i}",
            "login": f"user{i}",
            "email": f"user{i}@example.org",
            "display_name": f"Ciarán O'Brien {i}{suffix}",
        }
        for i in range(n)
    ]
    return {"users": users, "groups": []}


def setup(workdir: Path, n: int) -> tuple[LoadedConfig, Store, list[int]]:
    """The store with the two runs, and the app's configuration; returns the run ids."""
    data = workdir / "people.json"
    store_url = f"sqlite:///{workdir / 'directory.db'}"
    text = f"""
[store]
url = "{store_url}"
[service]
admin_user = "admin"
admin_password_hash = "{hash_password(PASSWORD)}"
[connectors.hr.source]
type = "file"
path = "{data}"
[connectors.hr.guard]
max_snapshot_shrink = 1
"""
    path = workdir / "idpsync.toml"
    path.write_text(text, encoding="utf-8")
    loaded = LoadedConfig(parse_config(text, str(path)), path)
    store = Store.open(store_url)
    settings = loaded.connector("hr")
    ids = []
    for suffix, dry in (("", False), (" (renamed)", True)):
        data.write_text(json.dumps(people(n, suffix), ensure_ascii=False), encoding="utf-8")
        started = time.perf_counter()
        result = asyncio.run(run_sync(store, "hr", settings, FileSource(data), dry_run=dry))
        print(f"run {result.run_id}: {result.status}, {time.perf_counter() - started:.1f} s")
        ids.append(result.run_id)
    return loaded, store, ids


async def measure(
    loaded: LoadedConfig, store: Store, ids: list[int], n: int, repeat: int
) -> list[dict[str, Any]]:
    """Time the run page's requests for each run."""
    app = create_app(loaded, store, background=False)
    rows = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://b"
    ) as web:
        form = (await web.get("/login")).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf is not None
        data = {"csrf": csrf.group(1), "username": "admin", "password": PASSWORD}
        assert (await web.post("/login", data=data)).status_code == 303
        for run_id in ids:
            asks: dict[str, dict[str, Any]] = {
                "first page": {},
                "last page": {"offset": n - 50},
                "search 'user1234'": {"q": "user1234"},
                "op filter": {"op": "user.update" if run_id == ids[-1] else "user.create"},
            }
            for name, params in asks.items():
                rows.append(await _timed(web, f"/runs/{run_id}", params, repeat, run_id, name))
            rows.append(
                await _timed(web, f"/runs/{run_id}/export.csv", {}, 1, run_id, "CSV export")
            )
    return rows


async def _timed(
    web: httpx.AsyncClient, url: str, params: dict[str, Any], repeat: int, run_id: int, name: str
) -> dict[str, Any]:
    times = []
    size = 0
    for _ in range(repeat + 1):  # the first request warms the template and statement caches
        started = time.perf_counter()
        answer = await web.get(url, params=params)
        times.append(time.perf_counter() - started)
        assert answer.status_code == 200, answer.text[:300]
        size = len(answer.content)
    median = statistics.median(times[1:] if repeat else times)
    return {"run": run_id, "request": name, "ms": round(median * 1000, 1), "bytes": size}


def main() -> None:
    """Build the runs, time the requests, print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        loaded, store, ids = setup(Path(tmp), args.changes)
        try:
            rows = asyncio.run(measure(loaded, store, ids, args.changes, args.repeat))
        finally:
            store.close()
    print("| run | request | server ms (median) | answer bytes |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['run']} | {r['request']} | {r['ms']} | {r['bytes']:,} |")
    print(machine_line(machine()))


if __name__ == "__main__":
    main()
