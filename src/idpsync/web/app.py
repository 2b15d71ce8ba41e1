"""The FastAPI application of ``idpsync serve``.

:func:`create_app` wires the store, the executor, the scheduler and the alerter into one app:
the REST API under ``/api`` (OpenAPI at ``/openapi.json``), the admin pages, ``/healthz`` and
``/metrics``. With ``background=True`` the app's lifespan runs the scheduler and the
delivery loop.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from idpsync import __version__
from idpsync.config import LoadedConfig
from idpsync.service.alerts import Alerter
from idpsync.service.executor import Executor
from idpsync.service.locks import ConnectorLocks
from idpsync.service.metrics import Metrics
from idpsync.service.scheduler import Clock, Scheduler, deliver_forever, utcnow
from idpsync.store.errors import StoreError
from idpsync.store.store import Store
from idpsync.web.headers import SecurityHeaders

HERE = Path(__file__).parent


@dataclass
class Service:
    """Everything the routes need, on ``app.state.service``."""

    loaded: LoadedConfig
    store: Store
    executor: Executor
    scheduler: Scheduler
    templates: Jinja2Templates


class Sessions:
    """Signed session cookies: HttpOnly, SameSite=Lax, Secure over https (or when forced)."""

    def __init__(self, app: ASGIApp, secret: str, secure: bool | None) -> None:
        options = {"session_cookie": "idpsync_session", "same_site": "lax", "max_age": 8 * 3600}
        self.plain = SessionMiddleware(app, secret, https_only=bool(secure), **options)  # type: ignore[arg-type]
        self.tls = SessionMiddleware(app, secret, https_only=secure is not False, **options)  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pick the cookie flags by the request's scheme."""
        handler = self.tls if scope.get("scheme") == "https" else self.plain
        await handler(scope, receive, send)


def create_app(
    loaded: LoadedConfig,
    store: Store,
    *,
    background: bool = True,
    alerter: Alerter | None = None,
    clock: Clock = utcnow,
) -> FastAPI:
    """The service app for a configuration and an open store."""
    from idpsync.web import (
        api,
        apidocs,
        approval,
        authorize,
        compare_pages,
        directory_pages,
        display,
        oidc,
        pages,
        revert,
        run_browser,
    )
    from idpsync.web.errors import PageError, page_error

    settings = loaded.settings.service
    metrics = Metrics()
    executor = Executor(
        loaded, store, ConnectorLocks(store.engine), metrics, alerter or Alerter(settings.alerts)
    )
    scheduler = Scheduler(executor, clock)
    templates = Jinja2Templates(
        env=Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
    )
    templates.env.globals["version"] = __version__
    display.install(templates.env)
    service = Service(loaded, store, executor, scheduler, templates)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks = []
        if background:
            tasks = [
                asyncio.create_task(scheduler.run_forever(stop)),
                asyncio.create_task(deliver_forever(executor, stop)),
            ]
        yield
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        from idpsync.web.audit import settle  # the routes' module (imported with them)

        await asyncio.to_thread(settle, _app, 10.0)  # token uses still being written

    app = FastAPI(
        title="idpsync",
        version="1",
        description="Sync runs, directory, connector checks and targets of idpsync.",
        lifespan=lifespan,
        docs_url=None,  # served by apidocs, without a CDN
        redoc_url=None,
    )
    app.state.service = service
    secret = settings.session_secret
    app.add_middleware(
        Sessions,
        secret=secret.get_secret_value() if secret else secrets.token_urlsafe(32),
        secure=settings.secure_cookies,
    )
    app.middleware("http")(_count_requests(metrics, app))
    app.add_middleware(SecurityHeaders)
    app.include_router(api.router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(pages.router)
    app.include_router(run_browser.router)
    app.include_router(run_browser.api_router)
    app.include_router(directory_pages.router)
    app.include_router(compare_pages.router)
    app.include_router(approval.router)
    app.include_router(revert.router)
    from idpsync.web import explain as explain_pages

    app.include_router(explain_pages.router)
    app.add_exception_handler(PageError, page_error)
    app.include_router(authorize.router)
    from idpsync.web import audit, auth, tokens

    app.include_router(audit.router)
    app.include_router(tokens.router)
    app.add_exception_handler(auth.SignInNeeded, auth.sign_in_redirect)
    oidc.install(app)
    apidocs.install(app)

    @app.get("/healthz", tags=["service"], responses={503: {"description": "store unusable"}})
    def healthz() -> dict[str, str]:
        """Liveness, store reachability (a read: never waits for a sync) and the version."""
        try:
            with store.read() as conn:
                conn.exec_driver_sql("SELECT 1")
        except StoreError as exc:
            raise HTTPException(503, detail=str(exc)) from None
        return {"status": "ok", "version": __version__}

    @app.get("/metrics", tags=["service"], response_class=Response)
    def prometheus() -> Response:
        """Prometheus metrics (text exposition format)."""
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    return app


Handler = Callable[[Request], Awaitable[Response]]


def _route(request: Request) -> str:
    """The matched route's path template (bounded label values for the metrics)."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "unmatched"))


def _count_requests(
    metrics: Metrics, app: FastAPI
) -> Callable[[Request, Handler], Awaitable[Response]]:
    async def count(request: Request, call_next: Handler) -> Response:
        try:
            response = await call_next(request)
        except Exception:
            metrics.http_requests.labels(request.method, _route(request), "500").inc()
            return JSONResponse({"detail": "internal error"}, status_code=500)
        metrics.http_requests.labels(
            request.method, _route(request), str(response.status_code)
        ).inc()
        return response

    return count
