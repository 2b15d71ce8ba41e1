"""``serve``: the service."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from idpsync.cli.common import EXIT_USAGE, ConfigOption, _load, _store, err, out
from idpsync.cli.root import app


class LogFormatChoice(StrEnum):
    """The ``--log-format`` values."""

    text = "text"
    json = "json"


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address (default: [service] host).")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default: [service] port).")] = None,
    log_format: Annotated[
        LogFormatChoice | None,
        typer.Option(
            "--log-format",
            help="Log lines as text, or one JSON object a line (default: [service] json_logs).",
            show_default=False,
        ),
    ] = None,
    json_logs: Annotated[
        bool, typer.Option("--json-logs", help="Same as --log-format json.")
    ] = False,
    hash_password: Annotated[
        bool, typer.Option("--hash-password", help="Read a password, print its hash, exit.")
    ] = False,
    new_token: Annotated[
        bool, typer.Option("--new-token", help="Print a new API token and its hash, exit.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Run the service: scheduler, target delivery, REST API and admin pages."""
    from idpsync.web import security

    if hash_password:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
        out.print(security.hash_password(password), markup=False)
        return
    if new_token:
        token, digest = security.new_token()
        out.print(f"token (give it to the API client): {token}", markup=False)
        out.print(f"hash (put it in [service] api_tokens): {digest}", markup=False)
        return
    from idpsync.service.logs import LogFormat
    from idpsync.service.serve import ListenError
    from idpsync.service.serve import serve as run_service

    chosen: LogFormat | None = None
    if json_logs or log_format is LogFormatChoice.json:
        chosen = "json"
    elif log_format is LogFormatChoice.text:
        chosen = "text"
    loaded = _load(config)
    with _store(loaded) as store:
        try:
            run_service(loaded, store, host, port, chosen)
        except ListenError as exc:
            err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
            raise typer.Exit(EXIT_USAGE) from None
