"""``config check``: validate the configuration file."""

from __future__ import annotations

import typer

from idpsync.cli.common import (
    EXIT_USAGE,
    ConfigOption,
    _load,
    config_app,
    err,
    out,
)


@config_app.command("check")
def config_check(config: ConfigOption = None) -> None:
    """Validate the configuration file (secret references and URLs included) without syncing.

    Exit 2 when the file is invalid, or when it has no connector (nothing could sync).
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
