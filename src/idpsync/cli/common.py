"""What every command shares: the Typer apps, consoles, options, exit codes, config and store."""

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

app = typer.Typer(
    help="Keep an application's user directory in step with an identity provider.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from idpsync import __version__

        typer.echo(f"idpsync {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version, exit."
        ),
    ] = False,
) -> None:
    """Keep an application's user directory in step with an identity provider."""


config_app = typer.Typer(help="Work with the configuration file.", no_args_is_help=True)
app.add_typer(config_app, name="config")
emulate_app = typer.Typer(
    help="Serve an emulated identity provider (for tests, demos and benchmarks).",
    no_args_is_help=True,
)
app.add_typer(emulate_app, name="emulate")
connectors_app = typer.Typer(
    help="Move between IdPs: compare two connectors, hand one over (docs/migration.md).",
    no_args_is_help=True,
)
app.add_typer(connectors_app, name="connectors")

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
