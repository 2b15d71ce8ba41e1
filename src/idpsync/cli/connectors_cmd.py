"""``connectors compare OLD NEW``: who in the old connector is who in the new one.

Compares the old connector's directory users with the new connector's staged users, seen
through the new connector's mapping (see :mod:`idpsync.app.compare`), and prints rich
tables, JSON (``--json``) or CSV (``--format csv``). Reads the store only; the exit code is 0
whatever the comparison finds, 2 for an unknown connector, an unknown key or a new connector
that never staged anything.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from idpsync.app.compare import CompareError, Comparison, compare, mapper_for
from idpsync.app.compare_export import as_json as comparison_json
from idpsync.app.compare_export import csv_lines, differences_text
from idpsync.cli.common import (
    EXIT_USAGE,
    ConfigOption,
    JsonOption,
    _fail_config,
    _load,
    _store,
    err,
    out,
)
from idpsync.cli.root import connectors_app
from idpsync.cli.safe_output import cell, line, print_json
from idpsync.config import ConfigError
from idpsync.textsafety import printable

DEFAULT_KEYS = ("email", "login")
"""The match keys when no ``--match`` is given."""


@connectors_app.command("compare")
def compare_cmd(
    old: Annotated[str, typer.Argument(help="The connector that owns the directory users now.")],
    new: Annotated[str, typer.Argument(help="The connector that will replace it (staged).")],
    match: Annotated[
        list[str] | None,
        typer.Option(
            "--match",
            help="Match key, tried in order (repeat): email, login, attributes.NAME, or "
            "OLD=NEW for an attribute the IdPs name differently [default: email, then login].",
            show_default=False,
        ),
    ] = None,
    format: Annotated[
        str, typer.Option("--format", help="table, json or csv.", show_default=True)
    ] = "table",
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Rows per table (table format).")
    ] = 50,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare OLD's directory users with NEW's staged users: matched, only-old, only-new.

    Keys are tried in order; a value shared by several people on one side is reported as
    ambiguous and never matched. Run NEW first (usually as a shadow: shadow_of = "OLD").
    """
    kind = "json" if as_json else format
    if kind not in ("table", "json", "csv"):
        err.print("--format takes table, json or csv", markup=False)
        raise typer.Exit(EXIT_USAGE)
    loaded = _load(config, secrets=False)
    try:
        swapped = loaded.connector(old).shadow_of == new
        mapper = mapper_for(loaded.connector(new))
    except ConfigError as exc:
        raise _fail_config(exc) from None
    if swapped:
        err.print(
            f"note: {old} is the shadow of {new}; the old connector comes first", markup=False
        )
    with _store(loaded) as store:
        try:
            result = compare(store, old, new, match or DEFAULT_KEYS, mapper=mapper)
        except CompareError as exc:
            err.print(f"cannot compare: {printable(exc)}", markup=False)
            raise typer.Exit(EXIT_USAGE) from None
    if kind == "json":
        print_json(out, comparison_json(result))
    elif kind == "csv":
        for chunk in csv_lines(result, printable):
            out.file.write(chunk)
    else:
        _print(result, limit)


def _print(result: Comparison, limit: int) -> None:
    counts = result.counts()
    line(
        out,
        f"{result.old} (directory) compared with {result.new} (staged), keys: "
        + ", ".join(result.keys),
    )
    summary = Table(show_header=True, header_style="bold")
    for column in ("matched", "with differences", "only old", "only new", "ambiguous"):
        summary.add_column(column, justify="right")
    summary.add_row(
        *(str(counts[k]) for k in ("matched", "changed", "only_old", "only_new", "ambiguous"))
    )
    out.print(summary)
    _matched(result, limit)
    _people(result, limit)
    _ambiguous(result, limit)


def _more(total: int, limit: int) -> None:
    if total > limit:
        out.print(f"… and {total - limit} more (--limit, or --format csv for all)", markup=False)


def _matched(result: Comparison, limit: int) -> None:
    if not result.matched:
        return
    table = Table(title="matched", show_header=True, header_style="bold")
    for column in ("old login", "old e-mail", "new login", "new e-mail", "key", "differences"):
        table.add_column(column)
    for m in result.matched[:limit]:
        o, n = result.old_users[m.old_user_id], result.new_users[m.new_source_id]
        table.add_row(
            cell(o.login),
            cell(o.email),
            cell(n.login),
            cell(n.email),
            cell(m.key),
            cell(differences_text(m)),
        )
    out.print(table)
    _more(len(result.matched), limit)


def _people(result: Comparison, limit: int) -> None:
    if result.only_old:
        table = Table(title=f"only in {result.old}", show_header=True, header_style="bold")
        for column in ("id", "login", "e-mail", "display name", "active"):
            table.add_column(column)
        for i in result.only_old[:limit]:
            o = result.old_users[i]
            table.add_row(
                str(o.id), cell(o.login), cell(o.email), cell(o.display_name), str(o.active)
            )
        out.print(table)
        _more(len(result.only_old), limit)
    if result.only_new:
        table = Table(title=f"only in {result.new}", show_header=True, header_style="bold")
        for column in ("IdP id", "login", "e-mail", "display name", "active"):
            table.add_column(column)
        for s in result.only_new[:limit]:
            n = result.new_users[s]
            table.add_row(
                cell(n.source_id),
                cell(n.login),
                cell(n.email),
                cell(n.display_name),
                str(n.active),
            )
        out.print(table)
        _more(len(result.only_new), limit)


def _ambiguous(result: Comparison, limit: int) -> None:
    if not result.ambiguous:
        return
    table = Table(title="ambiguous (not matched)", show_header=True, header_style="bold")
    for column in ("key", "value", "kind", f"{result.old} candidates", f"{result.new} candidates"):
        table.add_column(column)
    for a in result.ambiguous[:limit]:
        olds = ", ".join(result.old_users[i].login for i in a.old_user_ids)
        news = ", ".join(result.new_users[s].login for s in a.new_source_ids)
        table.add_row(cell(a.key), cell(a.value), a.kind, cell(olds), cell(news))
    out.print(table)
    _more(len(result.ambiguous), limit)
