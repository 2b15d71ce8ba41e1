"""What every command shares: consoles, options, exit codes, config and store (apps: ``root``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console

from idpsync.config import (
    ConfigError,
    LoadedConfig,
    load_config,
)
from idpsync.store import Store
from idpsync.store.errors import StoreError, StoreUnusable

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
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _fail_config(exc: ConfigError) -> typer.Exit:
    err.print("[bold red]configuration error[/]", markup=True)
    for problem in exc.problems:
        err.print(f"  {problem}", markup=False)
    return typer.Exit(EXIT_USAGE)


def _load(config: str | None, *, secrets: bool = True) -> LoadedConfig:
    """The configuration; ``secrets=False`` for commands that only read the store."""
    try:
        return load_config(config, resolve_secrets=secrets)
    except ConfigError as exc:
        raise _fail_config(exc) from None


@contextmanager
def _store(loaded: LoadedConfig) -> Iterator[Store]:
    """The configured store, open for the block; a store problem ends the command in one line."""
    url = loaded.settings.store.engine_url(loaded.path.parent)
    with _store_errors(loaded):
        store = Store.open(url)
        try:
            yield store
        finally:
            store.close()


@contextmanager
def _store_errors(loaded: LoadedConfig) -> Iterator[None]:
    """Store errors as one line: 2 for the configuration (store.url), 1 for the rest."""
    try:
        yield
    except StoreUnusable as exc:
        err.print(f"configuration error: {loaded.path}: store.url: {exc}", markup=False)
        raise typer.Exit(EXIT_USAGE) from None
    except StoreError as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(EXIT_FAILED) from None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
