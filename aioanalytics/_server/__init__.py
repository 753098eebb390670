"""A local collector that speaks the Segment HTTP API, with a live debugger page.

Needs the ``server`` extra (``pip install 'aioanalytics[server]'``). ``aioanalytics serve``
runs it; the pieces are importable for tests and embedding:

- :func:`create_app`: the Starlette app (``/v1/*``, ``/api/*``, the page at ``/``).
- :class:`Store`: SQLite in WAL mode, de-duplicated on ``messageId``.
- :class:`Faults`: the fault-injection settings (fail rate and status, drop rate, latency).
- :func:`running`: serve an app from the running event loop, yielding its URL.
"""

from __future__ import annotations

from .app import MAX_BATCH_BYTES, MAX_MESSAGE_BYTES, MESSAGE_TYPES, create_app
from .faults import FAIL_STATUSES, Fault, FaultKind, Faults
from .runner import bind, run, running, url_of
from .store import AddResult, Counts, NewEvent, Store, StoredEvent
from .stream import EventHub

__all__ = [
    "FAIL_STATUSES",
    "MAX_BATCH_BYTES",
    "MAX_MESSAGE_BYTES",
    "MESSAGE_TYPES",
    "AddResult",
    "Counts",
    "EventHub",
    "Fault",
    "FaultKind",
    "Faults",
    "NewEvent",
    "Store",
    "StoredEvent",
    "bind",
    "create_app",
    "run",
    "running",
    "url_of",
]
