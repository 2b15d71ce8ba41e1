"""``emulate``: serve an emulated IdP or target.

The commands themselves (their options and what each builds) are declared beside the
emulators, in :mod:`idpsync.emulators.cli`; this module listens, prints the configuration block
and serves for all of them.
"""

from __future__ import annotations

import sys

import typer

from idpsync.cli.common import EXIT_USAGE, err, out
from idpsync.cli.root import emulate_app
from idpsync.emulators.cli import Options, Served, register


def serve(served: Served, options: Options) -> None:
    """Listen, print the configuration block if asked, then serve until stopped."""
    from idpsync.emulators.framework import bind

    host, port = options.host, options.port
    try:
        sock = bind(host, port)
    except OSError as exc:
        err.print(f"cannot listen on {host}:{port}: {exc}; choose another --port", markup=False)
        raise typer.Exit(EXIT_USAGE) from None
    base = f"http://{host}:{sock.getsockname()[1]}"
    if options.print_config:
        for name, value in served.exports(base).items():
            out.print(f"export {name}='{value}'", markup=False)
        out.print("", markup=False)
        out.print(served.server.connector_toml(base), markup=False)
    served.server.warm()  # before the banner: whoever waits for it finds the server ready
    err.print(f"{served.banner} at {base}{served.path}", markup=False)
    sys.stdout.flush()
    served.server.serve_forever(sock)


register(emulate_app, serve)
