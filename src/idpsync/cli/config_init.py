"""``config init``: write a commented starter configuration for one identity provider.

The text comes from package data (``cli/templates``): ``base.toml`` with the store, policy,
guard, schedule and service sections, and one ``<idp>.toml`` per source with its settings,
``env:`` secret references and the permissions the IdP must grant.
"""

from __future__ import annotations

from enum import StrEnum
from importlib.resources import files
from pathlib import Path
from typing import Annotated

import typer

from idpsync.cli.common import EXIT_USAGE, err, out
from idpsync.cli.root import config_app
from idpsync.config import DEFAULT_CONFIG_PATH


class Idp(StrEnum):
    """The sources ``config init`` has a template for."""

    entra = "entra"
    google = "google"
    keycloak = "keycloak"
    okta = "okta"
    onelogin = "onelogin"
    file = "file"


def _template(name: str) -> str:
    return (files("idpsync.cli") / "templates" / f"{name}.toml").read_text(encoding="utf-8")


def starter_config(idp: Idp, name: str | None = None) -> str:
    """The starter configuration text for ``idp``; the connector is called ``name`` (or idp)."""
    connector = name or idp.value
    text = _template("base").replace("{{source}}", _template(idp.value))
    return text.replace("{{idp}}", idp.value).replace("{{name}}", connector)


def secret_variables(text: str) -> list[str]:
    """The environment variables a configuration text's uncommented lines refer to."""
    names = []
    for line in text.splitlines():
        code = line.split("#", 1)[0]
        if '"env:' in code:
            names.append(code.split('"env:', 1)[1].split('"', 1)[0])
    return names


@config_app.command("init")
def config_init(
    idp: Annotated[Idp, typer.Option(help="Identity provider of the first connector.")] = Idp.file,
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="Where to write it ('-': standard output)."),
    ] = Path(DEFAULT_CONFIG_PATH),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter configuration (idpsync.toml) for one identity provider."""
    text = starter_config(idp)
    if str(output) == "-":
        out.print(text, markup=False, end="")
        return
    if output.exists() and not force:
        err.print(
            f"{output} exists already; use --force to overwrite it, or --output for another path",
            markup=False,
        )
        raise typer.Exit(EXIT_USAGE)
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        err.print(f"cannot write {output}: {exc.strerror}", markup=False)
        raise typer.Exit(EXIT_USAGE) from None
    out.print(f"wrote {output} (connector {idp.value}: source {idp.value})", markup=False)
    variables = secret_variables(text)
    if variables:
        out.print(f"set before use: {', '.join(variables)}", markup=False)
    out.print(f"then: idpsync config check --config {output}", markup=False)
