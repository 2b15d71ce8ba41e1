"""``config check``: validate the configuration file."""

from __future__ import annotations

from typing import Annotated

import typer

from idpsync.cli.common import EXIT_FAILED, EXIT_USAGE, ConfigOption, _load, _store, err, out
from idpsync.cli.root import config_app
from idpsync.config import LoadedConfig
from idpsync.textsafety import printable


@config_app.command("check")
def config_check(
    config: ConfigOption = None,
    against_store: Annotated[
        bool,
        typer.Option(
            "--against-store",
            help="Also evaluate the invariants on the staged mirror in the store (no IdP call).",
        ),
    ] = False,
) -> None:
    """Validate the configuration file (secret references and URLs included) without syncing.

    Exit 2 when the file is invalid, or when it has no connector (nothing could sync). With
    --against-store, exit 1 when a run from the store's staged mirror would break an invariant.
    """
    loaded = _load(config)
    if not loaded.settings.connectors:
        empty = not loaded.settings.model_fields_set  # nothing but comments, or nothing at all
        what = "the file is empty" if empty else "no connector is configured"
        err.print(
            f"warning: {loaded.path}: {what}, so nothing can sync; add a "
            "[connectors.NAME.source] table (see docs/configuration.md)",
            markup=False,
        )
        raise typer.Exit(EXIT_USAGE)
    out.print(f"{loaded.path}: ok", markup=False)
    for name, conn in loaded.settings.connectors.items():
        state = "" if conn.enabled else " (disabled)"
        out.print(f"  connector {name}: source {conn.source.type}{state}", markup=False)
    for name, target in loaded.settings.targets.items():
        state = "" if target.enabled else " (disabled)"
        kind = f"{target.type} ({target.profile})" if target.type == "scim" else target.type
        out.print(f"  target {name}: {kind} {target.url}{state}", markup=False)
    if against_store:
        _check_invariants(loaded)


def _check_invariants(loaded: LoadedConfig) -> None:
    from idpsync.app.store_check import check_connector  # the engine only when asked

    broken = False
    with _store(loaded) as store:
        for name, conn in loaded.settings.connectors.items():
            if not conn.invariants:
                continue
            found = check_connector(store, name, conn)
            if not found.staged:
                out.print(f"  invariants of {name}: not checked (never synced)", markup=False)
                continue
            if not found.breaches:
                count = len(conn.invariants)
                out.print(f"  invariants of {name}: {count} hold", markup=False)
                continue
            broken = True
            for text in found.lines:
                err.print(f"  {name}: invariant {printable(text)}", markup=False)
    if broken:
        raise typer.Exit(EXIT_FAILED)
