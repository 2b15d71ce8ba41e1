"""``runs``, ``users``, ``groups``: what the store holds."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import closing
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import RowMapping

from idpsync.cli.common import EXIT_USAGE, ConfigOption, JsonOption, _iso, _load, _store, err, out
from idpsync.cli.listing import (
    TABLE_ROWS,
    AllOption,
    LimitOption,
    OffsetOption,
    note_cut,
    row_limit,
    write_array,
)
from idpsync.cli.root import app
from idpsync.cli.run_show import (
    Format,
    FormatOption,
    OpOption,
    OutcomeOption,
    UserOption,
    show_run,
)
from idpsync.cli.safe_output import cell, print_json
from idpsync.config import (
    LoadedConfig,
)
from idpsync.store import listing
from idpsync.store.local import set_locally_disabled
from idpsync.store.run_query import RunFilter
from idpsync.textsafety import printable

STATUS_STYLE = {"succeeded": "green", "partial": "bold yellow", "failed": "red", "guarded": "red"}
"""How ``idpsync runs`` colours a status: partial is never shown neutral."""


@app.command()
def runs(
    connector: Annotated[
        str | None, typer.Argument(help="Only this connector's runs; or 'show' or 'revert'.")
    ] = None,
    run_id: Annotated[
        int | None, typer.Argument(help="With 'show' or 'revert': the run's id.")
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="How many runs (default 20); with 'show': rows per table (default "
            f"{TABLE_ROWS}; json and csv: all).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="With 'revert': plan only; change nothing.")
    ] = False,
    allow_deletes: Annotated[
        bool,
        typer.Option("--allow-deletes", help="With 'revert': confirm removals a guard refuses."),
    ] = False,
    allow_invariant: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-invariant",
            help="With 'revert': let it break this invariant (may be repeated).",
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    user: UserOption = None,
    op: OpOption = None,
    outcome: OutcomeOption = None,
    fmt: FormatOption = Format.TABLE,
    offset: OffsetOption = 0,
    all_rows: AllOption = False,
) -> None:
    """Show the history of sync runs, newest first; ``runs show RUN`` shows one run.

    ``runs show RUN`` prints the run's changes (only the fields each one changes) and the
    objects it left out with the reason, filtered by ``--user`` (login, e-mail, name or
    group), ``--op`` and ``--outcome``; ``--format json|csv`` streams every matching entry.
    ``runs revert RUN`` undoes an applied run as a new run (objects changed since are left as
    they are and listed); exit 4 when a guard or an invariant refuses it.
    """
    loaded = _load(config, secrets=False)
    if connector == "revert":
        if run_id is None:
            err.print("usage: idpsync runs revert RUN [--dry-run]")
            raise typer.Exit(EXIT_USAGE)
        from idpsync.cli.revert_cmd import revert  # the engine only when asked

        revert(
            loaded,
            run_id,
            dry_run=dry_run,
            allow_deletes=allow_deletes,
            allow_invariants=allow_invariant or (),
            as_json=as_json,
        )
        return
    if connector == "show":
        if run_id is None:
            err.print("usage: idpsync runs show RUN")
            raise typer.Exit(EXIT_USAGE)
        try:
            filt = RunFilter.of(user, op, outcome)
        except ValueError as exc:
            err.print(str(exc), markup=False)
            raise typer.Exit(EXIT_USAGE) from None
        fmt = Format.JSON if as_json and fmt is Format.TABLE else fmt
        shown = row_limit(limit, all_rows, fmt is not Format.TABLE)
        with _store(loaded) as store:
            show_run(
                store, run_id, filt, fmt, limit=shown, offset=offset, every_outcome=outcome is None
            )
        return
    if limit is not None and limit > 10000:
        err.print("--limit: at most 10000 runs")
        raise typer.Exit(EXIT_USAGE)
    with _store(loaded) as store:
        rows = store.runs(connector, limit or 20)
    if as_json:
        print_json(
            out,
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
            ],
        )
        return
    table = Table("run", "connector", "started", "status", "changes", "message")
    for r in rows:
        changes = sum(int(v) for v in (r["summary"] or {}).values())
        table.add_row(
            str(r["id"]),
            r["connector"],
            r["started_at"].strftime("%Y-%m-%d %H:%M:%S"),
            Text(
                r["status"] + (" (dry run)" if r["dry_run"] and r["status"] != "dry_run" else ""),
                style=STATUS_STYLE.get(r["status"], ""),
            ),
            str(changes),
            cell((r["message"] or "")[:120]),
        )
    out.print(table)


def _user_json(row: RowMapping) -> dict[str, Any]:
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
    limit: LimitOption = None,
    all_rows: AllOption = False,
    offset: OffsetOption = 0,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """List or search users; ``users disable LOGIN --local`` deactivates one for good.

    --json prints every matching user (a JSON array, streamed); a table shows the first 100
    unless --all or --limit N is given.
    """
    loaded = _load(config, secrets=False)
    if search in ("disable", "enable") and login is not None:
        _local_flag(loaded, login, disable=search == "disable", local=local, connector=connector)
        return
    cap = row_limit(limit, all_rows, as_json)
    with (
        _store(loaded) as store,
        listing.reading(store) as conn,
        closing(listing.users(conn, search, connector, cap, offset)) as rows,
    ):
        if as_json:
            shown = write_array(_user_json(r) for r in rows)
        else:
            table = Table("login", "display name", "email", "active", "connector")
            for r in rows:
                table.add_row(
                    cell(r["login"]),
                    cell(r["display_name"]),
                    cell(r["email"]),
                    "yes" if r["active"] else "no",
                    cell(r["connector"] or "(local)"),
                )
            out.print(table)
            shown = table.row_count
        if cap is not None and shown == cap:
            note_cut(shown, listing.count_users(conn, search, connector), offset, as_json=as_json)


@app.command()
def groups(
    search: Annotated[str | None, typer.Argument(help="Part of a group name.")] = None,
    connector: Annotated[str | None, typer.Option(help="Only this connector's groups.")] = None,
    members: Annotated[bool, typer.Option("--members", help="Include direct members.")] = False,
    limit: LimitOption = None,
    all_rows: AllOption = False,
    offset: OffsetOption = 0,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """List or search the directory's groups.

    --json prints every matching group (a JSON array, streamed); a table shows the first 100
    unless --all or --limit N is given.
    """
    loaded = _load(config, secrets=False)
    cap = row_limit(limit, all_rows, as_json)
    with (
        _store(loaded) as store,
        listing.reading(store) as conn,
        closing(
            listing.groups_with_members(conn, search, connector, cap, offset)
            if members
            else ((r, iter(())) for r in listing.groups(conn, search, connector, cap, offset))
        ) as pairs,
    ):
        if as_json:
            shown = write_array(_group_json(r, m, members) for r, m in pairs)
        else:
            shown = _groups_table(pairs, members)
        if cap is not None and shown == cap:
            note_cut(shown, listing.count_groups(conn, search, connector), offset, as_json=as_json)


def _group_json(row: RowMapping, member_rows: Iterator[dict[str, Any]], members: bool) -> Any:
    item = {
        "id": row["id"],
        "connector": row["connector"],
        "source_id": row["source_id"],
        "name": row["name"],
        "description": row["description"],
    }
    return (item, "members", member_rows) if members else item


def _groups_table(
    pairs: Iterable[tuple[RowMapping, Iterator[dict[str, Any]]]], members: bool
) -> int:
    table = Table("name", "description", "connector", *(["members"] if members else []))
    for r, member_rows in pairs:
        extra = []
        if members:
            names = (m.get("login") or m.get("name") or "" for m in member_rows)
            extra = [cell(", ".join(names))]
        table.add_row(
            cell(r["name"]), cell(r["description"]), cell(r["connector"] or "(local)"), *extra
        )
    out.print(table)
    return table.row_count


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
            err.print(printable(exc), markup=False)
            raise typer.Exit(EXIT_USAGE) from None
    state = (
        "deactivated locally; syncs will not re-activate"
        if disable
        else ("no longer locally deactivated; the next sync applies the IdP's state")
    )
    out.print(f"{printable(row['login'])}: {state}", markup=False)
