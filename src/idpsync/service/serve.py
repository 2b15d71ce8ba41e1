"""``idpsync serve``: run the web app (API, pages, scheduler, delivery) under uvicorn."""

from __future__ import annotations

import uvicorn

from idpsync.config import LoadedConfig
from idpsync.service.logs import configure
from idpsync.store.store import Store


def serve(
    loaded: LoadedConfig, store: Store, host: str | None, port: int | None, json_logs: bool
) -> None:
    """Serve until interrupted (SIGINT/SIGTERM end it cleanly)."""
    from idpsync.web import create_app

    settings = loaded.settings.service
    configure(json_logs or settings.json_logs)
    app = create_app(loaded, store)
    uvicorn.run(
        app,
        host=host or settings.host,
        port=settings.port if port is None else port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
    )
