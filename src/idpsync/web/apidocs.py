"""The API documentation page at ``/docs``, served without any outside host.

FastAPI's own ``/docs`` page loads Swagger UI from a CDN, so it is blank on a machine without
internet access. Here Swagger UI's files (version 5, which reads FastAPI's OpenAPI 3.1) come
from the ``fastapi-offline`` package, mounted at ``/docs/assets``; only its files are used, not
its app class. The page starts Swagger UI with a same-origin script (``/static/apidocs.js``), so
it works offline and under a Content-Security-Policy without inline scripts.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"

PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>idpsync API</title>
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="/openapi.json"></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="/static/apidocs.js"></script>
</body>
</html>
"""


def assets_dir() -> Path:
    """The folder of Swagger UI's ``swagger-ui.css`` and ``swagger-ui-bundle.js``."""
    return Path(str(files("fastapi_offline") / "static"))


def install(app: FastAPI) -> None:
    """Add ``/docs`` and its assets to an app created with ``docs_url=None``."""
    app.mount(ASSETS, StaticFiles(directory=str(assets_dir())), name="apidocs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI over this service's OpenAPI document."""
        return HTMLResponse(PAGE)
