"""``connectors migrate OLD NEW``: hand the old connector's people over to the new one.

See :mod:`idpsync.app.migrating` (and ``docs/migration.md``). A dry run by default; ``--apply``
does it, ``--undo`` reverses it until the new connector's first normal run.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from idpsync.app.compare import CompareError
from idpsync.app.migrate_undo import undo_migration
from idpsync.app.migrating import Leavers, MigrateRefused, MigrateResult, migrate
from idpsync.cli.actor import cli_actor, record
from idpsync.cli.common import EXIT_USAGE, ConfigOption, JsonOption, _load, _store, err, out
from idpsync.cli.root import connectors_app
from idpsync.cli.safe_output import line, print_json
from idpsync.config import ConfigError
from idpsync.engine import outcome, report
from idpsync.textsafety import printable


@connectors_app.command("migrate")
def migrate_command(
    old: Annotated[str, typer.Argument(help="The connector people leave.")],
    new: Annotated[str, typer.Argument(help="The connector they move to (staged in shadow mode).")],
    match: Annotated[
        list[str] | None,
        typer.Option("--match", help="Match keys in order: email, login, attributes.NAME."),
    ] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Do it (default: a dry run).")] = False,
    leavers: Annotated[
        str | None,
        typer.Option("--leavers", help="Unmatched old users: deactivate or keep."),
    ] = None,
    confirm_leavers: Annotated[
        int | None,
        typer.Option("--confirm-leavers", help="The number of active unmatched users, to confirm."),
    ] = None,
    allow_deletes: Annotated[
        bool, typer.Option("--allow-deletes", help="Deactivate over the guard limit.")
    ] = False,
    undo: Annotated[bool, typer.Option("--undo", help="Reverse an applied handover.")] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move OLD's matched users, groups and memberships to NEW, keeping ids and target links."""
    if leavers not in (None, "deactivate", "keep"):
        err.print("--leavers is deactivate or keep", markup=False)
        raise typer.Exit(EXIT_USAGE)
    loaded = _load(config)
    with _store(loaded) as store:
        try:
            if undo:
                result = undo_migration(store, old, new, actor=cli_actor())
            else:
                result = migrate(
                    store,
                    old,
                    new,
                    loaded.connector(old),
                    loaded.connector(new),
                    match or ["email"],
                    apply=apply,
                    leavers=_leavers(leavers),
                    confirm_leavers=confirm_leavers,
                    allow_deletes=allow_deletes,
                    following={n: s.connectors for n, s in loaded.settings.targets.items()},
                    actor=cli_actor(),
                )
        except (MigrateRefused, CompareError, ConfigError) as exc:
            err.print(f"cannot migrate: {printable(exc)}", markup=False)
            raise typer.Exit(EXIT_USAGE) from None
        if undo or apply:
            action = "migrate_undo" if undo else "migrate"
            record(store, action, old, to=new, run=result.run_id, status=result.status)
    if as_json:
        print_json(out, _json(result))
    else:
        _print(result, undo)
    raise typer.Exit(outcome.exit_code(result.status if result.status != "refused" else "failed"))


def _leavers(value: str | None) -> Leavers | None:
    if value == "keep":
        return "keep"
    return "deactivate" if value == "deactivate" else None


def _json(result: MigrateResult) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "status": result.status,
        "message": result.message or None,
        "users": [m.as_row() for m in result.users],
        "groups": [m.as_row() for m in result.groups],
        "memberships": result.memberships,
        "leavers": result.leavers,
        "leaver_mode": result.leaver_mode,
        "comparison": result.comparison.counts() if result.comparison else None,
        "changes": [report.op_entry(op) for op in result.plan.ops],
    }


def _print(result: MigrateResult, undo: bool) -> None:
    title = {
        "succeeded": "handover undone" if undo else "handed over",
        "dry_run": "dry run: nothing was changed (add --apply)",
        "guarded": "refused by a guard (--allow-deletes confirms)",
        "refused": "refused",
        "failed": "failed",
    }.get(result.status, result.status)
    out.print(f"{result.old} → {result.new}: {title} (run {result.run_id})", markup=False)
    if result.message:
        line(out, printable(result.message))
    out.print(
        f"  users: {len(result.users)}, groups: {len(result.groups)}, "
        f"memberships: {result.memberships}, updates: {len(result.plan)}",
        markup=False,
    )
    if result.comparison is not None:
        counts = result.comparison.counts()
        out.print(
            f"  ambiguous (not moved): {counts['ambiguous']}, only in {result.new} (its next "
            f"run creates them): {counts['only_new']}",
            markup=False,
        )
    for move in result.users[:20]:
        line(out, f"  user {printable(move.key)}: {move.old_id} → {move.new_id} ({move.why})")
    if result.leavers and not undo:
        verb = "deactivated" if result.leaver_mode == "deactivate" else "kept as they are"
        out.print(f"  {len(result.leavers)} unmatched old users, {verb}:", markup=False)
        for login in result.leavers[:20]:
            line(out, f"    {printable(login)}")
