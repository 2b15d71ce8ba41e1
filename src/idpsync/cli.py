"""The ``idpsync`` command line.

Exit codes: 0 ok, 1 a sync failed (or was refused by a guard), 2 bad usage or configuration.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from idpsync.config import (
    ConfigError,
    ConnectorSettings,
    LoadedConfig,
    TargetSettings,
    load_config,
)
from idpsync.diagnostics import StepResult, check_source, endpoint_rows
from idpsync.engine import report
from idpsync.engine.runner import RunResult, run_sync
from idpsync.engine.single import run_sync_user
from idpsync.sources import SourceError, build_source
from idpsync.sources.base import Event, Source
from idpsync.store import Store
from idpsync.store.local import set_locally_disabled
from idpsync.targets import DeliveryResult, http_client, run_delivery
from idpsync.targets.state import TargetState, pending_count

app = typer.Typer(
    help="Keep an application's user directory in step with an identity provider.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Work with the configuration file.", no_args_is_help=True)
app.add_typer(config_app, name="config")
emulate_app = typer.Typer(
    help="Serve an emulated identity provider (for tests, demos and benchmarks).",
    no_args_is_help=True,
)
app.add_typer(emulate_app, name="emulate")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

ConfigOption = Annotated[
    str | None,
    typer.Option(
        "--config",
        "-c",
        help="Configuration file (default: $IDPSYNC_CONFIG or ./idpsync.toml).",
        show_default=False,
    ),
]
PortOption = Annotated[int, typer.Option(help="TCP port (0 = any free port).")]
HostOption = Annotated[str, typer.Option(help="Address to listen on.")]
UsersOption = Annotated[int, typer.Option(help="Number of generated users.")]
GroupsOption = Annotated[int, typer.Option(help="Number of generated groups.")]
SeedOption = Annotated[int, typer.Option(help="Seed of the generated tenant.")]
LatencyOption = Annotated[float, typer.Option(help="Fixed delay per request (ms).")]
TailOption = Annotated[float, typer.Option(help="Largest extra random delay (ms).")]
TailShareOption = Annotated[float, typer.Option(help="Share of requests with a tail.")]
PrintConfigOption = Annotated[
    bool, typer.Option("--print-config", help="Print a connector block for it first.")
]
MediumEveryOption = Annotated[
    int,
    typer.Option(
        min=1,
        help="One group in this many holds 2–8 % of the users (lower: more memberships).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _fail_config(exc: ConfigError) -> typer.Exit:
    err.print("[bold red]configuration error[/]", markup=True)
    for problem in exc.problems:
        err.print(f"  {problem}", markup=False)
    return typer.Exit(EXIT_USAGE)


def _load(config: str | None) -> LoadedConfig:
    try:
        return load_config(config)
    except ConfigError as exc:
        raise _fail_config(exc) from None


@contextmanager
def _store(loaded: LoadedConfig) -> Iterator[Store]:
    url = loaded.settings.store.url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        # A relative SQLite path is relative to the configuration file, like every other path.
        url = "sqlite:///" + str(loaded.resolve_path(url.removeprefix("sqlite:///")))
    store = Store.open(url)
    try:
        yield store
    finally:
        store.close()


@app.command()
def sync(
    connector: Annotated[
        str | None, typer.Argument(help="Connector to sync (default: all).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; change nothing.")] = False,
    allow_deletes: Annotated[
        bool, typer.Option("--allow-deletes", help="Confirm removals a guard would refuse.")
    ] = False,
    report_file: Annotated[
        str | None,
        typer.Option(
            "--report",
            help="Write the full plan (per user and group, with reasons "
            "and skipped users) as JSON to this file.",
            show_default=False,
        ),
    ] = None,
    incremental: Annotated[
        bool,
        typer.Option(
            "--incremental", help="Read only the changes since the last run (delta sources)."
        ),
    ] = False,
    full: Annotated[
        bool, typer.Option("--full", help="Read everything, even when a delta would do.")
    ] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Sync one connector (or every enabled one) from its IdP into the directory.

    Without --incremental or --full, a source with incremental reads (entra, okta) reads a delta
    unless its full-sync schedule is due.
    """
    if incremental and full:
        err.print("--incremental and --full exclude each other")
        raise typer.Exit(EXIT_USAGE)
    mode = "incremental" if incremental else "full" if full else "auto"
    loaded = _load(config)
    names = (
        [connector]
        if connector
        else [n for n, c in loaded.settings.connectors.items() if c.enabled]
    )
    if connector:
        try:
            loaded.connector(connector)
        except ConfigError as exc:
            raise _fail_config(exc) from None
    if not names:
        err.print("no enabled connectors in the configuration")
        raise typer.Exit(EXIT_USAGE)
    results: dict[str, RunResult] = {}
    with _store(loaded) as store:
        for name in names:
            results[name] = _sync_one(loaded, store, name, dry_run, allow_deletes, as_json, mode)
        if report_file:
            _write_report(store, report_file, results, single=connector is not None)
    if as_json:
        out.print_json(json.dumps({n: _result_json(r) for n, r in results.items()}))
    raise typer.Exit(EXIT_OK if all(r.ok for r in results.values()) else EXIT_FAILED)


def _sync_one(
    loaded: LoadedConfig,
    store: Store,
    name: str,
    dry_run: bool,
    allow_deletes: bool,
    quiet: bool,
    mode: str = "auto",
) -> RunResult:
    settings = loaded.connector(name)
    try:
        source = build_source(loaded, settings)
    except SourceError as exc:
        err.print(f"{name}: {exc}", markup=False)
        raise typer.Exit(EXIT_USAGE) from None
    with Progress(
        TextColumn("[bold]{task.fields[connector]}[/] {task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=quiet or not err.is_terminal,
    ) as bar:
        task = bar.add_task("starting", total=None, connector=name)

        def on_event(event: Event) -> None:
            bar.update(
                task, description=event.message, completed=event.done or 0, total=event.total
            )

        async def go() -> RunResult:
            try:
                return await run_sync(
                    store,
                    name,
                    settings,
                    source,
                    dry_run=dry_run,
                    allow_deletes=allow_deletes,
                    progress=on_event,
                    mode=mode,
                )
            finally:
                await source.aclose()

        result = asyncio.run(go())
    if not quiet:
        _print_result(name, result)
    return result


def _write_report(store: Store, path: str, results: dict[str, RunResult], *, single: bool) -> None:
    reports = {}
    for name, result in results.items():
        facts = {**report.run_facts(store.run(result.run_id) or {}), "summary": result.summary()}
        reports[name] = report.from_plan(facts, result.plan, result.details)
    payload: Any = next(iter(reports.values())) if single else reports
    try:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2, ensure_ascii=False)
    except OSError as exc:
        err.print(f"cannot write the report {path}: {exc.strerror}", markup=False)
        raise typer.Exit(EXIT_USAGE) from None
    err.print(f"report written to {path}", markup=False)


def _print_skipped(result: RunResult) -> None:
    skipped = result.details.get("skipped", [])
    for item in skipped[:20]:
        out.print(
            f"  skipped {item['type']} {item['key']} ({item['source_id']}): {item['reason']}",
            markup=False,
        )
    if len(skipped) > 20:
        out.print(f"  … and {len(skipped) - 20} more skipped (see --report or runs show)")
    for warning in result.details.get("warnings", []):
        out.print(f"  warning: {warning}", markup=False)


def _print_result(name: str, result: RunResult) -> None:
    title = {
        "succeeded": "sync finished",
        "partial": "sync finished with an incomplete read",
        "dry_run": "dry run: nothing was changed",
        "guarded": "sync refused by a guard",
        "failed": "sync failed",
    }.get(result.status, result.status)
    style = (
        "green"
        if result.status in ("succeeded", "dry_run")
        else "yellow"
        if (result.status == "partial")
        else "red"
    )
    out.print(f"[bold {style}]{name}: {title}[/] (run {result.run_id})")
    if result.message:
        out.print(result.message, markup=False)
    if result.status == "failed":
        return
    counts = result.summary()
    table = Table(show_header=True, header_style="bold")
    table.add_column("")
    for column in ("created", "updated", "deactivated", "reactivated", "deleted"):
        table.add_column(column, justify="right")
    table.add_row(
        "users",
        *(
            str(counts[f"users_{c}"])
            for c in ("created", "updated", "deactivated", "reactivated", "deleted")
        ),
    )
    table.add_row(
        "groups",
        str(counts["groups_created"]),
        str(counts["groups_updated"]),
        "",
        "",
        str(counts["groups_deleted"]),
    )
    out.print(table)
    out.print(
        f"memberships: {counts['memberships_added']} added, {counts['memberships_removed']} removed"
    )
    if counts["users_anonymised"] or counts["users_relinked"]:
        out.print(
            f"users: {counts['users_anonymised']} anonymised, "
            f"{counts['users_relinked']} re-linked to a new IdP id"
        )
    _print_skipped(result)
    if not result.complete:
        out.print(
            "[yellow]The IdP could not be read completely, so no one was removed, "
            "deactivated or taken out of a group.[/]"
        )


def _result_json(result: RunResult) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "status": result.status,
        "complete": result.complete,
        "message": result.message or None,
        "summary": result.summary(),
        "stats": result.stats,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@app.command()
def runs(
    connector: Annotated[
        str | None, typer.Argument(help="Only this connector's runs; or 'show'.")
    ] = None,
    run_id: Annotated[int | None, typer.Argument(help="With 'show': the run's id.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000, help="How many runs.")] = 20,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the history of sync runs, newest first; ``runs show RUN`` prints one run's report."""
    loaded = _load(config)
    if connector == "show":
        if run_id is None:
            err.print("usage: idpsync runs show RUN")
            raise typer.Exit(EXIT_USAGE)
        _show_run(loaded, run_id)
        return
    with _store(loaded) as store:
        rows = store.runs(connector, limit)
    if as_json:
        out.print_json(
            json.dumps(
                [
                    {
                        "id": r["id"],
                        "connector": r["connector"],
                        "mode": r["mode"],
                        "dry_run": r["dry_run"],
                        "status": r["status"],
                        "complete": r["complete"],
                        "started_at": _iso(r["started_at"]),
                        "finished_at": _iso(r["finished_at"]),
                        "summary": r["summary"],
                        "stats": r["stats"],
                        "message": r["message"],
                    }
                    for r in rows
                ]
            )
        )
        return
    table = Table("run", "connector", "started", "status", "changes", "message")
    for r in rows:
        changes = sum(int(v) for v in (r["summary"] or {}).values())
        table.add_row(
            str(r["id"]),
            r["connector"],
            r["started_at"].strftime("%Y-%m-%d %H:%M:%S"),
            r["status"] + (" (dry run)" if r["dry_run"] and r["status"] != "dry_run" else ""),
            str(changes),
            (r["message"] or "")[:120],
        )
    out.print(table)


def _show_run(loaded: LoadedConfig, run_id: int) -> None:
    with _store(loaded) as store:
        row = store.run(run_id)
        if row is None:
            err.print(f"no run {run_id} in the store")
            raise typer.Exit(EXIT_USAGE)
        payload = report.from_changes(row, store.changes(run_id))
    out.print_json(json.dumps(payload, default=str))


@app.command("sync-user")
def sync_user(
    connector: Annotated[str, typer.Argument(help="The connector.")],
    key: Annotated[str, typer.Argument(help="The user's login or IdP id.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; change nothing.")] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Sync one user now (with groups, manager and photo); never removes anyone else."""
    loaded = _load(config)
    try:
        settings = loaded.connector(connector)
    except ConfigError as exc:
        raise _fail_config(exc) from None
    try:
        source = build_source(loaded, settings)
    except SourceError as exc:
        err.print(f"{connector}: {exc}", markup=False)
        raise typer.Exit(EXIT_USAGE) from None

    async def go(store: Store) -> RunResult:
        try:
            return await run_sync_user(store, connector, settings, source, key, dry_run=dry_run)
        finally:
            await source.aclose()

    with _store(loaded) as store:
        result = asyncio.run(go(store))
    if as_json:
        out.print_json(
            json.dumps(
                {
                    **_result_json(result),
                    "details": result.details,
                    "changes": [report.op_entry(op) for op in result.plan.ops],
                }
            )
        )
    else:
        _print_result(connector, result)
    raise typer.Exit(EXIT_OK if result.ok else EXIT_FAILED)


def _user_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "connector": row["connector"],
        "source_id": row["source_id"],
        "login": row["login"],
        "email": row["email"],
        "display_name": row["display_name"],
        "given_name": row["given_name"],
        "family_name": row["family_name"],
        "active": row["active"],
        "manager_source_id": row["manager_id"],
        "attributes": row["attributes"] or {},
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
    }


@app.command()
def users(
    search: Annotated[
        str | None,
        typer.Argument(help="Part of a login, e-mail or name; or 'disable' / 'enable'."),
    ] = None,
    login: Annotated[str | None, typer.Argument(help="With disable/enable: the login.")] = None,
    local: Annotated[
        bool,
        typer.Option(
            "--local", help="With disable/enable: a local, deliberate change that no sync undoes."
        ),
    ] = False,
    connector: Annotated[str | None, typer.Option(help="Only this connector's users.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1_000_000)] = 100,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """List or search users; ``users disable LOGIN --local`` deactivates one for good."""
    loaded = _load(config)
    if search in ("disable", "enable") and login is not None:
        _local_flag(loaded, login, disable=search == "disable", local=local, connector=connector)
        return
    with _store(loaded) as store:
        rows = store.search_users(search, connector, limit, offset)
    if as_json:
        out.print_json(json.dumps([_user_json(r) for r in rows]))
        return
    table = Table("login", "display name", "email", "active", "connector")
    for r in rows:
        table.add_row(
            r["login"],
            r["display_name"] or "",
            r["email"] or "",
            "yes" if r["active"] else "no",
            r["connector"] or "(local)",
        )
    out.print(table)


@app.command()
def groups(
    search: Annotated[str | None, typer.Argument(help="Part of a group name.")] = None,
    connector: Annotated[str | None, typer.Option(help="Only this connector's groups.")] = None,
    members: Annotated[bool, typer.Option("--members", help="Include direct members.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1_000_000)] = 100,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """List or search the directory's groups."""
    loaded = _load(config)
    with _store(loaded) as store:
        rows = store.search_groups(search, connector, limit, offset)
        member_map = store.group_members([r["id"] for r in rows]) if members else {}
    if as_json:
        payload = []
        for r in rows:
            item: dict[str, Any] = {
                "id": r["id"],
                "connector": r["connector"],
                "source_id": r["source_id"],
                "name": r["name"],
                "description": r["description"],
            }
            if members:
                item["members"] = member_map[r["id"]]
            payload.append(item)
        out.print_json(json.dumps(payload))
        return
    table = Table("name", "description", "connector", *(["members"] if members else []))
    for r in rows:
        extra = []
        if members:
            extra = [", ".join(m.get("login") or m.get("name") or "" for m in member_map[r["id"]])]
        table.add_row(r["name"], r["description"] or "", r["connector"] or "(local)", *extra)
    out.print(table)


@app.command("targets")
def targets_status(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Show each target's cursor, lag (changes not yet delivered), status and last error."""
    loaded = _load(config)
    with _store(loaded) as store:
        rows = [
            _target_status(store, name, settings.connectors)
            for name, settings in loaded.settings.targets.items()
        ]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("target", "status", "cursor", "lag", "failures", "last delivery", "last error")
    for r in rows:
        table.add_row(
            r["name"],
            r["status"],
            str(r["cursor"]),
            str(r["lag"]),
            str(r["failures"]),
            r["last_delivery_at"] or "never",
            (r["last_error"] or "")[:160],
        )
    out.print(table)


def _target_status(store: Store, name: str, connectors: list[str]) -> dict[str, Any]:
    state = TargetState(store, name)
    row = state.row()
    return {
        "name": name,
        "status": row["status"],
        "cursor": int(row["cursor"]),
        "lag": pending_count(store, int(row["cursor"]), connectors),
        "failures": len(state.failures()),
        "last_error": row["last_error"],
        "last_delivery_at": _iso(row["last_delivery_at"]),
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
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Push the directory's changes to one target (or every enabled one), once."""
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

            async def go(n: str = name, s: TargetSettings = settings) -> DeliveryResult:
                if s.type == "ldap":  # speaks LDAP, opens its own connection
                    return await run_delivery(
                        store, n, s, None, dry_run=dry_run, reconcile=reconcile, resume=resume
                    )
                async with http_client(s) as client:
                    return await run_delivery(
                        store, n, s, client, dry_run=dry_run, reconcile=reconcile, resume=resume
                    )

            results.append(asyncio.run(go()))
    if as_json:
        out.print_json(json.dumps([asdict(r) for r in results]))
    else:
        for r in results:
            _print_delivery(r)
    ok = all(r.status in ("ok", "dry_run") for r in results)
    raise typer.Exit(EXIT_OK if ok else EXIT_FAILED)


def _print_delivery(r: DeliveryResult) -> None:
    style = "green" if r.status in ("ok", "dry_run") else "red"
    out.print(
        f"[bold {style}]{r.target}: {r.status}[/] cursor {r.cursor}, "
        f"{r.delivered} delivered, {r.rejected} rejected, {r.retried} retried"
    )
    if r.counts:
        out.print("  " + ", ".join(f"{k} {v}" for k, v in sorted(r.counts.items())), markup=False)
    if r.message:
        out.print(f"  {r.message}", markup=False)
    for line in r.would_send:
        out.print(f"  would send {line}", markup=False)


def _local_flag(
    loaded: LoadedConfig, login: str, *, disable: bool, local: bool, connector: str | None
) -> None:
    if not local:
        err.print(
            "only local changes are supported: add --local (the user is then "
            "deactivated in the directory and no sync re-activates them)"
        )
        raise typer.Exit(EXIT_USAGE)
    with _store(loaded) as store:
        try:
            row = set_locally_disabled(store, login, disabled=disable, connector=connector)
        except LookupError as exc:
            err.print(str(exc), markup=False)
            raise typer.Exit(EXIT_USAGE) from None
    state = (
        "deactivated locally; syncs will not re-activate"
        if disable
        else ("no longer locally deactivated; the next sync applies the IdP's state")
    )
    out.print(f"{row['login']}: {state}", markup=False)


@config_app.command("check")
def config_check(config: ConfigOption = None) -> None:
    """Validate the configuration file (secret references included) without syncing."""
    loaded = _load(config)
    out.print(f"{loaded.path}: ok", markup=False)
    for name, conn in loaded.settings.connectors.items():
        state = "" if conn.enabled else " (disabled)"
        out.print(f"  connector {name}: source {conn.source.type}{state}", markup=False)
    for name, target in loaded.settings.targets.items():
        state = "" if target.enabled else " (disabled)"
        kind = f"{target.type} ({target.profile})" if target.type == "scim" else target.type
        out.print(f"  target {name}: {kind} {target.url}{state}", markup=False)


def _source(loaded: LoadedConfig, connector: str) -> tuple[ConnectorSettings, Source]:
    try:
        settings = loaded.connector(connector)
    except ConfigError as exc:
        raise _fail_config(exc) from None
    try:
        return settings, build_source(loaded, settings)
    except SourceError as exc:
        err.print(f"{connector}: {exc}", markup=False)
        raise typer.Exit(EXIT_USAGE) from None


@app.command()
def endpoints(
    connector: Annotated[str, typer.Argument(help="Connector whose endpoints to list.")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the URLs and hosts:ports this connector must reach (a firewall allow-list)."""
    loaded = _load(config)
    settings, source = _source(loaded, connector)
    rows = endpoint_rows(source, settings.source.http)
    hosts = list(dict.fromkeys(f"{r['host']}:{r['port']}" for r in rows))
    note = None if rows else source.network_note()
    if as_json:
        out.print_json(
            json.dumps({"connector": connector, "endpoints": rows, "hosts": hosts, "note": note})
        )
        return
    if note:
        out.print(f"{connector}: {note}", markup=False)
        return
    table = Table("method", "url", "purpose", "needs", "via proxy")
    for r in rows:
        table.add_row(
            r["method"], r["url"], r["purpose"], r["permission"] or "", r["proxy"] or "direct"
        )
    out.print(table)
    out.print("Outbound HTTPS this machine must be allowed to open:", markup=False)
    for host in hosts:
        out.print(f"  {host}", markup=False)


def _print_step(result: StepResult) -> None:
    style = {"ok": "green", "failed": "bold red", "skipped": "yellow"}[result.status]
    label = {"ok": "ok", "failed": "FAILED", "skipped": "skipped"}[result.status]
    out.print(
        f"[{style}]{label:<8}[/]{result.step:<6} {result.target:<40} "
        f"{result.seconds * 1000:7.0f} ms  ",
        end="",
    )
    out.print(result.detail if result.ok or result.status == "skipped" else "", markup=False)
    if result.cause:
        out.print(f"{'':14}cause:  {result.cause}", markup=False)
    if result.remedy:
        out.print(f"{'':14}remedy: {result.remedy}", markup=False)


@app.command()
def check(
    connector: Annotated[str, typer.Argument(help="Connector to diagnose.")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Probe DNS, TCP, proxy, TLS, the token request and one read of every endpoint."""
    loaded = _load(config)
    settings, source = _source(loaded, connector)
    note = None if source.endpoints() else source.network_note()
    if note and not as_json:
        out.print(f"{connector}: {note}", markup=False)

    async def go() -> list[StepResult]:
        try:
            return await check_source(
                source, settings.source.http, (lambda _r: None) if as_json else _print_step
            )
        finally:
            await source.aclose()

    results = asyncio.run(go())
    passed = all(r.ok for r in results)
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "connector": connector,
                    "ok": passed,
                    "note": note,
                    "steps": [r.as_json() for r in results],
                }
            )
        )
    else:
        failed = sum(1 for r in results if r.status == "failed")
        out.print(
            f"{connector}: " + ("all checks passed" if passed else f"{failed} check(s) failed"),
            markup=False,
        )
    raise typer.Exit(EXIT_OK if passed else EXIT_FAILED)


@app.command()
def authorize(
    connector: Annotated[str | None, typer.Argument(help="Connector to authorize.")] = None,
    new_key: Annotated[
        bool,
        typer.Option(
            "--new-key", help="Print a new key for store.token_key / IDPSYNC_TOKEN_KEY and exit."
        ),
    ] = False,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Only print the consent URL.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the browser.")] = 300.0,
    port: Annotated[int, typer.Option(help="Loopback port (0: any free port).")] = 0,
    config: ConfigOption = None,
) -> None:
    """Authorize a connector interactively (OAuth consent); stores its refresh token encrypted."""
    from idpsync.auth import authorize as flow_module
    from idpsync.auth.vault import TokenVault, token_key
    from idpsync.auth.vault import new_key as make_key
    from idpsync.http import build_http_client

    if new_key:
        out.print(make_key(), markup=False)
        return
    if connector is None:
        err.print("name the connector to authorize (or use --new-key)")
        raise typer.Exit(EXIT_USAGE)
    loaded = _load(config)
    settings, source = _source(loaded, connector)
    flow = source.authorization_flow()
    if flow is None:
        err.print(
            f"{connector}: source type {settings.source.type!r} does not use interactive "
            "authorization; it signs in with its configured credentials",
            markup=False,
        )
        raise typer.Exit(EXIT_USAGE)

    def show(url: str) -> None:
        err.print("Open this URL, sign in and approve:", markup=False)
        out.print(url, markup=False)
        if not no_browser:
            import webbrowser

            webbrowser.open(url)

    try:
        with _store(loaded) as store:
            vault = TokenVault(store, token_key(loaded.settings.store.token_key))

            async def go() -> None:
                http = build_http_client(settings.source.http)
                try:
                    await flow_module.authorize(
                        http,
                        flow,
                        connector,
                        lambda t: vault.save(connector, t),
                        show,
                        timeout,
                        port,
                    )
                finally:
                    await http.aclose()
                    await source.aclose()

            asyncio.run(go())
    except SourceError as exc:
        err.print(f"{connector}: authorization failed: {exc}", markup=False)
        raise typer.Exit(EXIT_FAILED) from None
    out.print(f"{connector}: authorized; the refresh token is stored encrypted", markup=False)


def _serve_emulator(
    emulator: Any,
    host: str,
    port: int,
    print_config: bool,
    banner: str,
    exports: Callable[[str], dict[str, str]] | None = None,
) -> None:
    """Listen, print the connector block for the emulator if asked, then serve until stopped.

    ``exports`` gives the secret environment variables the block refers to, from the base URL
    (default: ``IDPSYNC_EMULATOR_SECRET``, the emulator's client secret).
    """
    from idpsync.emulators.framework import bind

    try:
        sock = bind(host, port)
    except OSError as exc:
        err.print(f"cannot listen on {host}:{port}: {exc}; choose another --port", markup=False)
        raise typer.Exit(EXIT_USAGE) from None
    base = f"http://{host}:{sock.getsockname()[1]}"
    if print_config:
        env = exports(base) if exports else {"IDPSYNC_EMULATOR_SECRET": emulator.client_secret}
        for name, value in env.items():
            out.print(f"export {name}='{value}'", markup=False)
        out.print("", markup=False)
        out.print(emulator.connector_toml(base), markup=False)
    err.print(f"{banner} at {base}", markup=False)
    sys.stdout.flush()
    emulator.serve_forever(sock)


@emulate_app.command("entra")
def emulate_entra(
    port: PortOption = 8001,
    host: HostOption = "127.0.0.1",
    users: UsersOption = 10000,
    groups: GroupsOption = 500,
    seed: SeedOption = 7,
    medium_every: MediumEveryOption = 50,
    latency_ms: LatencyOption = 0.0,
    tail_ms: TailOption = 0.0,
    tail_share: TailShareOption = 0.0,
    rate_limit: Annotated[
        bool, typer.Option("--rate-limit/--no-rate-limit", help="Graph resource-unit limits.")
    ] = True,
    print_config: PrintConfigOption = False,
) -> None:
    """Serve a Microsoft Entra ID (Graph + token endpoint) emulator until stopped."""
    from idpsync.emulators import Latency
    from idpsync.emulators.entra import EntraEmulator

    latency = Latency(fixed_ms=latency_ms, tail_ms=tail_ms, tail_probability=tail_share)
    emulator = EntraEmulator.generate(
        users=users,
        groups=groups,
        seed=seed,
        medium_every=medium_every,
        latency=latency,
        rate_limit=rate_limit,
    )
    _serve_emulator(
        emulator,
        host,
        port,
        print_config,
        f"entra emulator: {users} users, {groups} groups, seed {seed}",
    )


@emulate_app.command("onelogin")
def emulate_onelogin(
    port: PortOption = 8002,
    host: HostOption = "127.0.0.1",
    users: UsersOption = 2000,
    groups: GroupsOption = 40,
    roles: Annotated[int, typer.Option(help="Number of generated roles.")] = 25,
    seed: SeedOption = 7,
    hourly_limit: Annotated[int, typer.Option(help="API calls per hour (account-wide).")] = 5000,
    latency_ms: LatencyOption = 0.0,
    print_config: PrintConfigOption = False,
) -> None:
    """Serve a OneLogin (API v1/v2 + token endpoint) emulator until stopped."""
    from idpsync.emulators import Latency
    from idpsync.emulators.onelogin import OneLoginEmulator

    emulator = OneLoginEmulator.generate(
        users, groups, roles, seed, latency=Latency(fixed_ms=latency_ms), hourly_limit=hourly_limit
    )
    _serve_emulator(
        emulator,
        host,
        port,
        print_config,
        f"onelogin emulator: {users} users, {groups} groups, {roles} roles",
    )


@emulate_app.command("keycloak")
def emulate_keycloak(
    port: PortOption = 8002,
    host: HostOption = "127.0.0.1",
    users: UsersOption = 10000,
    groups: GroupsOption = 500,
    seed: SeedOption = 7,
    medium_every: MediumEveryOption = 50,
    realm: Annotated[str, typer.Option(help="Realm name.")] = "acme",
    shape: Annotated[
        int, typer.Option(help="Group shape of this Keycloak version: 23 (and newer) or 22.")
    ] = 23,
    auth_prefix: Annotated[
        bool, typer.Option("--auth-prefix", help="Serve under /auth (Keycloak 16 and older).")
    ] = False,
    latency_ms: LatencyOption = 0.0,
    tail_ms: TailOption = 0.0,
    tail_share: TailShareOption = 0.0,
    print_config: PrintConfigOption = False,
) -> None:
    """Serve a Keycloak Admin REST API (+ token endpoint) emulator until stopped."""
    from idpsync.emulators import Latency
    from idpsync.emulators.keycloak import KeycloakEmulator

    latency = Latency(fixed_ms=latency_ms, tail_ms=tail_ms, tail_probability=tail_share)
    emulator = KeycloakEmulator.generate(
        users=users,
        groups=groups,
        seed=seed,
        medium_every=medium_every,
        realm=realm,
        shape=shape,
        auth_prefix=auth_prefix,
        latency=latency,
    )
    _serve_emulator(
        emulator,
        host,
        port,
        print_config,
        f"keycloak emulator: {users} users, {groups} groups, realm {realm}",
    )


@emulate_app.command("crowd")
def emulate_crowd(
    port: PortOption = 8095,
    host: HostOption = "127.0.0.1",
    application: Annotated[str, typer.Option(help="Application name accepted.")] = "idpsync",
    max_results: Annotated[int, typer.Option(help="Server cap on max-results.")] = 1000,
    print_config: Annotated[
        bool, typer.Option("--print-config", help="Print a target block for it first.")
    ] = False,
) -> None:
    """Serve an Atlassian Crowd REST emulator (a target) until stopped.

    The application's password is ``$IDPSYNC_CROWD_EMULATOR_PASSWORD``, or a random one that
    ``--print-config`` shows.
    """
    import secrets

    import uvicorn

    from idpsync.emulators.crowd import CrowdEmulator
    from idpsync.emulators.framework import bind

    password = os.environ.get("IDPSYNC_CROWD_EMULATOR_PASSWORD") or secrets.token_urlsafe(18)
    emulator = CrowdEmulator({application: password}, max_results=max_results)
    try:
        sock = bind(host, port)
    except OSError as exc:
        err.print(f"cannot listen on {host}:{port}: {exc}; choose another --port", markup=False)
        raise typer.Exit(EXIT_USAGE) from None
    base = f"http://{host}:{sock.getsockname()[1]}"
    if print_config:
        out.print(f"export IDPSYNC_CROWD_EMULATOR_PASSWORD='{password}'", markup=False)
        out.print("", markup=False)
        out.print(
            f'[targets.crowd]\ntype = "crowd"\nurl = "{base}"\napplication = "{application}"\n'
            'password = "env:IDPSYNC_CROWD_EMULATOR_PASSWORD"',
            markup=False,
        )
    err.print(f"crowd emulator: application {application!r} at {base}/rest/usermanagement/1")
    sys.stdout.flush()
    config = uvicorn.Config(emulator.app, log_level="warning", lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


@emulate_app.command("google")
def emulate_google(
    port: PortOption = 8002,
    host: HostOption = "127.0.0.1",
    users: UsersOption = 10000,
    groups: GroupsOption = 500,
    seed: SeedOption = 7,
    medium_every: MediumEveryOption = 50,
    latency_ms: LatencyOption = 0.0,
    tail_ms: TailOption = 0.0,
    tail_share: TailShareOption = 0.0,
    quota: Annotated[int, typer.Option(help="Queries per minute per user.")] = 2400,
    rate_limit: Annotated[
        bool, typer.Option("--rate-limit/--no-rate-limit", help="Per-user query quota.")
    ] = True,
    print_config: PrintConfigOption = False,
) -> None:
    """Serve a Google Workspace (Directory API + OAuth endpoints) emulator until stopped."""
    from idpsync.emulators import Latency
    from idpsync.emulators.google import GoogleEmulator

    latency = Latency(fixed_ms=latency_ms, tail_ms=tail_ms, tail_probability=tail_share)
    emulator = GoogleEmulator.generate(
        users=users,
        groups=groups,
        seed=seed,
        medium_every=medium_every,
        latency=latency,
        rate_limit=rate_limit,
        quota=quota,
    )
    _serve_emulator(
        emulator,
        host,
        port,
        print_config,
        f"google emulator: {users} users, {groups} groups, seed {seed}",
        lambda base: {
            "IDPSYNC_EMULATOR_KEY": json.dumps(emulator.service_account_info(f"{base}/token"))
        },
    )


@emulate_app.command("okta")
def emulate_okta(
    port: PortOption = 8002,
    host: HostOption = "127.0.0.1",
    users: UsersOption = 10000,
    groups: GroupsOption = 500,
    seed: SeedOption = 7,
    medium_every: MediumEveryOption = 50,
    latency_ms: LatencyOption = 0.0,
    rate_limit: Annotated[
        bool, typer.Option("--rate-limit/--no-rate-limit", help="Okta per-minute buckets.")
    ] = True,
    print_config: PrintConfigOption = False,
) -> None:
    """Serve an Okta Management API emulator (API token and OAuth service apps) until stopped."""
    from idpsync.emulators import Latency
    from idpsync.emulators.okta import OktaEmulator

    emulator = OktaEmulator.generate(
        users=users,
        groups=groups,
        seed=seed,
        medium_every=medium_every,
        latency=Latency(fixed_ms=latency_ms),
        rate_limit=rate_limit,
    )
    _serve_emulator(
        emulator,
        host,
        port,
        print_config,
        f"okta emulator: {users} users, {groups} groups, seed {seed}",
        lambda base: {"IDPSYNC_OKTA_TOKEN": emulator.api_token},
    )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address (default: [service] host).")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default: [service] port).")] = None,
    json_logs: Annotated[bool, typer.Option("--json-logs", help="Log JSON lines.")] = False,
    hash_password: Annotated[
        bool, typer.Option("--hash-password", help="Read a password, print its hash, exit.")
    ] = False,
    new_token: Annotated[
        bool, typer.Option("--new-token", help="Print a new API token and its hash, exit.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Run the service: scheduler, target delivery, REST API and admin pages."""
    from idpsync.web import security

    if hash_password:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
        out.print(security.hash_password(password), markup=False)
        return
    if new_token:
        token, digest = security.new_token()
        out.print(f"token (give it to the API client): {token}", markup=False)
        out.print(f"hash (put it in [service] api_tokens): {digest}", markup=False)
        return
    from idpsync.service.serve import serve as run_service

    loaded = _load(config)
    with _store(loaded) as store:
        run_service(loaded, store, host, port, json_logs)


def main() -> None:
    """Entry point of the ``idpsync`` console script."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
