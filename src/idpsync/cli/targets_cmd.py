"""``targets`` and ``deliver``: the targets' state and delivery."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.table import Table

from idpsync.cli.actor import record
from idpsync.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    ConfigOption,
    JsonOption,
    _fail_config,
    _iso,
    _load,
    _store,
    err,
    out,
)
from idpsync.cli.root import app
from idpsync.cli.safe_output import cell, print_json
from idpsync.config import (
    ConfigError,
    TargetSettings,
)
from idpsync.http import HttpClient
from idpsync.store import Store
from idpsync.targets import DeliveryResult, http_client, run_delivery
from idpsync.targets.seats import seat_status
from idpsync.targets.state import TargetState, pending_count
from idpsync.textsafety import printable

EXIT_GUARDED = 4
"""A reconcile was refused by its guard (as a sync refused by a guard)."""
WARNINGS_SHOWN = 20
"""A delivery's warnings printed in the summary (``--json`` has all of them)."""


@app.command("targets")
def targets_status(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Show each target's cursor, lag (changes not yet delivered), status and last error."""
    loaded = _load(config, secrets=False)
    with _store(loaded) as store:
        rows = [
            _target_status(store, name, settings)
            for name, settings in loaded.settings.targets.items()
        ]
    if as_json:
        print_json(out, rows)
        return
    table = Table(
        "target",
        "status",
        "cursor",
        "lag",
        "failures",
        "rejected",
        "held",
        "last delivery",
        "last error",
    )
    for r in rows:
        style = {"ok": "green", "down": "red", "quarantined": "red"}.get(r["status"], "yellow")
        table.add_row(
            r["name"],
            f"[{style}]{r['status']}[/]",
            str(r["cursor"]),
            str(r["lag"]),
            str(r["failures"]),
            str(r["rejected"]),
            _seats(r),
            r["last_delivery_at"] or "never",
            cell((r["last_error"] or "")[:160]),
        )
    out.print(table)
    for r in rows:
        for h in r["held"]:
            out.print(
                f"  {r['name']}: held {printable(h['login'])} ({printable(h['op'])}, "
                f"change {h['seq']}): {printable(h['reason'])}",
                markup=False,
            )


def _seats(row: dict[str, Any]) -> str:
    """``3 (10/10 seats)``: held users, and seats used of the budget when there is one."""
    held = str(len(row["held"]))
    limit = row["max_active_users"]
    return held if limit is None else f"{held} ({row['active_users']}/{limit} seats)"


def _target_status(store: Store, name: str, settings: TargetSettings) -> dict[str, Any]:
    state = TargetState(store, name)
    row = state.row()
    connectors = settings.connectors
    return {
        "name": name,
        "status": row["status"],
        "cursor": int(row["cursor"]),
        "lag": pending_count(store, int(row["cursor"]), connectors),
        "failures": int(row["failed_rounds"]),
        "rejected": len(state.failures()),
        "last_error": row["last_error"],
        "last_delivery_at": _iso(row["last_delivery_at"]),
        **seat_status(store, name, settings),
    }


@app.command()
def deliver(
    target: Annotated[
        str | None, typer.Argument(help="Target to deliver to (default: all).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Read only; send no write.")] = False,
    reconcile: Annotated[
        bool,
        typer.Option("--reconcile", help="Compare the whole target with the directory and fix it."),
    ] = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="Deliver to a quarantined target again.")
    ] = False,
    allow_deletes: Annotated[
        bool,
        typer.Option(
            "--allow-deletes", help="With --reconcile: confirm removals its guard would refuse."
        ),
    ] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Push the directory's changes to one target (or every enabled one), once.

    Exit 1 when a target is down or quarantined, 4 when a reconcile was refused by its guard.
    """
    loaded = _load(config)
    try:
        names = (
            [target]
            if target and loaded.target(target)
            else [n for n, t in loaded.settings.targets.items() if t.enabled]
        )
    except ConfigError as exc:
        raise _fail_config(exc) from None
    if not names:
        err.print("no enabled targets in the configuration")
        raise typer.Exit(EXIT_USAGE)
    results = []
    with _store(loaded) as store:
        for name in names:
            settings = loaded.target(name)

            async def _deliver(
                store: Store, n: str, s: TargetSettings, client: HttpClient | None
            ) -> DeliveryResult:
                return await run_delivery(
                    store,
                    n,
                    s,
                    client,
                    dry_run=dry_run,
                    reconcile=reconcile,
                    resume=resume,
                    allow_deletes=allow_deletes,
                )

            async def go(n: str = name, s: TargetSettings = settings) -> DeliveryResult:
                if s.type == "ldap":  # speaks LDAP, opens its own connection
                    return await _deliver(store, n, s, None)
                async with http_client(s) as client:
                    return await _deliver(store, n, s, client)

            record(store, "deliver", name, dry_run=dry_run, reconcile=reconcile)
            results.append(asyncio.run(go()))
    if as_json:
        print_json(out, [asdict(r) for r in results])
    else:
        for r in results:
            _print_delivery(r)
    ok = all(r.status in ("ok", "dry_run", "guarded") for r in results)
    refused = any(r.status == "guarded" for r in results)
    raise typer.Exit(EXIT_FAILED if not ok else EXIT_GUARDED if refused else EXIT_OK)


def _print_delivery(r: DeliveryResult) -> None:
    style = "green" if r.status in ("ok", "dry_run") else "red"
    out.print(
        f"[bold {style}]{r.target}: {r.status}[/] cursor {r.cursor}, "
        f"{r.delivered} delivered, {r.rejected} rejected, {r.retried} retried"
        + (f", {r.released} released from the held queue" if r.released else "")
        + (f", {r.held} held for want of a seat" if r.held else "")
    )
    if r.counts:
        out.print("  " + ", ".join(f"{k} {v}" for k, v in sorted(r.counts.items())), markup=False)
    if r.message:
        out.print(f"  {printable(r.message)}", markup=False)
    for line in r.would_send:
        out.print(f"  would send {printable(line)}", markup=False)
    for warning in r.warnings[:WARNINGS_SHOWN]:
        out.print(f"  warning: {printable(warning)}", markup=False)
    if len(r.warnings) > WARNINGS_SHOWN:
        more = len(r.warnings) - WARNINGS_SHOWN
        out.print(f"  … and {more} more warnings (all of them with --json)", markup=False)
