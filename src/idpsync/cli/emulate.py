"""``emulate``: serve an emulated IdP or target."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from idpsync.cli.common import (
    EXIT_USAGE,
    GroupsOption,
    HostOption,
    LatencyOption,
    MediumEveryOption,
    PortOption,
    PrintConfigOption,
    SeedOption,
    TailOption,
    TailShareOption,
    UsersOption,
    emulate_app,
    err,
    out,
)


def _serve_emulator(
    emulator: Any,
    host: str,
    port: int,
    print_config: bool,
    banner: str,
    exports: Callable[[str], dict[str, str]] | None = None,
) -> None:
    """Listen, print the connector block for the emulator if asked, then serve until stopped.

    ``exports`` gives the secret environment variables the block refers to, from the base URL
    (default: ``IDPSYNC_EMULATOR_SECRET``, the emulator's client secret).
    """
    from idpsync.emulators.framework import bind

    try:
        sock = bind(host, port)
    except OSError as exc:
        err.print(f"cannot listen on {host}:{port}: {exc}; choose another --port", markup=False)
        raise typer.Exit(EXIT_USAGE) from None
    base = f"http://{host}:{sock.getsockname()[1]}"
    if print_config:
        env = exports(base) if exports else {"IDPSYNC_EMULATOR_SECRET": emulator.client_secret}
        for name, value in env.items():
            out.print(f"export {name}='{value}'", markup=False)
        out.print("", markup=False)
        out.print(emulator.connector_toml(base), markup=False)
    err.print(f"{banner} at {base}", markup=False)
    sys.stdout.flush()
    emulator.serve_forever(sock)


@emulate_app.command("entra")
def emulate_entra(
    port: PortOption = 8001,
    host: HostOption = "127.0.0.1",
    users: UsersOption = 10000,
    groups: GroupsOption = 500,
    seed: SeedOption = 7,
    medium_every: MediumEveryOption = 50,
    latency_ms: LatencyOption = 0.0,
    tail_ms: TailOption = 0.0,
    tail_share: TailShareOption = 0.0,
    rate_limit: Annotated[
        bool, typer.Option("--rate-limit/--no-rate-limit", help="Graph resource-unit limits.")
    ] = True,
    print_config: PrintConfigOption = False,
) -> None:
    """Serve a Microsoft Entra ID (Graph + token endpoint) emulator until stopped."""
    from idpsync.emulators import Latency
    from idpsync.emulators.entra import EntraEmulator

    latency = Latency(fixed_ms=latency_ms, tail_ms=tail_ms, tail_probability=tail_share)
    emulator = EntraEmulator.generate(
        users=users,
        groups=groups,
        seed=seed,
        medium_every=medium_every,
        latency=latency,
        rate_limit=rate_limit,
    )
    _serve_emulator(
        emulator,
        host,
        port,
        print_config,
        f"entra emulator: {users} users, {groups} groups, seed {seed}",
    )


@emulate_app.command("onelogin")
def emulate_onelogin(
    port: PortOption = 8002,
    host: HostOption = "127.0.0.1",
    users: UsersOption = 2000,
    groups: GroupsOption = 40,
    roles: Annotated[int, typer.Option(help="Number of generated roles.")] = 25,
    seed: SeedOption = 7,
    hourly_limit: Annotated[int, typer.Option(help="API calls per hour (account-wide).")] = 5000,
    latency_ms: LatencyOption = 0.0,
    print_config: PrintConfigOption = False,
) -> None:
    """Serve a OneLogin (API v1/v2 + token endpoint) emulator until stopped."""
    from idpsync.emulators import Latency
    from idpsync.emulators.onelogin import OneLoginEmulator

    emulator = OneLoginEmulator.generate(
        users, groups, roles, seed, latency=Latency(fixed_ms=latency_ms), hourly_limit=hourly_limit
    )
    _serve_emulator(
        emulator,
        host,
        port,
        print_config,
        f"onelogin emulator: {users} users, {groups} groups, {roles} roles",
    )


@emulate_app.command("keycloak")
def emulate_keycloak(
    port: PortOption = 8002,
    host: HostOption = "127.0.0.1",
    users: UsersOption = 10000,
    groups: GroupsOption = 500,
    seed: SeedOption = 7,
    medium_every: MediumEveryOption = 50,
    realm: Annotated[str, typer.Option(help="Realm name.")] = "acme",
    shape: Annotated[
        int, typer.Option(help="Group shape of this Keycloak version: 23 (and newer) or 22.")
    ] = 23,
    auth_prefix: Annotated[
        bool, typer.Option("--auth-prefix", help="Serve under /auth (Keycloak 16 and older).")
    ] = False,
    latency_ms: LatencyOption = 0.0,
    tail_ms: TailOption = 0.0,
    tail_share: TailShareOption = 0.0,
    print_config: PrintConfigOption = False,
) -> None:
    """Serve a Keycloak Admin REST API (+ token endpoint) emulator until stopped."""
    from idpsync.emulators import Latency
    from idpsync.emulators.keycloak import KeycloakEmulator

    latency = Latency(fixed_ms=latency_ms, tail_ms=tail_ms, tail_probability=tail_share)
    emulator = KeycloakEmulator.generate(
        users=users,
        groups=groups,
        seed=seed,
        medium_every=medium_every,
        realm=realm,
        shape=shape,
        auth_prefix=auth_prefix,
        latency=latency,
    )
    _serve_emulator(
        emulator,
        host,
        port,
        print_config,
        f"keycloak emulator: {users} users, {groups} groups, realm {realm}",
    )


@emulate_app.command("crowd")
def emulate_crowd(
    port: PortOption = 8095,
    host: HostOption = "127.0.0.1",
    application: Annotated[str, typer.Option(help="Application name accepted.")] = "idpsync",
    max_results: Annotated[int, typer.Option(help="Server cap on max-results.")] = 1000,
    print_config: Annotated[
        bool, typer.Option("--print-config", help="Print a target block for it first.")
    ] = False,
) -> None:
    """Serve an Atlassian Crowd REST emulator (a target) until stopped.

    The application's password is ``$IDPSYNC_CROWD_EMULATOR_PASSWORD``, or a random one that
    ``--print-config`` shows.
    """
    import secrets

    import uvicorn

    from idpsync.emulators.crowd import CrowdEmulator
    from idpsync.emulators.framework import bind

    password = os.environ.get("IDPSYNC_CROWD_EMULATOR_PASSWORD") or secrets.token_urlsafe(18)
    emulator = CrowdEmulator({application: password}, max_results=max_results)
    try:
        sock = bind(host, port)
    except OSError as exc:
        err.print(f"cannot listen on {host}:{port}: {exc}; choose another --port", markup=False)
        raise typer.Exit(EXIT_USAGE) from None
    base = f"http://{host}:{sock.getsockname()[1]}"
    if print_config:
        out.print(f"export IDPSYNC_CROWD_EMULATOR_PASSWORD='{password}'", markup=False)
        out.print("", markup=False)
        out.print(
            f'[targets.crowd]\ntype = "crowd"\nurl = "{base}"\napplication = "{application}"\n'
            'password = "env:IDPSYNC_CROWD_EMULATOR_PASSWORD"',
            markup=False,
        )
    err.print(f"crowd emulator: application {application!r} at {base}/rest/usermanagement/1")
    sys.stdout.flush()
    config = uvicorn.Config(emulator.app, log_level="warning", lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


@emulate_app.command("google")
def emulate_google(
    port: PortOption = 8002,
    host: HostOption = "127.0.0.1",
    users: UsersOption = 10000,
    groups: GroupsOption = 500,
    seed: SeedOption = 7,
    medium_every: MediumEveryOption = 50,
    latency_ms: LatencyOption = 0.0,
    tail_ms: TailOption = 0.0,
    tail_share: TailShareOption = 0.0,
    quota: Annotated[int, typer.Option(help="Queries per minute per user.")] = 2400,
    rate_limit: Annotated[
        bool, typer.Option("--rate-limit/--no-rate-limit", help="Per-user query quota.")
    ] = True,
    print_config: PrintConfigOption = False,
) -> None:
    """Serve a Google Workspace (Directory API + OAuth endpoints) emulator until stopped."""
    from idpsync.emulators import Latency
    from idpsync.emulators.google import GoogleEmulator

    latency = Latency(fixed_ms=latency_ms, tail_ms=tail_ms, tail_probability=tail_share)
    emulator = GoogleEmulator.generate(
        users=users,
        groups=groups,
        seed=seed,
        medium_every=medium_every,
        latency=latency,
        rate_limit=rate_limit,
        quota=quota,
    )
    _serve_emulator(
        emulator,
        host,
        port,
        print_config,
        f"google emulator: {users} users, {groups} groups, seed {seed}",
        lambda base: {
            "IDPSYNC_EMULATOR_KEY": json.dumps(emulator.service_account_info(f"{base}/token"))
        },
    )


@emulate_app.command("okta")
def emulate_okta(
    port: PortOption = 8002,
    host: HostOption = "127.0.0.1",
    users: UsersOption = 10000,
    groups: GroupsOption = 500,
    seed: SeedOption = 7,
    medium_every: MediumEveryOption = 50,
    latency_ms: LatencyOption = 0.0,
    rate_limit: Annotated[
        bool, typer.Option("--rate-limit/--no-rate-limit", help="Okta per-minute buckets.")
    ] = True,
    print_config: PrintConfigOption = False,
) -> None:
    """Serve an Okta Management API emulator (API token and OAuth service apps) until stopped."""
    from idpsync.emulators import Latency
    from idpsync.emulators.okta import OktaEmulator

    emulator = OktaEmulator.generate(
        users=users,
        groups=groups,
        seed=seed,
        medium_every=medium_every,
        latency=Latency(fixed_ms=latency_ms),
        rate_limit=rate_limit,
    )
    _serve_emulator(
        emulator,
        host,
        port,
        print_config,
        f"okta emulator: {users} users, {groups} groups, seed {seed}",
        lambda base: {"IDPSYNC_OKTA_TOKEN": emulator.api_token},
    )
