"""``tokens`` and ``audit``: API tokens with roles, and the audit trail, on the host.

Whoever runs these commands can read the configuration and the store, so they act as the
host's administrator: the audit trail names them ``cli:<OS user>`` (:mod:`idpsync.cli.actor`).
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from idpsync.cli.actor import cli_actor, record
from idpsync.cli.common import EXIT_USAGE, ConfigOption, JsonOption, _load, _store, err, out
from idpsync.cli.root import app
from idpsync.cli.safe_output import cell, print_json
from idpsync.store import audit as trail
from idpsync.store import tokens
from idpsync.store.store import Store
from idpsync.web.roles import ROLE_NAMES, Role
from idpsync.web.security import new_token

tokens_app = typer.Typer(help="API tokens and their roles.", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


RoleOption = Annotated[
    str,
    typer.Option(
        "--role",
        help="viewer (read only), operator (also sync and deliver) or admin (also approve, "
        "dismiss, settings, tokens).",
    ),
]


@tokens_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The API client's name (letters, digits, . _ -).")],
    role: RoleOption = "viewer",
    config: ConfigOption = None,
) -> None:
    """Make an API token with a role; the token is printed once, only its hash is kept."""
    if role not in ROLE_NAMES:
        err.print(f"unknown role {role!r}: give one of {', '.join(ROLE_NAMES)}", markup=False)
        raise typer.Exit(EXIT_USAGE)
    if not NAME.fullmatch(name):
        err.print("a token's name is 1-64 letters, digits, '.', '_' or '-'", markup=False)
        raise typer.Exit(EXIT_USAGE)
    loaded = _load(config, secrets=False)
    if name in loaded.settings.service.api_tokens:
        err.print(f"{name!r} is a token of [service] api_tokens; pick another name", markup=False)
        raise typer.Exit(EXIT_USAGE)
    token, digest = new_token()
    with _store(loaded) as store:
        if not tokens.add(store, name, digest, role, cli_actor(), datetime.now(UTC)):
            err.print(f"there is a token named {name!r} already (revoked ones count)")
            raise typer.Exit(EXIT_USAGE)
        record(store, "token_create", f"token:{name}", role=role)
    out.print(f"token for {name} ({role}), shown only now:", markup=False)
    out.print(token, markup=False)


@tokens_app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="The token's name.")],
    config: ConfigOption = None,
) -> None:
    """Revoke a token at once (on every instance sharing the store)."""
    loaded = _load(config, secrets=False)
    with _store(loaded) as store:
        if not tokens.revoke(store, name, datetime.now(UTC)):
            err.print(f"no live token named {name!r}", markup=False)
            raise typer.Exit(EXIT_USAGE)
        record(store, "token_revoke", f"token:{name}")
    out.print(f"revoked {name}", markup=False)


@tokens_app.command("list")
def list_tokens(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """The tokens with their roles (never the tokens themselves)."""
    loaded = _load(config, secrets=False)
    with _store(loaded) as store:
        rows = [
            {
                "name": t.name,
                "role": t.role,
                "created_at": t.created_at.isoformat(),
                "created_by": t.created_by,
                "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
            }
            for t in tokens.listing(store)
        ]
    rows += [
        {"name": n, "role": Role.ADMIN.label, "created_at": None, "created_by": "configuration"}
        | {"revoked_at": None}
        for n in loaded.settings.service.api_tokens
    ]
    if as_json:
        print_json(out, rows)
        return
    table = Table("name", "role", "created", "by", "revoked")
    for r in rows:
        table.add_row(
            *(cell(r[k] or "") for k in ("name", "role", "created_at", "created_by")),
            cell(r["revoked_at"] or ""),
        )
    out.print(table)


@app.command("audit")
def audit(
    actor: Annotated[str | None, typer.Option("--actor", help="Only this actor.")] = None,
    action: Annotated[str | None, typer.Option("--action", help="Only this action.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100000)] = 50,
    export: Annotated[
        str | None,
        typer.Option("--export", help="Write every matching row, oldest first: csv or json."),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """The audit trail: logins, approvals, manual syncs, deliveries, tokens (newest first)."""
    if export not in (None, "csv", "json"):
        err.print("--export takes csv or json", markup=False)
        raise typer.Exit(EXIT_USAGE)
    loaded = _load(config, secrets=False)
    wanted = trail.Filter(actor, action, limit, 0)
    with _store(loaded) as store:
        if export is not None:
            _export(store, wanted, export)
            return
        rows = trail.entries(store, wanted)
    if as_json:
        print_json(out, rows)
        return
    table = Table("when", "actor", "action", "subject", "address", "detail")
    for r in rows:
        detail = json.dumps(r["detail"], sort_keys=True) if r["detail"] else ""
        table.add_row(
            r["at"][:19].replace("T", " "),
            cell(r["actor"]),
            cell(r["action"]),
            cell(r["subject"] or ""),
            cell(r["address"] or ""),
            cell(detail),
        )
    out.print(table)


def _export(store: Store, wanted: trail.Filter, kind: str) -> None:
    from idpsync.web.audit import csv_lines, json_lines

    rows = trail.export_rows(store, wanted)
    for chunk in csv_lines(rows) if kind == "csv" else json_lines(rows):
        sys.stdout.write(chunk)
    sys.stdout.flush()
