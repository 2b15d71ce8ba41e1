"""The root ``idpsync`` app and its command groups; each command's module is imported on first use.

Importing a command module registers its commands on these apps (``@app.command()``). The root
group does not import them all up front: :data:`COMMANDS` names, in the order ``--help`` lists
them, the module(s) behind each top-level command, and :class:`LazyGroup` imports those only
when the command is looked up (run, completed, or listed by ``--help``). So ``idpsync sync``
never imports the web app, the emulators or the other commands' dependencies, and this module
imports nothing of idpsync's but the package.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup
from typer.main import get_command_name, get_group

if TYPE_CHECKING:  # Typer's own Click (vendored in recent Typers: typer._click)
    from typer._click import Command, Context

COMMANDS: dict[str, tuple[str, ...]] = {
    "audit": ("access",),
    "runs": ("directory",),
    "users": ("directory",),
    "groups": ("directory",),
    "explain": ("explain",),
    "endpoints": ("network",),
    "check": ("network",),
    "authorize": ("network",),
    "serve": ("serve",),
    "sync": ("sync",),
    "sync-user": ("sync",),
    "targets": ("targets_cmd",),
    "deliver": ("targets_cmd",),
    "config": ("config_cmd", "config_init"),
    "emulate": ("emulate",),
    "connectors": ("connectors_cmd", "migrate_cmd"),
    "tokens": ("access",),
}
"""Top-level command → the ``idpsync.cli`` modules that declare it (a group: all its commands)."""


class _Commands(MutableMapping[str, "Command"]):
    """The root group's commands by name: every name known, each built when first read."""

    def __init__(self, extra: MutableMapping[str, Command]) -> None:
        self._built: dict[str, Command] = {
            name: command for name, command in extra.items() if name not in COMMANDS
        }
        self._names = [*COMMANDS, *self._built]

    def __getitem__(self, name: str) -> Command:
        if name not in self._built:
            if name not in COMMANDS:
                raise KeyError(name)
            self._built[name] = _build(name)
        return self._built[name]

    def __setitem__(self, name: str, command: Command) -> None:
        if name not in self._names:
            self._names.append(name)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        self._names.remove(name)
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class LazyGroup(TyperGroup):
    """A Typer group whose top-level commands are imported and built on first lookup."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands(self.commands)

    def list_commands(self, ctx: Context) -> list[str]:
        """Every command name, in :data:`COMMANDS` order, without importing any of them."""
        return list(self.commands)


def _build(name: str) -> Command:
    """Import ``name``'s modules, then build its command (or group) from what they registered.

    Built afresh rather than taken from the group Typer made up front: that one may have been
    made before a group's modules were all imported (a test importing one of them first).
    """
    for module in COMMANDS[name]:
        importlib.import_module(f"idpsync.cli.{module}")
    holder = typer.Typer(
        pretty_exceptions_short=app.pretty_exceptions_short,
        rich_markup_mode=app.rich_markup_mode,
    )
    holder.registered_commands = [
        info
        for info in app.registered_commands
        if info.callback and (info.name or get_command_name(info.callback.__name__)) == name
    ]
    holder.registered_groups = [info for info in app.registered_groups if info.name == name]
    built = get_group(holder).commands.get(name)
    if built is not None:
        return built
    raise LookupError(f"idpsync.cli: {COMMANDS[name]} declare no command {name!r}")


app = typer.Typer(
    cls=LazyGroup,
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
