"""aioanalytics: the asyncio-native SDK for the Segment analytics spec."""

from __future__ import annotations

from ._batching import Batcher
from ._client import Analytics, Delivery, DeliveryResult, Plugin, Stats
from ._config import BatchLimits
from ._exceptions import (
    AnalyticsError,
    ClientClosedError,
    ConfigError,
    DeliveryError,
    EventLoopError,
    MessageTooLargeError,
    QueueFull,
    TransportError,
)
from ._models import (
    Alias,
    Batch,
    Context,
    Group,
    Identify,
    Library,
    Message,
    Page,
    Screen,
    Track,
    parse_message,
)
from ._retry import Decision, RetryPolicy
from ._spool import SpoolError
from ._transports import AsyncTransport, HTTPTransport, MemoryTransport, Request, Response
from ._version import __version__

__all__ = [
    "Alias",
    "Analytics",
    "AnalyticsError",
    "AsyncTransport",
    "Batch",
    "BatchLimits",
    "Batcher",
    "ClientClosedError",
    "ConfigError",
    "Context",
    "Decision",
    "Delivery",
    "DeliveryError",
    "DeliveryResult",
    "EventLoopError",
    "Group",
    "HTTPTransport",
    "Identify",
    "Library",
    "MemoryTransport",
    "Message",
    "MessageTooLargeError",
    "Page",
    "Plugin",
    "QueueFull",
    "Request",
    "Response",
    "RetryPolicy",
    "Screen",
    "SpoolError",
    "Stats",
    "Track",
    "TransportError",
    "__version__",
    "parse_message",
]

for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("aioanalytics."):
        try:
            _obj.__module__ = "aioanalytics"
        except (AttributeError, TypeError):  # pragma: no cover - type aliases
            pass
del _name, _obj
