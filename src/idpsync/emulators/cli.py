"""``idpsync emulate <name>``: the emulators' commands, declared beside the emulators.

The options every command shares (where to listen, the generated tenant, latency,
``--print-config``) are declared once, in :data:`SHARED`, and reach a command as one
:class:`Options`. Each command is a function ``(options, **its_own_options) -> Served`` that
builds its emulator; :func:`register` turns them into Typer commands, with the shared options
first, the command's own next and ``--print-config`` last.

Listening, printing the configuration block and serving is the command line's part
(``idpsync.cli.emulate``), handed in to :func:`register`. The emulator packages are imported
only when their command runs.
"""

from __future__ import annotations

import inspect
import json
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import typer

if TYPE_CHECKING:
    from idpsync.emulators.crowd import CrowdEmulator
    from idpsync.emulators.injection import Latency

SHARED: dict[str, Any] = {
    "port": Annotated[int, typer.Option(help="TCP port (0 = any free port).")],
    "host": Annotated[str, typer.Option(help="Address to listen on.")],
    "users": Annotated[int, typer.Option(help="Number of generated users.")],
    "groups": Annotated[int, typer.Option(help="Number of generated groups.")],
    "seed": Annotated[int, typer.Option(help="Seed of the generated tenant.")],
    "medium_every": Annotated[
        int,
        typer.Option(
            min=1,
            help="One group in this many holds 2–8 % of the users (lower: more memberships).",
        ),
    ],
    "latency_ms": Annotated[float, typer.Option(help="Fixed delay per request (ms).")],
    "tail_ms": Annotated[float, typer.Option(help="Largest extra random delay (ms).")],
    "tail_share": Annotated[float, typer.Option(help="Share of requests with a tail.")],
}
"""The shared options, in the order the help lists them (``--print-config`` comes last)."""

TENANT = ("users", "groups", "seed", "medium_every", "latency_ms", "tail_ms", "tail_share")
"""The shared options of a generated tenant (every IdP emulator takes them, or some)."""


@dataclass(frozen=True)
class Options:
    """The shared options of one ``emulate`` command, as given (or defaulted)."""

    port: int = 8002
    """TCP port to listen on (0: any free port)."""
    host: str = "127.0.0.1"
    """Address to listen on."""
    users: int = 10000
    """Generated users."""
    groups: int = 500
    """Generated groups."""
    seed: int = 7
    """Seed of the generated tenant."""
    medium_every: int = 50
    """One group in this many is a medium-sized one."""
    latency_ms: float = 0.0
    """Fixed delay per request."""
    tail_ms: float = 0.0
    """Largest extra random delay."""
    tail_share: float = 0.0
    """Share of requests with the extra delay."""
    print_config: bool = False
    """Print the configuration block for the emulator before serving."""

    def tenant(self) -> dict[str, Any]:
        """The generated tenant's size, seed, shape and latency, as ``generate`` keywords."""
        return {
            "users": self.users,
            "groups": self.groups,
            "seed": self.seed,
            "medium_every": self.medium_every,
            "latency": self.latency(),
        }

    def latency(self) -> Latency:
        """The emulator's delay per request from the latency options."""
        from idpsync.emulators import Latency

        return Latency(
            fixed_ms=self.latency_ms, tail_ms=self.tail_ms, tail_probability=self.tail_share
        )


class Server(Protocol):
    """What an ``emulate`` command serves."""

    def connector_toml(self, base_url: str) -> str:
        """The configuration block (a connector or a target) for the server at ``base_url``."""

    def warm(self) -> None:
        """Work done once before the banner is printed, off every request's time."""

    def serve_forever(self, sock: socket.socket) -> None:
        """Answer on ``sock`` until the process is stopped."""


def _client_secret(server: Any) -> Callable[[str], dict[str, str]]:
    return lambda _base: {"IDPSYNC_EMULATOR_SECRET": server.client_secret}


@dataclass(frozen=True)
class Served:
    """What a command built: the server, the line that announces it and its secrets."""

    server: Server
    """The emulator."""
    banner: str
    """Announced on standard error, followed by `` at <base URL><path>``."""
    exports: Callable[[str], dict[str, str]]
    """The secret environment variables the configuration block refers to, by base URL."""
    path: str = ""
    """Where the API is below the base URL (for the announcement)."""


Serve = Callable[[Served, Options], None]
"""Listens where the options say, prints the block if asked, then serves (the command line)."""


@dataclass(frozen=True)
class _Command:
    name: str
    build: Callable[..., Served]
    shared: tuple[str, ...]
    defaults: Options
    print_help: str

    def callback(self, serve: Serve) -> Callable[..., None]:
        """The Typer callback: shared options, the command's own, then ``--print-config``."""
        own = list(inspect.signature(self.build, eval_str=True).parameters.values())[1:]
        names = ("port", "host", *self.shared)
        params = [
            inspect.Parameter(
                n,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=SHARED[n],
                default=getattr(self.defaults, n),
            )
            for n in names
        ]
        params += [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]
        flag = Annotated[bool, typer.Option("--print-config", help=self.print_help)]
        params.append(
            inspect.Parameter(
                "print_config", inspect.Parameter.KEYWORD_ONLY, annotation=flag, default=False
            )
        )
        taken = {*names, "print_config"}

        def run(**values: Any) -> None:
            options = replace(self.defaults, **{k: values.pop(k) for k in taken})
            serve(self.build(options, **values), options)

        run.__doc__ = self.build.__doc__
        run.__name__ = f"emulate_{self.name}"
        run.__annotations__ = {p.name: p.annotation for p in params}
        setattr(run, "__signature__", inspect.Signature(params))  # noqa: B010  (what Typer reads)
        return run


_COMMANDS: list[_Command] = []


def command(
    name: str,
    *,
    shared: tuple[str, ...] = TENANT,
    print_help: str = "Print a connector block for it first.",
    **defaults: Any,
) -> Callable[[Callable[..., Served]], Callable[..., Served]]:
    """Declare ``emulate <name>``: which shared options it takes and their defaults here."""

    def declare(build: Callable[..., Served]) -> Callable[..., Served]:
        _COMMANDS.append(_Command(name, build, shared, Options(**defaults), print_help))
        return build

    return declare


def register(app: typer.Typer, serve: Serve) -> None:
    """Add every ``emulate`` command to ``app``; ``serve`` listens, prints and serves."""
    for declared in _COMMANDS:
        app.command(declared.name)(declared.callback(serve))


@command("entra", port=8001)
def entra(
    options: Options,
    rate_limit: Annotated[
        bool, typer.Option("--rate-limit/--no-rate-limit", help="Graph resource-unit limits.")
    ] = True,
) -> Served:
    """Serve a Microsoft Entra ID (Graph + token endpoint) emulator until stopped."""
    from idpsync.emulators.entra import EntraEmulator

    emulator = EntraEmulator.generate(
        **options.tenant(),
        rate_limit=rate_limit,
    )
    banner = f"entra emulator: {options.users} users, {options.groups} groups, seed {options.seed}"
    return Served(emulator, banner, _client_secret(emulator))


@command("onelogin", shared=("users", "groups", "seed", "latency_ms"), users=2000, groups=40)
def onelogin(
    options: Options,
    roles: Annotated[int, typer.Option(help="Number of generated roles.")] = 25,
    hourly_limit: Annotated[int, typer.Option(help="API calls per hour (account-wide).")] = 5000,
) -> Served:
    """Serve a OneLogin (API v1/v2 + token endpoint) emulator until stopped."""
    from idpsync.emulators.onelogin import OneLoginEmulator

    emulator = OneLoginEmulator.generate(
        options.users,
        options.groups,
        roles,
        options.seed,
        latency=options.latency(),
        hourly_limit=hourly_limit,
    )
    banner = f"onelogin emulator: {options.users} users, {options.groups} groups, {roles} roles"
    return Served(emulator, banner, _client_secret(emulator))


@command("keycloak")
def keycloak(
    options: Options,
    realm: Annotated[str, typer.Option(help="Realm name.")] = "acme",
    shape: Annotated[
        int, typer.Option(help="Group shape of this Keycloak version: 23 (and newer) or 22.")
    ] = 23,
    auth_prefix: Annotated[
        bool, typer.Option("--auth-prefix", help="Serve under /auth (Keycloak 16 and older).")
    ] = False,
    sign_in_as: Annotated[
        str | None,
        typer.Option(
            help="Act as the OpenID provider of 'idpsync serve' on this machine: this user "
            "(username or e-mail) signs in at once; --print-config adds a [service.oidc] block."
        ),
    ] = None,
    row_cost_us: Annotated[
        float, typer.Option(min=0, help="Server time per row rendered (µs; 0: off).")
    ] = 25.0,
    offset_cost_us: Annotated[
        float, typer.Option(min=0, help="Server time per row skipped by 'first' (µs; 0: off).")
    ] = 10.0,
    admin_events: Annotated[
        bool,
        typer.Option(
            "--admin-events", help="The realm saves admin events (the client gets view-events)."
        ),
    ] = False,
) -> Served:
    """Serve a Keycloak Admin REST API (+ token endpoint) emulator until stopped."""
    from idpsync.emulators.keycloak import KeycloakEmulator
    from idpsync.emulators.keycloak.auth import DEFAULT_ROLES
    from idpsync.emulators.keycloak.cost import ServerCost

    emulator = KeycloakEmulator.generate(
        **options.tenant(),
        realm=realm,
        shape=shape,
        auth_prefix=auth_prefix,
        cost=ServerCost(row_cost_us, offset_cost_us),
        admin_events=admin_events,
    )
    if admin_events:
        emulator.set_roles(DEFAULT_ROLES | {"view-events"})
    banner = f"keycloak emulator: {options.users} users, {options.groups} groups, realm {realm}"
    if sign_in_as is None:
        return Served(emulator, banner, _client_secret(emulator))
    try:
        web_secret = emulator.enable_sign_in(sign_in_as)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0]), param_hint="--sign-in-as") from None

    def exports(base: str) -> dict[str, str]:
        return {**_client_secret(emulator)(base), "IDPSYNC_EMULATOR_OIDC_SECRET": web_secret}

    return Served(emulator, f"{banner}, sign-in as {emulator.sign_in_user}", exports)


@dataclass(frozen=True)
class _Crowd:
    """The Crowd emulator as a :class:`Server`: a target block, served by uvicorn."""

    emulator: CrowdEmulator
    application: str

    def connector_toml(self, base_url: str) -> str:
        return (
            f'[targets.crowd]\ntype = "crowd"\nurl = "{base_url}"\n'
            f'application = "{self.application}"\n'
            'password = "env:IDPSYNC_CROWD_EMULATOR_PASSWORD"'
        )

    def warm(self) -> None:
        """Nothing to make ahead."""

    def serve_forever(self, sock: socket.socket) -> None:
        import uvicorn

        config = uvicorn.Config(self.emulator.app, log_level="warning", lifespan="off")
        uvicorn.Server(config).run(sockets=[sock])


@command("crowd", shared=(), print_help="Print a target block for it first.", port=8095)
def crowd(
    options: Options,
    application: Annotated[str, typer.Option(help="Application name accepted.")] = "idpsync",
    max_results: Annotated[int, typer.Option(help="Server cap on max-results.")] = 1000,
    seats: Annotated[
        int | None, typer.Option(help="Licence seats (active users); unlimited if not given.")
    ] = None,
) -> Served:
    """Serve an Atlassian Crowd REST emulator (a target) until stopped.

    The application's password is ``$IDPSYNC_CROWD_EMULATOR_PASSWORD``, or a random one that
    ``--print-config`` shows.
    """
    import secrets

    from idpsync.emulators.crowd import CrowdEmulator

    password = os.environ.get("IDPSYNC_CROWD_EMULATOR_PASSWORD") or secrets.token_urlsafe(18)
    emulator = CrowdEmulator({application: password}, max_results=max_results)
    emulator.seats = seats
    return Served(
        _Crowd(emulator, application),
        f"crowd emulator: application {application!r}",
        lambda _base: {"IDPSYNC_CROWD_EMULATOR_PASSWORD": password},
        path="/rest/usermanagement/1",
    )


@command("google")
def google(
    options: Options,
    quota: Annotated[int, typer.Option(help="Queries per minute per user.")] = 2400,
    rate_limit: Annotated[
        bool, typer.Option("--rate-limit/--no-rate-limit", help="Per-user query quota.")
    ] = True,
    report_lag: Annotated[
        float, typer.Option(help="Seconds before an admin activity is reported (Reports API).")
    ] = 0.0,
) -> Served:
    """Serve a Google Workspace (Directory API + OAuth endpoints) emulator until stopped."""
    from idpsync.emulators.google import GoogleEmulator

    emulator = GoogleEmulator.generate(
        **options.tenant(),
        rate_limit=rate_limit,
        quota=quota,
        report_lag=report_lag,
    )
    return Served(
        emulator,
        f"google emulator: {options.users} users, {options.groups} groups, seed {options.seed}",
        lambda base: {
            "IDPSYNC_EMULATOR_KEY": json.dumps(emulator.service_account_info(f"{base}/token"))
        },
    )


@command("okta", shared=("users", "groups", "seed", "medium_every", "latency_ms"))
def okta(
    options: Options,
    rate_limit: Annotated[
        bool, typer.Option("--rate-limit/--no-rate-limit", help="Okta per-minute buckets.")
    ] = True,
) -> Served:
    """Serve an Okta Management API emulator (API token and OAuth service apps) until stopped."""
    from idpsync.emulators.okta import OktaEmulator

    emulator = OktaEmulator.generate(
        **options.tenant(),
        rate_limit=rate_limit,
    )
    return Served(
        emulator,
        f"okta emulator: {options.users} users, {options.groups} groups, seed {options.seed}",
        lambda _base: {"IDPSYNC_OKTA_TOKEN": emulator.api_token},
    )
