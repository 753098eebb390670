"""A drop-in for segment-analytics-python's module-level API, running on aioanalytics.

Change one import and keep the rest of the program::

    import aioanalytics.compat as analytics     # was: import segment.analytics as analytics

    analytics.write_key = "WRITE_KEY"
    analytics.track("user-1", "Signed Up", {"plan": "pro"})
    analytics.flush()

The settings (``write_key``, ``host``, ``on_error``, ``debug``, ``send``, ``sync_mode``,
``max_queue_size``, ``gzip``, ``timeout``, ``max_retries``, ``log_handler``) are module
attributes, read when the first call creates :data:`default_client`, exactly as in
segment-analytics-python 2.x; their defaults are the same. The calls keep their positional
order and return ``(success, message)``. :class:`Client` takes the old constructor's
arguments. Underneath is :class:`aioanalytics.sync.Analytics`: batching, retries, gzip and
the exit-time flush are aioanalytics's. The migration guide maps every option and call.

This module holds a module-level client and settings because the API it mirrors does; new
code should create an :class:`aioanalytics.sync.Analytics` (or the async client) instead.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import logging
import numbers
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from . import (
    Alias,
    ConfigError,
    Group,
    Identify,
    Page,
    QueueFull,
    Screen,
    Track,
)
from .sync import Analytics

__all__ = [
    "Client",
    "alias",
    "allow_insecure_http",
    "debug",
    "default_client",
    "flush",
    "group",
    "gzip",
    "host",
    "identify",
    "join",
    "log_handler",
    "max_queue_size",
    "max_retries",
    "oauth_auth_server",
    "oauth_client_id",
    "oauth_client_key",
    "oauth_key_id",
    "oauth_scope",
    "on_error",
    "page",
    "screen",
    "send",
    "shutdown",
    "shutdown_timeout",
    "sync_mode",
    "timeout",
    "track",
    "write_key",
]

logger = logging.getLogger("aioanalytics")

Result = tuple[bool, dict[str, Any]]
"""``(success, message)``: whether the message was queued, and the message as sent."""
ErrorHook = Callable[[Exception, list[dict[str, Any]]], object]
_Kind = type[Identify] | type[Track] | type[Page] | type[Screen] | type[Group] | type[Alias]

# -- settings, read when default_client is created (segment-analytics-python's defaults) --------

write_key: str | None = None
"""The source's write key. Required before the first call."""
host: str | None = None
"""Base URL of the API; ``None`` means Segment's (``https://api.segment.io``)."""
on_error: ErrorHook | None = None
"""Called as ``on_error(error, messages)`` when messages could not be delivered."""
debug: bool = False
"""Log at DEBUG level (to stderr unless ``log_handler`` is set)."""
log_handler: logging.Handler | None = None
"""A ``logging.Handler`` to add to the ``aioanalytics`` logger."""
send: bool = True
"""``False`` validates and drops every message: nothing is sent."""
sync_mode: bool = False
"""Send each message before the call returns (and raise if it fails)."""
max_queue_size: int = 10_000
"""Messages held before calls start failing with ``(False, message)``."""
gzip: bool = False
"""Compress request bodies."""
timeout: float = 15
"""Seconds to wait for each HTTP request."""
max_retries: int = 10
"""Retries per batch on network errors, 5xx and 429."""
oauth_client_id: str | None = None
"""OAuth is not supported: setting it raises :class:`~aioanalytics.ConfigError`."""
oauth_client_key: str | None = None
"""OAuth is not supported: setting it raises :class:`~aioanalytics.ConfigError`."""
oauth_key_id: str | None = None
"""OAuth is not supported: setting it raises :class:`~aioanalytics.ConfigError`."""
oauth_auth_server: str = "https://oauth2.segment.io"
"""Accepted for compatibility; not used."""
oauth_scope: str = "tracking_api:write"
"""Accepted for compatibility; not used."""

allow_insecure_http: bool = False
"""aioanalytics only: allow a plain ``http://`` ``host`` that is not loopback (by default
refused, since the write key would travel unencrypted)."""
shutdown_timeout: float = 30
"""aioanalytics only: at exit (or ``join()``), how long to wait in all for the last deliveries
before failing what is left."""

default_client: Client | None = None
"""The client the module-level calls use, created by the first of them."""
_default_lock = threading.Lock()

# segment-analytics-python's own defaults for the two backoff bounds (consumer.py).
_MAX_TOTAL_BACKOFF = 300
_MAX_RATE_LIMIT = 43200


class Client:
    """segment-analytics-python's ``Client``, with the same arguments, on aioanalytics.

    ``thread`` becomes ``max_concurrent_requests``, ``upload_size`` ``flush_at`` and
    ``upload_interval`` ``flush_interval``. ``max_total_backoff_duration`` and
    ``max_rate_limit_duration`` are accepted and not used: retries are bounded by
    ``max_retries`` and a capped exponential backoff, and ``Retry-After`` is honoured.
    ``proxies`` and the ``oauth_*`` options are not supported and raise
    :class:`~aioanalytics.ConfigError` when set.

    Each call validates its arguments, queues the message and returns ``(True, message)``,
    or ``(False, message)`` when the queue is full. Invalid arguments raise
    ``pydantic.ValidationError`` (a ``ValueError``) where segment-analytics-python raised
    ``AssertionError``.
    """

    def __init__(
        self,
        write_key: str | None = None,
        host: str | None = None,
        debug: bool = False,
        max_queue_size: int = 10_000,
        send: bool = True,
        on_error: ErrorHook | None = None,
        gzip: bool = False,
        max_retries: int = 10,
        sync_mode: bool = False,
        timeout: float = 15,
        proxies: Mapping[str, str] | None = None,
        thread: int = 1,
        upload_size: int = 100,
        upload_interval: float = 0.5,
        log_handler: logging.Handler | None = None,
        oauth_client_id: str | None = None,
        oauth_client_key: str | None = None,
        oauth_key_id: str | None = None,
        oauth_auth_server: str = "https://oauth2.segment.io",
        oauth_scope: str = "tracking_api:write",
        max_total_backoff_duration: float = _MAX_TOTAL_BACKOFF,
        max_rate_limit_duration: float = _MAX_RATE_LIMIT,
        *,
        allow_insecure_http: bool = False,
        shutdown_timeout: float = 30,
    ) -> None:
        if proxies:
            raise ConfigError(
                "proxies is not supported; use aioanalytics.sync.Analytics("
                "http_client=httpx.AsyncClient(proxy=...)) instead"
            )
        if oauth_client_id or oauth_client_key or oauth_key_id:
            raise ConfigError("OAuth is not supported; authenticate with the write key")
        if max_total_backoff_duration < 0 or max_rate_limit_duration < 0:
            raise ConfigError("backoff durations must not be negative")
        if log_handler is not None:
            logger.addHandler(log_handler)
        elif debug and not logger.handlers:
            logger.addHandler(logging.StreamHandler())
        self.sync_mode = sync_mode
        self.send = send
        options: dict[str, Any] = {}
        if host is not None:
            options["host"] = host
        self._analytics = Analytics(
            write_key,
            flush_at=1 if sync_mode else upload_size,
            flush_interval=upload_interval,
            max_queue_size=max_queue_size,
            on_full="drop",
            max_retries=max_retries,
            timeout=timeout,
            gzip=gzip,
            max_concurrent_requests=thread,
            send=send,
            debug=debug,
            on_error=on_error,
            allow_insecure_http=allow_insecure_http,
            shutdown_timeout=shutdown_timeout,
            **options,
        )

    def __repr__(self) -> str:
        return f"<aioanalytics.compat.Client {self._analytics!r}>"

    @property
    def analytics(self) -> Analytics:
        """The :class:`aioanalytics.sync.Analytics` doing the work."""
        return self._analytics

    def identify(
        self,
        user_id: Any = None,
        traits: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: datetime | None = None,
        anonymous_id: Any = None,
        integrations: Mapping[str, Any] | None = None,
        message_id: Any = None,
    ) -> Result:
        """Send an ``identify`` call."""
        return self._enqueue(
            Identify,
            _common(user_id, anonymous_id, context, timestamp, integrations, message_id),
            traits=traits,
        )

    def track(
        self,
        user_id: Any = None,
        event: str | None = None,
        properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: datetime | None = None,
        anonymous_id: Any = None,
        integrations: Mapping[str, Any] | None = None,
        message_id: Any = None,
    ) -> Result:
        """Send a ``track`` call."""
        return self._enqueue(
            Track,
            _common(user_id, anonymous_id, context, timestamp, integrations, message_id),
            event=event,
            properties=properties,
        )

    def alias(
        self,
        previous_id: Any = None,
        user_id: Any = None,
        context: Mapping[str, Any] | None = None,
        timestamp: datetime | None = None,
        integrations: Mapping[str, Any] | None = None,
        message_id: Any = None,
    ) -> Result:
        """Send an ``alias`` call."""
        return self._enqueue(
            Alias,
            _common(user_id, None, context, timestamp, integrations, message_id),
            previous_id=_id(previous_id),
        )

    def group(
        self,
        user_id: Any = None,
        group_id: Any = None,
        traits: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: datetime | None = None,
        anonymous_id: Any = None,
        integrations: Mapping[str, Any] | None = None,
        message_id: Any = None,
    ) -> Result:
        """Send a ``group`` call."""
        return self._enqueue(
            Group,
            _common(user_id, anonymous_id, context, timestamp, integrations, message_id),
            group_id=_id(group_id),
            traits=traits,
        )

    def page(
        self,
        user_id: Any = None,
        category: str | None = None,
        name: str | None = None,
        properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: datetime | None = None,
        anonymous_id: Any = None,
        integrations: Mapping[str, Any] | None = None,
        message_id: Any = None,
    ) -> Result:
        """Send a ``page`` call (note the old argument order: ``category`` before ``name``)."""
        return self._enqueue(
            Page,
            _common(user_id, anonymous_id, context, timestamp, integrations, message_id),
            category=category,
            name=name,
            properties=properties,
        )

    def screen(
        self,
        user_id: Any = None,
        category: str | None = None,
        name: str | None = None,
        properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: datetime | None = None,
        anonymous_id: Any = None,
        integrations: Mapping[str, Any] | None = None,
        message_id: Any = None,
    ) -> Result:
        """Send a ``screen`` call (``category`` before ``name``, as ``page``)."""
        return self._enqueue(
            Screen,
            _common(user_id, anonymous_id, context, timestamp, integrations, message_id),
            category=category,
            name=name,
            properties=properties,
        )

    def flush(self) -> None:
        """Block until every queued message was delivered or failed."""
        self._analytics.flush()

    def join(self) -> None:
        """Deliver what is queued, then stop the background thread."""
        self._analytics.close()

    def shutdown(self) -> None:
        """Flush and stop: :meth:`flush`, then :meth:`join`."""
        self.flush()
        self.join()

    def _enqueue(self, kind: _Kind, common: dict[str, Any], **fields: Any) -> Result:
        message = kind.model_validate(
            {**common, **{k: v for k, v in fields.items() if v is not None}}
        )
        wire = message.model_dump(mode="json", by_alias=True, exclude_none=True)
        try:
            future = self._analytics.enqueue(message)
        except QueueFull:
            logger.warning("the queue is full; message %s dropped", wire["messageId"])
            return False, wire
        if self.sync_mode and self.send:
            future.result()
        return True, wire


def _id(value: Any) -> Any:
    """segment-analytics-python accepts numbers as ids and sends them as strings."""
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return str(value)
    return value


def _common(
    user_id: Any,
    anonymous_id: Any,
    context: Mapping[str, Any] | None,
    timestamp: datetime | None,
    integrations: Mapping[str, Any] | None,
    message_id: Any,
) -> dict[str, Any]:
    fields = {
        "user_id": _id(user_id),
        "anonymous_id": _id(anonymous_id),
        "context": context,
        "timestamp": timestamp,
        "integrations": integrations,
        "message_id": None if message_id is None else str(message_id),
    }
    return {name: value for name, value in fields.items() if value is not None}


# -- the module-level calls -------------------------------------------------------------------


def _client() -> Client:
    """The default client, created from the module settings on first use."""
    global default_client
    with _default_lock:
        if default_client is None:
            default_client = Client(
                write_key,
                host=host,
                debug=debug,
                max_queue_size=max_queue_size,
                send=send,
                on_error=on_error,
                gzip=gzip,
                max_retries=max_retries,
                sync_mode=sync_mode,
                timeout=timeout,
                log_handler=log_handler,
                oauth_client_id=oauth_client_id,
                oauth_client_key=oauth_client_key,
                oauth_key_id=oauth_key_id,
                oauth_auth_server=oauth_auth_server,
                oauth_scope=oauth_scope,
                allow_insecure_http=allow_insecure_http,
                shutdown_timeout=shutdown_timeout,
            )
        return default_client


def identify(
    user_id: Any = None,
    traits: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    timestamp: datetime | None = None,
    anonymous_id: Any = None,
    integrations: Mapping[str, Any] | None = None,
    message_id: Any = None,
) -> Result:
    """Send an ``identify`` call with the default client."""
    return _client().identify(
        user_id, traits, context, timestamp, anonymous_id, integrations, message_id
    )


def track(
    user_id: Any = None,
    event: str | None = None,
    properties: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    timestamp: datetime | None = None,
    anonymous_id: Any = None,
    integrations: Mapping[str, Any] | None = None,
    message_id: Any = None,
) -> Result:
    """Send a ``track`` call with the default client."""
    return _client().track(
        user_id, event, properties, context, timestamp, anonymous_id, integrations, message_id
    )


def alias(
    previous_id: Any = None,
    user_id: Any = None,
    context: Mapping[str, Any] | None = None,
    timestamp: datetime | None = None,
    integrations: Mapping[str, Any] | None = None,
    message_id: Any = None,
) -> Result:
    """Send an ``alias`` call with the default client."""
    return _client().alias(previous_id, user_id, context, timestamp, integrations, message_id)


def group(
    user_id: Any = None,
    group_id: Any = None,
    traits: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    timestamp: datetime | None = None,
    anonymous_id: Any = None,
    integrations: Mapping[str, Any] | None = None,
    message_id: Any = None,
) -> Result:
    """Send a ``group`` call with the default client."""
    return _client().group(
        user_id, group_id, traits, context, timestamp, anonymous_id, integrations, message_id
    )


def page(
    user_id: Any = None,
    category: str | None = None,
    name: str | None = None,
    properties: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    timestamp: datetime | None = None,
    anonymous_id: Any = None,
    integrations: Mapping[str, Any] | None = None,
    message_id: Any = None,
) -> Result:
    """Send a ``page`` call with the default client."""
    return _client().page(
        user_id,
        category,
        name,
        properties,
        context,
        timestamp,
        anonymous_id,
        integrations,
        message_id,
    )


def screen(
    user_id: Any = None,
    category: str | None = None,
    name: str | None = None,
    properties: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    timestamp: datetime | None = None,
    anonymous_id: Any = None,
    integrations: Mapping[str, Any] | None = None,
    message_id: Any = None,
) -> Result:
    """Send a ``screen`` call with the default client."""
    return _client().screen(
        user_id,
        category,
        name,
        properties,
        context,
        timestamp,
        anonymous_id,
        integrations,
        message_id,
    )


def flush() -> None:
    """Block until every message queued so far was delivered or failed."""
    client = default_client
    if client is not None:
        client.flush()


def join() -> None:
    """Deliver what is queued and stop the default client (the next call starts a new one)."""
    global default_client
    with _default_lock:
        client, default_client = default_client, None
    if client is not None:
        client.join()


def shutdown() -> None:
    """Flush, then stop the default client (the next call starts a new one)."""
    global default_client
    with _default_lock:
        client, default_client = default_client, None
    if client is not None:
        client.shutdown()
