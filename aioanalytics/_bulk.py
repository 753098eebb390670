"""Sending many messages and accounting for every one: what ``import`` and ``demo`` share.

Theory of operation: the sender queues messages as fast as the client takes them (the
client's queue blocks when full), and hands each :class:`~aioanalytics.Delivery` with a key
(a line number, a message type) to a :class:`DeliveryWatcher`. The watcher awaits them in the
order they were queued, which is roughly the order they resolve, and reports each outcome to
a callback, so a progress bar moves as messages are *delivered*, not merely queued. A bad
line is reported with its number and reason and never stops the lines after it.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from pydantic import ValidationError

from aioanalytics import Analytics, AnalyticsError, Delivery, Message, parse_message

from ._validation import describe_error

__all__ = ["DeliveryWatcher", "ImportReport", "LineFailure", "import_lines", "watch_deliveries"]

K = TypeVar("K")

Outcome = Callable[[K, BaseException | None], None]
"""Called once per message with its key and ``None`` (delivered) or the error."""


class DeliveryWatcher(Generic[K]):
    """Awaits the deliveries it is given, in order, and reports each outcome."""

    def __init__(self, send: MemoryObjectSendStream[tuple[K, Delivery]]) -> None:
        self._send = send

    def watch(self, key: K, delivery: Delivery) -> None:
        """Report ``delivery``'s outcome under ``key`` once it resolves."""
        self._send.send_nowait((key, delivery))


async def _settle(
    receive: MemoryObjectReceiveStream[tuple[K, Delivery]], on_outcome: Outcome[K]
) -> None:
    async with receive:
        async for key, delivery in receive:
            try:
                await delivery
            except AnalyticsError as exc:
                on_outcome(key, exc)
            else:
                on_outcome(key, None)


@asynccontextmanager
async def watch_deliveries(on_outcome: Outcome[K]) -> AsyncIterator[DeliveryWatcher[K]]:
    """Yield a :class:`DeliveryWatcher`; on exit, wait until every watched delivery resolved.

    Usage::

        async with watch_deliveries(lambda key, error: ...) as watcher:
            watcher.watch(7, await analytics.track(...))
    """
    send, receive = anyio.create_memory_object_stream[tuple[K, Delivery]](math.inf)
    async with anyio.create_task_group() as tg:
        tg.start_soon(_settle, receive, on_outcome)
        async with send:
            yield DeliveryWatcher(send)


@dataclass(frozen=True, slots=True)
class LineFailure:
    """A line of an import that was not delivered, and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(slots=True)
class ImportReport:
    """What an import did: lines read, messages queued and delivered, and the failures."""

    lines: int = 0
    queued: int = 0
    delivered: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    failures: list[LineFailure] = field(default_factory=list)

    @property
    def failed(self) -> int:
        """How many lines failed, at parsing, validation or delivery."""
        return len(self.failures)


class _BadLine(Exception):
    """A line that is not a valid message; the text says why."""


def _parse_line(text: str) -> Message:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _BadLine(f"invalid JSON: {exc.msg} (column {exc.colno})") from exc
    if not isinstance(data, dict):
        raise _BadLine(f"expected a JSON object, got {type(data).__name__}")
    try:
        return parse_message(data)
    except ValidationError as exc:
        raise _BadLine(describe_error(exc, data)) from exc


async def import_lines(
    analytics: Analytics,
    lines: Iterable[str],
    *,
    on_progress: Callable[[], None] | None = None,
) -> ImportReport:
    """Send each line (a wire-format message dict with ``type``) and wait for every delivery.

    Blank lines are skipped. A line that is not JSON, not a valid message or not delivered
    is recorded in :attr:`ImportReport.failures` with its number and the reason; the other
    lines go on. Timestamps and message ids in the lines are kept, so a historical import
    keeps its dates and importing the same file twice is de-duplicated downstream.

    Args:
        analytics: An open client.
        lines: The file's lines (numbered from 1).
        on_progress: Called once per non-blank line, when its outcome is known.
    """
    report = ImportReport()
    tick = on_progress or (lambda: None)

    def settled(line: int, error: BaseException | None) -> None:
        if error is None:
            report.delivered += 1
        else:
            report.failures.append(LineFailure(line, str(error)))
        tick()

    async with watch_deliveries(settled) as watcher:
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            report.lines += 1
            try:
                message = _parse_line(text)
                delivery = await analytics.enqueue(message)
            except (_BadLine, AnalyticsError) as exc:
                report.failures.append(LineFailure(number, str(exc)))
                tick()
                continue
            report.queued += 1
            report.by_type[message.type] += 1
            watcher.watch(number, delivery)
        await analytics.flush()
    report.failures.sort(key=lambda failure: failure.line)
    return report
