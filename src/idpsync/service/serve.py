"""``idpsync serve``: run the web app (API, pages, scheduler, delivery) under uvicorn."""

from __future__ import annotations

import logging
import socket
import sys

import uvicorn

from idpsync import __version__
from idpsync.config import LoadedConfig
from idpsync.service.logs import LogFormat, configure
from idpsync.store.store import Store

log = logging.getLogger("idpsync.service")


class ListenError(Exception):
    """The service cannot listen on the address it was given (the message says what to do)."""


def serve(
    loaded: LoadedConfig,
    store: Store,
    host: str | None,
    port: int | None,
    log_format: LogFormat | None,
) -> None:
    """Serve until interrupted (SIGINT/SIGTERM end it cleanly).

    ``log_format`` None takes the configuration's choice (``[service] json_logs``).
    """
    from idpsync.web import create_app

    settings = loaded.settings.service
    configure(log_format or ("json" if settings.json_logs else "text"))
    app = create_app(loaded, store)
    sock = listen(host or settings.host, settings.port if port is None else port)
    url = listening_url(sock)
    if log_format == "json" or (log_format is None and settings.json_logs):
        log.info("idpsync listening on %s", url, extra={"url": url, "version": __version__})
    else:  # a person reads this: one plain line, whatever the log level
        print(f"idpsync listening on {url} (version {__version__})", file=sys.stdout, flush=True)
    config = uvicorn.Config(app, log_config=None, access_log=False, proxy_headers=True)
    uvicorn.Server(config).run(sockets=[sock])


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one), IPv4 or IPv6."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = exc.strerror or type(exc).__name__
        raise ListenError(
            f"cannot listen on {host}:{port} ({reason}); choose another --port / --host "
            "(or [service] port / host), or stop what uses it"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def listening_url(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket (IPv6 addresses in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
