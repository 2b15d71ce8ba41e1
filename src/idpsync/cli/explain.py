"""``explain``: why a person is (or is not) synced, step by step; nothing is written.

Exit codes: ``0`` every step passed (the person is synced, or will be by the next run);
``1`` a step failed (out of scope, a collision, to be deactivated, a target rejected them…);
``2`` bad usage or configuration; ``3`` nobody matched PERSON (near matches are listed);
``4`` ``--live`` could not read the IdP.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from idpsync.app.explain import LiveReadFailed, explain_live, explain_person
from idpsync.cli.common import ConfigOption, JsonOption, _fail_config, _load, _store, err, out
from idpsync.cli.root import app
from idpsync.cli.safe_output import cell, line, print_json
from idpsync.config import ConfigError
from idpsync.engine import explain as ex
from idpsync.errors import SourceError
from idpsync.sources.registry import build_source
from idpsync.textsafety import printable

_STYLE = {True: "green", False: "red", None: "bright_black"}


@app.command("explain")
def explain(
    connector: Annotated[str, typer.Argument(help="The connector.")],
    person: Annotated[
        str, typer.Argument(help="IdP id, login, e-mail address or display name of the person.")
    ],
    live: Annotated[
        bool,
        typer.Option("--live", help="Read the person from the IdP first (no run is recorded)."),
    ] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Explain why a person is or is not synced: found, in scope, matched, next run, targets.

    Reads only the staged mirror of the IdP and the store; records no run. Exit codes: 0 every
    step passed, 1 a step failed, 2 usage, 3 nobody matched, 4 --live could not read the IdP.
    """
    loaded = _load(config, secrets=live)
    try:
        loaded.connector(connector)
    except ConfigError as exc:
        raise _fail_config(exc) from None
    with _store(loaded) as store:
        if live:
            try:
                source = build_source(loaded, loaded.connector(connector))
            except SourceError as exc:
                err.print(f"{connector}: {printable(exc)}", markup=False)
                raise typer.Exit(ex.EXIT_USAGE) from None
            try:
                result = asyncio.run(explain_live(loaded, store, connector, person, source))
            except LiveReadFailed as exc:
                err.print(f"cannot read the IdP: {printable(exc)}", markup=False)
                raise typer.Exit(ex.EXIT_LIVE) from None
        else:
            result = explain_person(loaded, store, connector, person)
    if as_json:
        print_json(out, result.as_json())
    else:
        show(result)
    raise typer.Exit(result.exit_code)


def show(result: ex.Explanation) -> None:
    """Print one panel per step (or the near matches when nobody matched)."""
    if not result.found:
        line(out, f"nobody matches {printable(result.query)!r} in {result.connector}")
        if result.near:
            line(out, "did you mean:")
            for name, _ in result.near:
                line(out, f"  {printable(name)}")
        else:
            line(out, "no similar login, e-mail or name either")
        return
    for number, step in enumerate(result.steps, 1):
        style = _STYLE[step.ok]
        body: list[Text | Table] = [Text(printable(step.verdict))]
        if step.facts:
            table = Table(show_header=False, box=None, pad_edge=False)
            table.add_column(style="bold")
            table.add_column()
            for label, value in step.facts:
                table.add_row(cell(label), cell(value))
            body.append(table)
        body.extend(Text("• " + printable(text)) for text in step.lines)
        title = Text(f"{step.mark} {number}. {step.title}", style=f"bold {style}")
        panel = Panel(Group(*body), title=title, title_align="left", border_style=style)
        out.print(panel, soft_wrap=False)
