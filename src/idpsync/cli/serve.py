"""``serve``: the service."""

from __future__ import annotations

from typing import Annotated

import typer

from idpsync.cli.common import (
    ConfigOption,
    _load,
    _store,
    app,
    out,
)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address (default: [service] host).")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default: [service] port).")] = None,
    json_logs: Annotated[bool, typer.Option("--json-logs", help="Log JSON lines.")] = False,
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
    from idpsync.service.serve import serve as run_service

    loaded = _load(config)
    with _store(loaded) as store:
        run_service(loaded, store, host, port, json_logs)
