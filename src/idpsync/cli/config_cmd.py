"""``config check``: validate the configuration file."""

from __future__ import annotations

from idpsync.cli.common import (
    ConfigOption,
    _load,
    config_app,
    out,
)


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
