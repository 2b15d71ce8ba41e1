"""The API documentation page at ``/docs``, served without any outside host.

FastAPI's own ``/docs`` page loads Swagger UI from a CDN, so it is blank on a machine without
internet access. Here Swagger UI's files come from the ``swagger-ui-bundle`` package (mounted at
``/docs/assets``) and the page starts it with a same-origin script (``/static/apidocs.js``), so
the page works offline and under a Content-Security-Policy without inline scripts.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

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


def install(app: FastAPI) -> None:
    """Add ``/docs`` and its assets to an app created with ``docs_url=None``."""
    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="apidocs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI over this service's OpenAPI document."""
        return HTMLResponse(PAGE)
