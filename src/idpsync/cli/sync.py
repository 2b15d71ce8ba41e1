"""``sync`` and ``sync-user``: run a connector now.

Both go through :mod:`idpsync.app.run`, like the service's runs.

Exit codes (one per run status, :mod:`idpsync.engine.outcome`): ``0`` succeeded (or a dry run),
``1`` failed (nothing usable was read, or the run broke), ``2`` bad usage or configuration,
``3`` partial (some listings could not be read: additions and updates applied, nobody removed),
``4`` refused by a guard (the connector awaits approval). With several connectors the worst
wins, in the order 1, 4, 3.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from idpsync.app.run import ConnectorRun, Mode, prepare
from idpsync.app.runner import RunResult
from idpsync.cli import ending
from idpsync.cli.actor import cli_actor, record
from idpsync.cli.common import (
    EXIT_USAGE,
    ConfigOption,
    JsonOption,
    _fail_config,
    _load,
    _store,
    err,
    out,
)
from idpsync.cli.paths import unwritable
from idpsync.cli.root import app
from idpsync.cli.safe_output import line, print_json
from idpsync.config import (
    ConfigError,
    LoadedConfig,
)
from idpsync.engine import outcome, report
from idpsync.errors import SourceError
from idpsync.sources.base import Event
from idpsync.store import Store
from idpsync.textsafety import printable, safe_json


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
    allow_invariant: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-invariant",
            help="Let the run break this invariant (by name; may be repeated).",
            show_default=False,
        ),
    ] = None,
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
    mode: Mode = "incremental" if incremental else "full" if full else "auto"
    if report_file and (problem := unwritable(report_file)):
        err.print(f"cannot write the report: {problem}", markup=False)
        raise typer.Exit(EXIT_USAGE)
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
            results[name] = _sync_one(
                loaded,
                store,
                name,
                dry_run,
                allow_deletes,
                as_json,
                mode,
                allow_invariants=frozenset(allow_invariant or ()),
            )
        if report_file:
            _write_report(store, report_file, results, single=connector is not None)
    if as_json:
        print_json(out, {n: _result_json(r) for n, r in results.items()})
    ending.allow()  # the store is closed: nothing is left but freeing the runs' plans
    raise typer.Exit(outcome.worst_exit([r.status for r in results.values()]))


def _prepare(loaded: LoadedConfig, name: str) -> ConnectorRun:
    """The connector with its source built; a source that cannot be built is a usage error."""
    try:
        return prepare(loaded, name)
    except SourceError as exc:
        err.print(f"{name}: {printable(exc)}", markup=False)
        raise typer.Exit(EXIT_USAGE) from None


def _sync_one(
    loaded: LoadedConfig,
    store: Store,
    name: str,
    dry_run: bool,
    allow_deletes: bool,
    quiet: bool,
    mode: Mode = "auto",
    *,
    allow_invariants: frozenset[str] = frozenset(),
) -> RunResult:
    job = _prepare(loaded, name)
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
                task,
                description=escape(printable(event.message)),
                completed=event.done or 0,
                total=event.total,
            )

        record(store, "sync", name, dry_run=dry_run, allow_deletes=allow_deletes)
        result = asyncio.run(
            job.sync(
                store,
                mode=mode,
                dry_run=dry_run,
                allow_deletes=allow_deletes,
                progress=on_event,
                allow_invariants=allow_invariants,
                actor=cli_actor(),
            )
        )
    if not quiet:
        _print_result(name, result, shadow=job.settings.shadow_of is not None)
    return result


def _write_report(store: Store, path: str, results: dict[str, RunResult], *, single: bool) -> None:
    reports = {}
    for name, result in results.items():
        facts = {**report.run_facts(store.run(result.run_id) or {}), "summary": result.summary()}
        reports[name] = report.from_plan(facts, result.plan, result.details)
    payload: Any = next(iter(reports.values())) if single else reports
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(safe_json(payload))
    except OSError as exc:
        err.print(f"cannot write the report {path}: {exc.strerror}", markup=False)
        raise typer.Exit(EXIT_USAGE) from None
    err.print(f"report written to {path}", markup=False)


def _print_skipped(result: RunResult) -> None:
    skipped = result.details.get("skipped", [])
    for item in skipped[:20]:
        key, source_id, reason = (printable(item[k]) for k in ("key", "source_id", "reason"))
        line(out, f"  skipped {item['type']} {key} ({source_id}): {reason}")
    if len(skipped) > 20:
        out.print(f"  … and {len(skipped) - 20} more skipped (see --report or runs show)")
    for warning in result.details.get("warnings", []):
        line(out, f"  warning: {printable(warning)}")


def _print_result(name: str, result: RunResult, *, shadow: bool = False) -> None:
    if shadow and result.status != "failed":  # staged only: there is no plan to show
        style = "yellow" if result.status == "partial" else "green"
        out.print(f"[bold {style}]{name}: shadow run {result.status}[/] (run {result.run_id})")
        line(out, printable(result.message))
        return
    title = {
        "succeeded": "sync finished",
        "partial": "sync PARTIAL: some listings could not be read",
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
        line(out, printable(result.message))
    if result.status == "failed":
        return
    if result.status == "guarded" and "--allow-invariant" in result.message:
        out.print(
            f"{name} now awaits approval: fix the cause, or confirm with 'idpsync sync {name} "
            "--allow-invariant NAME' (the invariants named above).",
            markup=False,
        )
    elif result.status == "guarded":
        out.print(
            f"{name} now awaits approval: check with 'idpsync sync {name} --dry-run "
            f"--allow-deletes', then confirm with 'idpsync sync {name} --allow-deletes' "
            "(or approve or dismiss it on the admin pages).",
            markup=False,
        )
    if photos := result.details.get("photos"):
        line(out, photo_line(photos, result.run_id))
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
        loaded.connector(connector)
    except ConfigError as exc:
        raise _fail_config(exc) from None
    job = _prepare(loaded, connector)
    with _store(loaded) as store:
        record(store, "sync_user", connector, dry_run=dry_run)
        result = asyncio.run(job.sync_user(store, key, dry_run=dry_run, actor=cli_actor()))
    if as_json:
        print_json(
            out,
            {
                **_result_json(result),
                "details": result.details,
                "changes": [report.op_entry(op) for op in result.plan.shown()],
            },
        )
    else:
        _print_result(connector, result)
    raise typer.Exit(outcome.exit_code(result.status))


def photo_line(photos: dict[str, Any], run_id: int) -> str:
    """One line on the run's photos: downloaded, refused, failed, pending (never the bytes)."""
    refused, failed = len(photos.get("refused", ())), len(photos.get("failed", ()))
    text = f"photos: {photos.get('downloaded', 0)} downloaded"
    text += f", {refused} refused" if refused else ""
    text += f", {failed} not downloaded" if failed else ""
    text += f", {photos['pending']} pending (next run)" if photos.get("pending") else ""
    if refused or failed:
        text += f"; why: idpsync runs show {run_id} --outcome photo_refused (or photo_failed)"
    return printable(text)
