"""Django: an app, a middleware (WSGI and ASGI) and an ASGI application with a lifespan.

Settings::

    INSTALLED_APPS = [..., "aioanalytics.web.django"]
    MIDDLEWARE = ["aioanalytics.web.django.AnalyticsMiddleware", ...]
    AIOANALYTICS = {
        "WRITE_KEY": "...",
        "OPTIONS": {"flush_interval": 1.0},             # Analytics(...) keyword options
        "CONTEXT": {"trusted_proxies": ["10.0.0.0/8"]},  # ContextOptions(...) fields
    }

Sync views (WSGI or ASGI), management commands and signals use :func:`get_sync_analytics`:
the blocking facade (:mod:`aioanalytics.sync`), which starts its thread on first use and
flushes at exit. Async views under ASGI use :func:`get_analytics`: the async client, opened
by the lifespan of :func:`get_asgi_application` (use it in ``asgi.py`` in place of Django's;
the server must speak the ASGI lifespan protocol, as uvicorn and hypercorn do). Either way,
calls made while a request is handled carry its context.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from .apps import AioAnalyticsConfig, get_analytics, get_asgi_application, get_sync_analytics
from .middleware import AnalyticsMiddleware, read_django

__all__ = [
    "AioAnalyticsConfig",
    "AnalyticsMiddleware",
    "get_analytics",
    "get_asgi_application",
    "get_sync_analytics",
    "read_django",
]
