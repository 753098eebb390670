"""A drop-in for segment-analytics-python's module-level API, running on aioanalytics.

Change one import and keep the rest of the program::

    import aioanalytics.compat as analytics     # was: import segment.analytics as analytics

    analytics.write_key = "WRITE_KEY"
    analytics.track("user-1", "Signed Up", {"plan": "pro"})
    analytics.flush()

The settings (``write_key``, ``host``, ``on_error``, ``debug``, ``send``, ``sync_mode``,
``max_queue_size``, ``gzip``, ``timeout``, ``max_retries``, ``log_handler`` and the
``oauth_*`` options, plus aioanalytics's ``allow_insecure_http`` and ``shutdown_timeout``)
are module attributes, read when the first call (``flush()`` included) creates
:data:`default_client`, exactly as in segment-analytics-python 2.x; their defaults are the
same. The calls keep their positional order and return ``(success, message)`` with the
message as segment-analytics-python returned it. :class:`Client` takes the old
constructor's arguments and exposes them as attributes. Underneath is
:class:`aioanalytics.sync.Analytics`: batching, retries, gzip and the exit-time flush are
aioanalytics's. The migration guide maps every option and call, and lists every difference.

This module holds a module-level client and settings because the API it mirrors does; new
code should create an :class:`aioanalytics.sync.Analytics` (or the async client) instead.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import json
import logging
import numbers
import os
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar

from . import (
    Alias,
    ConfigError,
    DeliveryError,
    Group,
    Identify,
    Page,
    QueueFull,
    Screen,
    Track,
)
from ._compat_transport import CompatTransport, OAuthTokens
from ._config import MAX_BATCH_ITEMS, BatchLimits
from ._retry import Decision, RetryPolicy
from ._transports.base import Response
from .destinations.segment import DEFAULT_HOST, Segment, SegmentEndpoint
from .sync import Analytics

__all__ = [
    "APIError",
    "Client",
    "QueueView",
    "RequirementError",
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
_Message = Identify | Track | Page | Screen | Group | Alias

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
"""OAuth: the client id. With the key and key id, requests carry a bearer token."""
oauth_client_key: str | None = None
"""OAuth: the PEM private key that signs the token request (RS256)."""
oauth_key_id: str | None = None
"""OAuth: the key id (the JWT's ``kid``)."""
oauth_auth_server: str = "https://oauth2.segment.io"
"""OAuth: the token server (``{oauth_auth_server}/token``)."""
oauth_scope: str = "tracking_api:write"
"""OAuth: the scope asked for."""

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


class RequirementError(ConfigError, AssertionError):
    """A required option is missing or has the wrong type (``write_key``, for one).

    Both a :class:`~aioanalytics.ConfigError` and the ``AssertionError`` that
    segment-analytics-python raised, so ``except`` clauses written for either still work.
    """


class APIError(DeliveryError):
    """A batch could not be delivered: what ``on_error`` receives, and ``sync_mode`` raises.

    A :class:`~aioanalytics.DeliveryError` with segment-analytics-python's ``APIError``
    attributes: ``status`` (the last HTTP status, ``None`` after a network failure),
    ``code`` (the response's ``code``, or ``"unknown"``) and ``message``.
    """

    def __init__(
        self,
        reason: str,
        *,
        status_code: int | None = None,
        body: str = "",
        attempts: int = 0,
        destination: str = "Segment",
    ) -> None:
        super().__init__(
            reason, status_code=status_code, body=body, attempts=attempts, destination=destination
        )
        self.status = status_code
        self.code = "unknown"
        self.message = body or reason
        try:
            payload = json.loads(body)
        except ValueError:
            return
        if isinstance(payload, dict):
            self.code = str(payload.get("code", self.code))
            self.message = str(payload.get("message", self.message))

    @classmethod
    def from_error(cls, error: DeliveryError) -> APIError:
        """The same failure, as an :class:`APIError`."""
        if isinstance(error, APIError):
            return error
        converted = cls(
            error.reason,
            status_code=error.status_code,
            body=error.body,
            attempts=error.attempts,
            destination=error.destination,
        )
        converted.__cause__ = error
        return converted


class QueueView:
    """``Client.queue``: the messages accepted and not yet delivered (or failed).

    ``maxsize`` is ``max_queue_size``: once that many are pending, calls return
    ``(False, message)`` until some are delivered, as segment-analytics-python's queue did.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._start()

    def _start(self) -> None:
        self._pid = os.getpid()
        self._accepted = 0
        self._settled = 0
        self._changed = threading.Condition()

    def _mine(self) -> threading.Condition:
        """The lock, anew in a child process: the parent's messages are the parent's."""
        if self._pid != os.getpid():
            self._start()
        return self._changed

    def __repr__(self) -> str:
        return f"<QueueView {self.qsize()}/{self.maxsize}>"

    def qsize(self) -> int:
        """How many messages are pending."""
        with self._mine():
            return self._accepted - self._settled

    def empty(self) -> bool:
        """Whether no message is pending."""
        return self.qsize() == 0

    def full(self) -> bool:
        """Whether calls are refused until some pending message settles."""
        return self.qsize() >= self.maxsize

    def _take(self) -> bool:
        with self._mine():
            if self._accepted - self._settled >= self.maxsize:
                return False
            self._accepted += 1
            return True

    def _release(self, _: object = None) -> None:
        with self._mine():
            self._settled += 1
            self._changed.notify_all()

    def _wait_settled(self) -> None:
        """Wait until every message accepted before this call has settled (their futures
        settle just after the client's flush completes, on its event loop thread)."""
        with self._mine():
            accepted = self._accepted
            self._changed.wait_for(lambda: self._settled >= accepted)


class _SegmentEndpoint(SegmentEndpoint):
    """``/v1/batch`` with segment-analytics-python's retry classes: 410 and 460 are retried
    too; 501, 505 and (without OAuth) 511 are not."""

    __slots__ = ()
    retry_511: ClassVar[bool] = False

    def decide(self, response: Response | None, *, batch_size: int) -> Decision:
        status = None if response is None else response.status_code
        if status in (410, 460) or (status == 511 and self.retry_511):
            return Decision.RETRY
        if status in (501, 505, 511):
            return Decision.REJECT
        return super().decide(response, batch_size=batch_size)


class _OAuthSegmentEndpoint(_SegmentEndpoint):
    __slots__ = ()
    retry_511 = True


class _Segment(Segment):
    """The Segment destination with :class:`_SegmentEndpoint`'s retry classes."""

    def __init__(
        self,
        write_key: str,
        *,
        host: str,
        limits: BatchLimits,
        retry: RetryPolicy,
        gzip: bool,
        oauth: bool,
        allow_insecure_http: bool,
    ) -> None:
        super().__init__(
            write_key,
            host=host,
            limits=limits,
            retry=retry,
            gzip=gzip,
            allow_insecure_http=allow_insecure_http,
        )
        kind = _OAuthSegmentEndpoint if oauth else _SegmentEndpoint
        self.endpoint = kind(self.endpoint.url, write_key, limits=limits, retry=retry)
        self.endpoints = {"batch": self.endpoint}


class Client:
    """segment-analytics-python's ``Client``, with the same arguments, on aioanalytics.

    ``thread`` becomes ``max_concurrent_requests``, ``upload_size`` ``flush_at`` and
    ``upload_interval`` ``flush_interval``. ``proxies`` takes requests-style URLs per scheme;
    the ``oauth_*`` options sign a JWT and send a bearer token instead of the write key
    (they need the ``aioanalytics[oauth]`` extra). ``max_total_backoff_duration`` and
    ``max_rate_limit_duration`` are checked and not used: retries are bounded by
    ``max_retries`` and a capped exponential backoff, and ``Retry-After`` is honoured.
    ``allow_insecure_http`` and ``shutdown_timeout`` are aioanalytics's own.

    Each call validates its arguments, queues the message and returns ``(True, message)``
    (the message as segment-analytics-python returned it), or ``(False, message)`` when
    ``max_queue_size`` messages are already waiting. After :meth:`join` or
    :meth:`shutdown` the client keeps working: its next call starts a new background thread.

    Raises:
        RequirementError: ``write_key`` is missing or not a string.
        ConfigError: another option is invalid (a ``ValueError``).
    """

    log = logger
    """The library's logger (``aioanalytics``)."""

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
        if not isinstance(write_key, str) or not write_key:
            raise RequirementError(f"write_key must be a non-empty string, got {write_key!r}")
        for name, value, minimum in (
            ("max_queue_size", max_queue_size, 1),
            ("max_retries", max_retries, 0),
            ("timeout", timeout, 0),
            ("thread", thread, 1),
            ("upload_size", upload_size, 1),
            ("upload_interval", upload_interval, 0),
            ("max_total_backoff_duration", max_total_backoff_duration, 0),
            ("max_rate_limit_duration", max_rate_limit_duration, 0),
            ("shutdown_timeout", shutdown_timeout, 0),
        ):
            _check_number(name, value, minimum)
        oauth = (oauth_client_id, oauth_client_key, oauth_key_id)
        if any(oauth) and not all(oauth):
            raise ConfigError(
                "OAuth needs oauth_client_id, oauth_client_key and oauth_key_id, all three"
            )
        if log_handler is not None:
            logger.addHandler(log_handler)
        elif debug and not logger.handlers:
            logger.addHandler(logging.StreamHandler())
        self.write_key = write_key
        self.host = host
        self.debug = debug
        self.send = send
        self.on_error = on_error
        self.gzip = gzip
        self.max_retries = max_retries
        self.sync_mode = sync_mode
        self.timeout = timeout
        self.proxies = dict(proxies) if proxies else None
        self.thread = thread
        self.upload_size = upload_size
        self.upload_interval = upload_interval
        self.oauth_client_id = oauth_client_id
        self.oauth_key_id = oauth_key_id
        self.oauth_auth_server = oauth_auth_server
        self.oauth_scope = oauth_scope
        self.max_total_backoff_duration = max_total_backoff_duration
        self.max_rate_limit_duration = max_rate_limit_duration
        self.allow_insecure_http = allow_insecure_http
        self.shutdown_timeout = shutdown_timeout
        self.queue = QueueView(max_queue_size)
        self._oauth_client_key = oauth_client_key
        self._lock = threading.Lock()
        self._analytics: Analytics | None = self._new_analytics()  # validates the options

    def __repr__(self) -> str:
        return f"<aioanalytics.compat.Client {self._analytics!r}>"

    @property
    def analytics(self) -> Analytics:
        """The :class:`aioanalytics.sync.Analytics` doing the work (a new one after
        :meth:`join`)."""
        with self._lock:
            if self._analytics is None:
                self._analytics = self._new_analytics()
            return self._analytics

    def _new_analytics(self) -> Analytics:
        oauth = None
        if self.oauth_client_id and self._oauth_client_key and self.oauth_key_id:
            oauth = OAuthTokens(
                self.oauth_client_id,
                self._oauth_client_key,
                self.oauth_key_id,
                auth_server=self.oauth_auth_server,
                scope=self.oauth_scope,
            )
        transport = None
        if oauth is not None or self.proxies:
            transport = CompatTransport(
                timeout=self.timeout,
                max_connections=self.thread,
                proxies=self.proxies,
                oauth=oauth,
            )
        flush_at = 1 if self.sync_mode else min(self.upload_size, MAX_BATCH_ITEMS)
        url = self.host or DEFAULT_HOST
        limits = BatchLimits(max_items=flush_at, interval=self.upload_interval)
        retry = RetryPolicy(max_retries=self.max_retries)
        segment = _Segment(
            self.write_key,
            host=url,
            limits=limits,
            retry=retry,
            gzip=self.gzip,
            oauth=oauth is not None,
            allow_insecure_http=self.allow_insecure_http,
        )
        return Analytics(
            None,
            host=url,
            flush_at=flush_at,
            flush_interval=self.upload_interval,
            max_queue_size=self.queue.maxsize,
            on_full="drop",
            max_retries=self.max_retries,
            timeout=self.timeout,
            gzip=self.gzip,
            max_concurrent_requests=self.thread,
            send=self.send,
            debug=self.debug,
            on_error=self._report,
            allow_insecure_http=self.allow_insecure_http,
            shutdown_timeout=self.shutdown_timeout,
            destinations=[segment],
            transport=transport,
        )

    def _report(self, error: Exception, batch: list[dict[str, Any]]) -> None:
        if self.on_error:  # as segment-analytics-python: a falsy hook is no hook
            if isinstance(error, DeliveryError):
                error = APIError.from_error(error)
            self.on_error(error, batch)

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
            {"traits": traits or {}},
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
            {"properties": properties or {}, "event": event},
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
            {"previousId": previous_id},
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
            {"groupId": group_id, "traits": traits or {}},
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
            {"properties": properties or {}, "category": category, "name": name},
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
            {"properties": properties or {}, "category": category, "name": name},
            category=category,
            name=name,
            properties=properties,
        )

    def flush(self) -> None:
        """Block until every queued message was delivered or failed."""
        with self._lock:
            analytics = self._analytics
        if analytics is not None:
            analytics.flush()
        self.queue._wait_settled()

    def join(self) -> None:
        """Deliver what is queued (waiting at most ``shutdown_timeout``), then stop the
        background thread. The client keeps working: its next call starts a new one."""
        with self._lock:
            analytics, self._analytics = self._analytics, None
        if analytics is not None:
            analytics.close()

    def shutdown(self) -> None:
        """Flush and stop: :meth:`flush`, then :meth:`join`."""
        self.flush()
        self.join()

    def _enqueue(
        self, kind: _Kind, common: dict[str, Any], returned: dict[str, Any], **fields: Any
    ) -> Result:
        message = kind.model_validate(
            {**common, **{k: v for k, v in fields.items() if v is not None}}
        )
        wire = message.model_dump(mode="json", by_alias=True, exclude_none=True)
        result = _as_returned(message, wire, common, returned)
        if not self.queue._take():
            logger.warning("the queue is full; message %s dropped", wire["messageId"])
            return False, result
        try:
            future = self.analytics.enqueue(message)
        except QueueFull:
            self.queue._release()
            logger.warning("the queue is full; message %s dropped", wire["messageId"])
            return False, result
        except BaseException:
            self.queue._release()
            raise
        future.add_done_callback(self.queue._release)
        if self.sync_mode and self.send:
            try:
                future.result()
            except DeliveryError as exc:
                raise APIError.from_error(exc) from exc
        return True, result


def _check_number(name: str, value: object, minimum: float) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value!r}")


def _as_returned(
    message: _Message, wire: dict[str, Any], common: dict[str, Any], fields: dict[str, Any]
) -> dict[str, Any]:
    """The message as segment-analytics-python returned it: every key present (``None``
    or ``{}`` when not given), ``userId`` and ``anonymousId`` as strings (``groupId`` and
    ``previousId`` as given), dates in traits and properties as given, the timestamp to the
    millisecond. What is sent is ``wire``: ids as strings, dates as ISO 8601."""
    context = _clean(dict(common.get("context") or {}))
    context["library"] = wire["context"]["library"]
    returned = {
        "integrations": _clean(dict(common.get("integrations") or {})),
        "anonymousId": common.get("anonymous_id"),
        "timestamp": message.timestamp.isoformat(timespec="milliseconds"),
        "context": context,
        "userId": common.get("user_id"),
        "type": wire["type"],
        "messageId": wire["messageId"],
    }
    for key, value in fields.items():  # groupId and previousId as given, numbers too
        returned[key] = _clean(value)
    return returned


def _clean(item: Any) -> Any:
    """segment-analytics-python's ``clean``: ``Decimal`` to float, sets and tuples to lists,
    enums to their values; dates, numbers and strings as they are."""
    if isinstance(item, Decimal):
        return float(item)
    if isinstance(item, Enum):
        return _clean(item.value)
    if isinstance(item, Mapping):
        return {key: _clean(value) for key, value in item.items()}
    if isinstance(item, list | tuple | set | frozenset):
        return [_clean(value) for value in item]
    if isinstance(item, bytes):
        return item.decode("utf-8", "replace")
    return item


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
    """Block until every message queued so far was delivered or failed (creating
    :data:`default_client` from the settings if there is none yet, as before)."""
    _client().flush()


def join() -> None:
    """Deliver what is queued and stop the default client's thread; the next call starts
    a new one."""
    _client().join()


def shutdown() -> None:
    """Flush, then stop the default client's thread; the next call starts a new one."""
    _client().shutdown()
