"""``runs revert RUN``: undo an applied run (see :mod:`idpsync.app.reverting`)."""

from __future__ import annotations

from collections.abc import Collection

import typer

from idpsync.app.reverting import NotRevertible, RevertResult, revert_run
from idpsync.cli.common import EXIT_USAGE, _store, err, out
from idpsync.cli.safe_output import line, print_json
from idpsync.config import ConfigError, LoadedConfig
from idpsync.engine import outcome, report
from idpsync.textsafety import printable


def revert(
    loaded: LoadedConfig,
    run_id: int,
    *,
    dry_run: bool,
    allow_deletes: bool,
    allow_invariants: Collection[str],
    as_json: bool,
) -> None:
    """Revert run ``run_id`` and print the outcome; exits with the new run's status code."""
    with _store(loaded) as store:
        row = store.run(run_id)
        if row is None:
            err.print(f"no run {run_id} in the store")
            raise typer.Exit(EXIT_USAGE)
        try:
            settings = loaded.connector(str(row["connector"]))
        except ConfigError as exc:
            err.print(f"cannot revert run {run_id}: {printable(exc)}", markup=False)
            raise typer.Exit(EXIT_USAGE) from None
        try:
            result = revert_run(
                store,
                run_id,
                settings,
                dry_run=dry_run,
                allow_deletes=allow_deletes,
                allow_invariants=frozenset(allow_invariants),
            )
        except NotRevertible as exc:
            err.print(f"cannot revert: {printable(exc)}", markup=False)
            raise typer.Exit(EXIT_USAGE) from None
    if as_json:
        print_json(out, _json(result))
    else:
        _print(result)
    raise typer.Exit(outcome.exit_code(result.status))


def _json(result: RevertResult) -> dict[str, object]:
    return {
        "run_id": result.run_id,
        "reverts": result.reverted,
        "status": result.status,
        "message": result.message or None,
        "changes": [report.op_entry(op) for op in result.plan.ops],
        "conflicts": [
            {"op": c.op, "key": c.key, "source_id": c.source_id, "reason": c.reason}
            for c in result.conflicts
        ],
    }


def _print(result: RevertResult) -> None:
    title = {
        "succeeded": "reverted",
        "dry_run": "dry run: nothing was changed",
        "guarded": "revert refused by a guard",
        "failed": "revert failed",
    }.get(result.status, result.status)
    out.print(f"run {result.reverted}: {title} (run {result.run_id})", markup=False)
    if result.message:
        line(out, printable(result.message))
    verb = "undone" if result.status == "succeeded" else "to undo"
    out.print(f"  {len(result.plan)} changes {verb}", markup=False)
    for op in result.plan.ops[:20]:
        line(out, f"  {op.kind.value} {printable(op.key)}")
    for c in result.conflicts[:20]:
        line(out, f"  left as it is: {c.op} {printable(c.key)}: {printable(c.reason)}")
    if len(result.conflicts) > 20:
        out.print(f"  … and {len(result.conflicts) - 20} more left as they are", markup=False)
