"""The aioanalytics exception hierarchy.

::

    AnalyticsError
    ├── ConfigError (ValueError)            bad option given to Analytics(...)
    ├── MessageTooLargeError (ValueError)   one message over 32 KiB once serialized
    ├── QueueFull                           on_full="drop" and the queue has no room
    ├── ClientClosedError (RuntimeError)    used before open / after close, or left over at shutdown
    ├── EventLoopError (RuntimeError)       used from an event loop other than its own
    ├── TransportError                      the network failed (connect, read, timeout)
    └── DeliveryError                       the message was rejected or retries ran out

Invalid message fields raise :class:`pydantic.ValidationError` (itself a ``ValueError``) at the
call site, naming the field; for a value inside properties, traits, context or integrations,
its path (``properties.order.items[0].raw``).
"""

from __future__ import annotations

__all__ = [
    "AnalyticsError",
    "ClientClosedError",
    "ConfigError",
    "DeliveryError",
    "EventLoopError",
    "MessageTooLargeError",
    "QueueFull",
    "TransportError",
]


class AnalyticsError(Exception):
    """Base class of every error aioanalytics raises itself."""


class ConfigError(AnalyticsError, ValueError):
    """An option given to :class:`Analytics` is invalid."""


class MessageTooLargeError(AnalyticsError, ValueError):
    """A message is larger than the per-message limit once serialized (32 KiB for Segment)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"message is {size} bytes serialized; the limit is {limit} bytes")
        self.size = size
        self.limit = limit


class QueueFull(AnalyticsError):
    """The queue is full and ``on_full="drop"`` was chosen: the message was not accepted."""


class ClientClosedError(AnalyticsError, RuntimeError):
    """The client is not open, or was closed before the message could be delivered."""


class EventLoopError(AnalyticsError, RuntimeError):
    """The client was used from an event loop (or process) other than the one it started on."""


class TransportError(AnalyticsError):
    """A network-level failure: connection refused or dropped, read or write timeout."""


class DeliveryError(AnalyticsError):
    """A message could not be delivered: the server rejected it, or retries ran out.

    ``status_code`` is the last HTTP status (``None`` when the last attempt failed on the
    network), ``body`` an excerpt of the last response body, ``attempts`` the number of HTTP
    attempts made for the message, and ``destination`` the destination that failed.
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
        detail = f"{destination}: {reason}"
        if status_code is not None:
            detail += f" (HTTP {status_code})"
        detail += f" after {attempts} attempt{'s' if attempts != 1 else ''}"
        if body:
            detail += f": {body}"
        super().__init__(detail)
        self.reason = reason
        self.status_code = status_code
        self.body = body
        self.attempts = attempts
        self.destination = destination
