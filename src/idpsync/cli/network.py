"""``endpoints``, ``check``, ``authorize``: reaching the IdP."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Annotated

import typer

from idpsync.allowlist import allow_list
from idpsync.cli import allowlist_view as view
from idpsync.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    ConfigOption,
    JsonOption,
    _fail_config,
    _load,
    _store,
    err,
    out,
)
from idpsync.cli.root import app
from idpsync.cli.safe_output import print_json
from idpsync.config import (
    ConfigError,
    ConnectorSettings,
    LoadedConfig,
    load_config,
)
from idpsync.diagnostics import StepResult, check_source, for_check, retries_kept_aside
from idpsync.errors import SourceError
from idpsync.sources.base import Source
from idpsync.sources.registry import build_source
from idpsync.textsafety import printable


def _source(loaded: LoadedConfig, connector: str) -> tuple[ConnectorSettings, Source]:
    try:
        settings = loaded.connector(connector)
    except ConfigError as exc:
        raise _fail_config(exc) from None
    try:
        return settings, build_source(loaded, settings)
    except SourceError as exc:
        err.print(f"{connector}: {printable(exc)}", markup=False)
        raise typer.Exit(EXIT_USAGE) from None


class Format(StrEnum):
    """Output of ``idpsync endpoints``."""

    table = "table"
    csv = "csv"
    json = "json"


@app.command()
def endpoints(
    names: Annotated[
        list[str] | None,
        typer.Argument(
            help="Connectors or targets to list (default: all of them).", show_default=False
        ),
    ] = None,
    config: ConfigOption = None,
    output: Annotated[
        Format,
        typer.Option("--format", help="table (piped: plain lines, URLs whole), csv or json."),
    ] = Format.table,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """Print every URL and host:port the connectors and targets reach (a firewall allow-list).

    Needs no credentials: secret references are not read.
    """
    try:
        loaded = load_config(config, resolve_secrets=False)
        allowed = allow_list(loaded, names or [])
    except ConfigError as exc:
        raise _fail_config(exc) from None
    except SourceError as exc:
        err.print(str(exc), markup=False)
        raise typer.Exit(EXIT_USAGE) from None
    if as_json or output is Format.json:
        typer.echo(view.as_json(allowed, names or []))
    elif output is Format.csv:
        typer.echo(view.as_csv(allowed), nl=False)
    else:
        view.print_table(allowed, out)


def _print_step(result: StepResult) -> None:
    style = {"ok": "green", "failed": "bold red", "skipped": "yellow"}[result.status]
    label = {"ok": "ok", "failed": "FAILED", "skipped": "skipped"}[result.status]
    out.print(
        f"[{style}]{label:<8}[/]{result.step:<6} {result.target:<40} "
        f"{result.seconds * 1000:7.0f} ms  ",
        end="",
    )
    detail = result.detail if result.ok or result.status == "skipped" else ""
    out.print(printable(detail), markup=False)
    if result.cause:
        out.print(f"{'':14}cause:  {printable(result.cause)}", markup=False)
    if result.remedy:
        out.print(f"{'':14}remedy: {result.remedy}", markup=False)


@app.command()
def check(
    connector: Annotated[str, typer.Argument(help="Connector to diagnose.")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
    retries: Annotated[
        int, typer.Option(min=0, max=10, help="Retries per request (default: none, one attempt).")
    ] = 0,
) -> None:
    """Probe DNS, TCP, proxy, TLS, the token request and one read of every endpoint."""
    try:
        loaded, settings = for_check(_load(config), connector, retries)
    except ConfigError as exc:
        raise _fail_config(exc) from None
    settings, source = _source(loaded, connector)
    note = None if source.endpoints() else source.network_note()
    if note and not as_json:
        out.print(f"{connector}: {note}", markup=False)

    async def go() -> list[StepResult]:
        try:
            return await check_source(
                source, settings.source.http, (lambda _r: None) if as_json else _print_step
            )
        finally:
            await source.aclose()

    with retries_kept_aside() as retried:
        results = asyncio.run(go())
    failed = sum(1 for r in results if r.status == "failed")
    if as_json:
        report = {"connector": connector, "ok": not failed, "note": note, "retries": retried}
        print_json(out, {**report, "steps": [r.as_json() for r in results]})
    else:
        for line in retried:
            err.print(f"retried: {line}", markup=False)
        verdict = f"{failed} check(s) failed" if failed else "all checks passed"
        out.print(f"{connector}: {verdict}", markup=False)
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


@app.command()
def authorize(
    connector: Annotated[str | None, typer.Argument(help="Connector to authorize.")] = None,
    new_key: Annotated[
        bool,
        typer.Option(
            "--new-key", help="Print a new key for store.token_key / IDPSYNC_TOKEN_KEY and exit."
        ),
    ] = False,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Only print the consent URL.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the browser.")] = 300.0,
    port: Annotated[int, typer.Option(help="Loopback port (0: any free port).")] = 0,
    config: ConfigOption = None,
) -> None:
    """Authorize a connector interactively (OAuth consent); stores its refresh token encrypted."""
    from idpsync.auth import authorize as flow_module
    from idpsync.auth.vault import TokenVault, token_key
    from idpsync.auth.vault import new_key as make_key
    from idpsync.http import build_http_client

    if new_key:
        out.print(make_key(), markup=False)
        return
    if connector is None:
        err.print("name the connector to authorize (or use --new-key)")
        raise typer.Exit(EXIT_USAGE)
    loaded = _load(config)
    settings, source = _source(loaded, connector)
    flow = source.authorization_flow()
    if flow is None:
        err.print(
            f"{connector}: source type {settings.source.type!r} does not use interactive "
            "authorization; it signs in with its configured credentials",
            markup=False,
        )
        raise typer.Exit(EXIT_USAGE)

    def show(url: str) -> None:
        err.print("Open this URL, sign in and approve:", markup=False)
        out.print(url, markup=False)
        if not no_browser:
            import webbrowser

            webbrowser.open(url)

    try:
        with _store(loaded) as store:
            vault = TokenVault(store, token_key(loaded.settings.store.token_key))

            async def go() -> None:
                http = build_http_client(settings.source.http)
                try:
                    await flow_module.authorize(
                        http,
                        flow,
                        connector,
                        lambda t: vault.save(connector, t),
                        show,
                        timeout,
                        port,
                    )
                finally:
                    await http.aclose()
                    await source.aclose()

            asyncio.run(go())
    except SourceError as exc:
        err.print(f"{connector}: authorization failed: {printable(exc)}", markup=False)
        raise typer.Exit(EXIT_FAILED) from None
    out.print(f"{connector}: authorized; the refresh token is stored encrypted", markup=False)
