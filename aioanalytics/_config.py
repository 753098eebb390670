"""Frozen configuration values: limits for batches, the retry policy, and the Segment limits.

All time values are in seconds (``float``); sizes are in bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from ._exceptions import ConfigError

__all__ = [
    "GZIP_LEVEL",
    "GZIP_RECORDS",
    "HELD_PER_REQUEST",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_ITEMS",
    "MAX_MESSAGE_BYTES",
    "SEGMENT_BATCH_BYTES",
    "SETTLE_EVERY",
    "SLICE_MESSAGES",
    "WAKE_EVERY",
    "YIELD_EVERY",
    "BatchLimits",
    "seconds",
]

#: Segment rejects a message over 32 KiB of serialized JSON (HTTP API docs; analytics-python
#: ``MAX_MSG_SIZE = 32 << 10``).
MAX_MESSAGE_BYTES = 32 * 1024
#: Segment rejects a ``/v1/batch`` request over 500 KB: the hard ceiling for ``max_batch_bytes``.
MAX_BATCH_BYTES = 500_000
#: analytics-python closes batches at 475,000 bytes, leaving room for the envelope; our byte
#: accounting is exact (envelope included), so this is simply the safe default.
SEGMENT_BATCH_BYTES = 475_000
#: Segment answers 200 but drops items past 2500 in one batch.
MAX_BATCH_ITEMS = 2500

# -- Pacing: how the background work shares the event loop. The docs cite these by name. -----

#: gzip level of request bodies: about 8x smaller than raw for analytics JSON, at ~0.8 us of
#: CPU per event.
GZIP_LEVEL = 1
#: Records compressed per step of a large batch (about 15 KB of JSON: ~0.05 ms at level 1).
GZIP_RECORDS = 50
#: A sender settles the messages of an accepted batch this many at a time (about 0.03 ms).
SETTLE_EVERY = 128
#: The flusher lets other tasks run after this many queue entries (about 0.03 ms of work).
YIELD_EVERY = 64
#: While a batch is open, the flusher is woken once this many messages wait, or fewer when
#: that many would fill the batch by count.
WAKE_EVERY = 256
#: Batches a destination holds (sending or waiting to retry) per concurrent request allowed:
#: bounds memory in an outage.
HELD_PER_REQUEST = 4
#: Queued messages sharing one outcome record (a byte each, and one object per slice).
SLICE_MESSAGES = 1024


def seconds(value: float | timedelta, name: str) -> float:
    """Accept seconds as a number or a ``timedelta``; reject negative values."""
    result = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if result < 0:
        raise ConfigError(f"{name} must not be negative, got {value!r}")
    return result


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """When a batch closes: at ``max_items`` messages, before ``max_bytes`` of request body
    (envelope included), or ``interval`` seconds after its first message.

    ``max_message_bytes`` is the largest single record accepted at all.

    >>> BatchLimits(max_items=100, max_bytes=475_000, interval=0.5)
    BatchLimits(max_items=100, max_bytes=475000, interval=0.5, max_message_bytes=32768)
    """

    max_items: int = 100
    max_bytes: int = SEGMENT_BATCH_BYTES
    interval: float = 0.5
    max_message_bytes: int = MAX_MESSAGE_BYTES

    def __post_init__(self) -> None:
        if self.max_items < 1:
            raise ConfigError(f"flush_at must be at least 1, got {self.max_items}")
        if self.max_message_bytes < 1 or self.max_bytes < self.max_message_bytes:
            raise ConfigError(
                f"max_batch_bytes ({self.max_bytes}) must hold at least one message of "
                f"{self.max_message_bytes} bytes"
            )
        if self.interval < 0:
            raise ConfigError(f"flush_interval must not be negative, got {self.interval}")
