"""The service's web layer: REST API (``/api``), admin pages, ``/healthz`` and ``/metrics``."""

from idpsync.web.app import create_app

__all__ = ["create_app"]
