"""``runs``, ``users``, ``groups``: what the store holds."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from idpsync.cli.common import (
    EXIT_USAGE,
    ConfigOption,
    JsonOption,
    _iso,
    _load,
    _store,
    app,
    err,
    out,
)
from idpsync.config import (
    LoadedConfig,
)
from idpsync.engine import report
from idpsync.store.local import set_locally_disabled

STATUS_STYLE = {"succeeded": "green", "partial": "bold yellow", "failed": "red", "guarded": "red"}
"""How ``idpsync runs`` colours a status: partial is never shown neutral."""


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
            Text(
                r["status"] + (" (dry run)" if r["dry_run"] and r["status"] != "dry_run" else ""),
                style=STATUS_STYLE.get(r["status"], ""),
            ),
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
