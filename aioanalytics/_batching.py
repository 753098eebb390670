"""The batching core: a sans-I/O state machine from encoded records to ready batches.

Rules (all of them live here):

1. A batch closes when it holds ``limits.max_items`` records, or when the next record would
   take the request body past ``limits.max_bytes``. The body size is exact: envelope bytes
   plus each record plus one separator between records.
2. A batch also closes ``limits.interval`` seconds after its first record arrived
   (:attr:`Batcher.deadline`, :meth:`Batcher.poll`).
3. A record larger than ``limits.max_message_bytes`` is never accepted (the caller checks with
   :meth:`Batcher.fits` before adding, to fail that one message at its call site).

The core knows no clock and no I/O: time is a number passed in, and batches are lists of
whatever items the caller attached to the records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

from ._config import BatchLimits

__all__ = ["Batcher", "split"]

T = TypeVar("T")


class Batcher(Generic[T]):
    """Groups items (each with its encoded size) into batches by count, bytes and time.

    >>> b: Batcher[str] = Batcher(BatchLimits(max_items=2, max_bytes=100), envelope_bytes=20)
    >>> b.add("a", 10, now=0.0)
    ()
    >>> b.add("b", 10, now=0.1)
    [['a', 'b']]
    """

    __slots__ = (
        "_bytes",
        "_envelope",
        "_interval",
        "_items",
        "_max_bytes",
        "_max_items",
        "deadline",
        "limits",
    )

    def __init__(self, limits: BatchLimits, *, envelope_bytes: int) -> None:
        self.limits = limits
        self._max_items = limits.max_items
        self._max_bytes = limits.max_bytes
        self._interval = limits.interval
        self._envelope = envelope_bytes
        self._items: list[T] = []
        self._bytes = envelope_bytes
        #: When the current batch is due by the timer, or ``None`` when empty.
        self.deadline: float | None = None

    def __len__(self) -> int:
        return len(self._items)

    @property
    def max_record(self) -> int:
        """The largest record that can ever be sent, in bytes."""
        return min(self.limits.max_message_bytes, self._max_bytes - self._envelope)

    def fits(self, size: int) -> bool:
        """Whether a record of ``size`` bytes can ever be sent."""
        return size <= self.max_record

    def add(self, item: T, size: int, *, now: float) -> Sequence[list[T]]:
        """Add one record; return the batches that closed because of it (zero, one or two)."""
        items = self._items
        if not items:
            self.deadline = now + self._interval
            self._bytes += size
        else:
            total = self._bytes + 1 + size
            if total > self._max_bytes:
                closed = self._take()
                return [closed, *self.add(item, size, now=now)]
            self._bytes = total
        items.append(item)
        if len(items) >= self._max_items:
            return [self._take()]
        return ()

    def poll(self, *, now: float) -> list[list[T]]:
        """Return the current batch if its deadline has passed."""
        if self.deadline is not None and now >= self.deadline:
            return [self._take()]
        return []

    def drain(self) -> list[list[T]]:
        """Return whatever is pending (flush and shutdown)."""
        return [self._take()] if self._items else []

    def _take(self) -> list[T]:
        items = self._items
        self._items = []
        self._bytes = self._envelope
        self.deadline = None
        return items


def split(items: list[T]) -> tuple[list[T], list[T]]:
    """Halve a batch (413 and 400 handling): the first half gets the odd item."""
    middle = (len(items) + 1) // 2
    return items[:middle], items[middle:]
