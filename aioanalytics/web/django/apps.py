"""The Django app: reads ``settings.AIOANALYTICS`` and owns the project's clients."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from ... import Analytics, AnalyticsError, ClientClosedError, ConfigError
from .._request import ContextOptions

if TYPE_CHECKING:
    from ...sync import Analytics as SyncAnalytics

__all__ = [
    "AioAnalyticsConfig",
    "context_options",
    "get_analytics",
    "get_asgi_application",
    "get_sync_analytics",
]

_SETTINGS_KEYS = frozenset({"WRITE_KEY", "OPTIONS", "CONTEXT"})


@dataclass(frozen=True)
class _Settings:
    write_key: str | None
    options: dict[str, Any]
    context: ContextOptions


_lock = threading.Lock()
_settings: _Settings | None = None
_sync_client: SyncAnalytics | None = None
_async_client: Analytics | None = None


def _load() -> _Settings:
    global _settings
    if _settings is None:
        raw = getattr(settings, "AIOANALYTICS", {})
        if not isinstance(raw, dict) or not set(raw) <= _SETTINGS_KEYS:
            raise ImproperlyConfigured(
                f"AIOANALYTICS must be a dict with keys among {sorted(_SETTINGS_KEYS)}"
            )
        try:
            context = ContextOptions(**raw.get("CONTEXT", {}))
        except (TypeError, ConfigError) as exc:
            raise ImproperlyConfigured(f"AIOANALYTICS['CONTEXT']: {exc}") from exc
        _settings = _Settings(raw.get("WRITE_KEY"), dict(raw.get("OPTIONS", {})), context)
    return _settings


def context_options() -> ContextOptions:
    """The ``ContextOptions`` of ``settings.AIOANALYTICS['CONTEXT']``."""
    return _load().context


def get_sync_analytics() -> SyncAnalytics:
    """The project's blocking client (:class:`aioanalytics.sync.Analytics`), for sync code.

    Made on first use from ``settings.AIOANALYTICS``; its thread starts on its first call.
    """
    global _sync_client
    if _sync_client is not None:
        return _sync_client
    with _lock:
        if _sync_client is None:
            from ...sync import Analytics as SyncAnalytics

            loaded = _load()
            _sync_client = SyncAnalytics(loaded.write_key, **loaded.options)
        return _sync_client


def get_analytics() -> Analytics:
    """The project's async client, for async views: opened by the lifespan of
    :func:`get_asgi_application` on the server's event loop.

    Raises:
        ClientClosedError: no lifespan opened it (a WSGI server, or an ASGI server that
            does not run the lifespan protocol): use :func:`get_sync_analytics` there.
    """
    if _async_client is None:
        raise ClientClosedError(
            "the async Analytics client is opened by the ASGI lifespan of "
            "aioanalytics.web.django.get_asgi_application(); without it, use "
            "get_sync_analytics()"
        )
    return _async_client


_ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


def get_asgi_application() -> _ASGIApp:
    """Django's ASGI application (``django.core.asgi.get_asgi_application()``), plus the
    lifespan protocol: startup opens the async client, shutdown closes it and the blocking
    one, delivering what they queued."""
    from django.core.asgi import get_asgi_application as django_asgi

    django_app = django_asgi()

    async def application(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await django_app(scope, receive, send)
            return
        global _async_client
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                try:
                    loaded = _load()
                    client = Analytics(loaded.write_key, **loaded.options)
                    await client.open()
                except (AnalyticsError, TypeError, OSError) as exc:
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                _async_client = client
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                opened, _async_client = _async_client, None
                if opened is not None:
                    await opened.aclose()
                if _sync_client is not None:
                    await asyncio.to_thread(_sync_client.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    return application


class AioAnalyticsConfig(AppConfig):  # type: ignore[misc]  # django has no stubs here
    """``"aioanalytics.web.django"`` in ``INSTALLED_APPS``: checks ``settings.AIOANALYTICS``
    when Django starts, so a mistake fails the start rather than the first request."""

    name = "aioanalytics.web.django"
    label = "aioanalytics"
    verbose_name = "aioanalytics"

    def ready(self) -> None:
        """Check the settings."""
        loaded = _load()
        try:
            Analytics(loaded.write_key, **loaded.options)
        except (TypeError, ConfigError) as exc:
            raise ImproperlyConfigured(f"AIOANALYTICS: {exc}") from exc
