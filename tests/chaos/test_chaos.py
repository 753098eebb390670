"""Chaos: the client sends at a steady rate through a collector that answers 500s, 429s with
``Retry-After``, drops connections, answers slowly, and goes down completely for a while.

Every acknowledged message must be received (the unique messageIds received equal the ones
sent), every Delivery must resolve, the client's memory must stay inside its configured
bounds (queue, batches held, spool bytes: the process's RSS here would mostly measure the
recording collector, so the soak benchmark measures that instead), retries must keep coming at the capped backoff
during the outage, and the backlog must drain at full speed once the collector is back.

The short form (the default, part of every test run) has a 1.5 s outage. The long form,
``AIOANALYTICS_CHAOS=long`` (``nox -s chaos``), has the 30 s outage; set
``AIOANALYTICS_CHAOS_REPORT=path.json`` to keep its figures.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

from aioanalytics import Analytics, Delivery
from tests.collector import Action, Collector, Request

pytestmark = [pytest.mark.anyio, pytest.mark.chaos]

LONG = os.environ.get("AIOANALYTICS_CHAOS", "").lower() == "long"


@dataclass(frozen=True)
class Plan:
    """When things happen, in seconds from the start."""

    run: float  #: how long the producers send
    outage_start: float
    outage: float  #: how long the collector is down
    rate: float  #: messages per second the producers aim at

    @property
    def outage_end(self) -> float:
        return self.outage_start + self.outage


PLAN = (
    Plan(run=75.0, outage_start=10.0, outage=30.0, rate=2000)
    if LONG
    else Plan(run=3.5, outage_start=0.75, outage=1.5, rate=2000)
)
FAULTS = [
    (0.10, Action(500)),
    (0.05, Action(429, retry_after=0.1)),
    (0.03, Action(drop=True)),
    (0.02, Action(drop=True, read_body=False)),
    (0.05, Action(delay=0.2)),  # slow
    (0.01, Action(delay=2.0)),  # slower than the client's timeout: a timeout, then a retry
]
OPTIONS: dict[str, Any] = {
    "flush_at": 100,
    "flush_interval": 0.05,
    "max_queue_size": 2000,
    "max_concurrent_requests": 4,
    "max_retries": 100_000,  # an outage must not exhaust them: only the backoff is capped
    "backoff_initial": 0.05,
    "backoff_max": 0.5,
    "timeout": 1.0,
    "shutdown_timeout": 30.0,
}
SPOOL_MAX_BYTES = 1 << 20


@dataclass
class Figures:
    """What a run measured."""

    mode: str
    sent: int = 0
    received_unique: int = 0
    received_total: int = 0
    requests: int = 0
    max_queue: int = 0
    max_batches_held: int = 0
    max_spool_bytes: int = 0
    max_gap_in_outage: float = 0.0
    backlog_at_recovery: int = 0
    drain_seconds: float = 0.0
    drain_rate: float = 0.0
    steady_rate: float = 0.0
    #: Once a second: seconds, messages sent, queue length, spool bytes.
    samples: list[tuple[float, int, int, int]] = field(default_factory=list)


async def run(collector: Collector, mode: str, spool: Path | None) -> Figures:
    plan = PLAN
    figures = Figures(mode)
    down = threading.Event()
    alternate = itertools.count()

    def during_outage(request: Request) -> Action | None:
        if not down.is_set():
            return None
        return Action(503) if next(alternate) % 2 else Action(drop=True)

    collector.set_faults(FAULTS, seed=11)
    collector.set_hook(during_outage)
    options = dict(OPTIONS)
    if spool is not None:
        options.update(spool=spool, spool_durability=mode, spool_max_bytes=SPOOL_MAX_BYTES)
    analytics = Analytics("chaos", host=collector.url, **options)
    deliveries: list[Delivery] = []
    loop = asyncio.get_running_loop()
    start = loop.time()
    stop = asyncio.Event()

    async def produce(worker: int, producers: int) -> None:
        interval = producers / plan.rate
        for i in itertools.count():
            now = loop.time() - start
            if now >= plan.run:
                return
            delivery = await analytics.track(
                user_id=f"u{i % 100}", event="Chaos", properties={"worker": worker, "i": i}
            )
            deliveries.append(delivery)
            await asyncio.sleep(max(0.0, interval - (loop.time() - start - now)))

    async def monitor() -> None:
        pools = {id(lane.flow): lane.flow for lane in analytics._lanes.values()}
        last = 0.0
        while not stop.is_set():
            queue = analytics._intake.qsize()
            held = max(p.batches for p in pools.values() if p is not None)
            used = analytics._spool.spool.used_bytes if analytics._spool is not None else 0
            figures.max_queue = max(figures.max_queue, queue)
            figures.max_batches_held = max(figures.max_batches_held, held)
            figures.max_spool_bytes = max(figures.max_spool_bytes, used)
            now = loop.time() - start
            if now - last >= 1.0:
                last = now
                figures.samples.append((round(now, 1), len(deliveries), queue, used))
            await asyncio.sleep(0.01)

    async def outage() -> None:
        await asyncio.sleep(plan.outage_start)
        down.set()
        await asyncio.sleep(plan.outage)
        down.clear()
        recovered = loop.time()
        pending = [d for d in deliveries if not d.done()]
        figures.backlog_at_recovery = len(pending)
        await asyncio.gather(*pending)
        figures.drain_seconds = loop.time() - recovered
        figures.drain_rate = len(pending) / max(figures.drain_seconds, 1e-9)

    async with analytics:
        monitor_task = asyncio.ensure_future(monitor())
        outage_task = asyncio.ensure_future(outage())
        producers = 8
        before = loop.time()
        await asyncio.gather(*(produce(w, producers) for w in range(producers)))
        with anyio.fail_after(60 + plan.outage):
            await outage_task
            # flush() rather than gathering every Delivery: a gather of 80,000 awaitables
            # holds the loop for a second or more, long enough to time out requests whose
            # answers are already in (and to resend them).
            await analytics.flush()
        figures.steady_rate = len(deliveries) / (loop.time() - before)
        stop.set()
        await monitor_task
    assert all(d.done() for d in deliveries), "a Delivery did not resolve"
    failures = [e for d in deliveries if (e := d.exception()) is not None]
    assert failures == [], f"{len(failures)} deliveries failed, first: {failures[0]!r}"

    sent = {d.message_id for d in deliveries}
    figures.sent = len(sent)
    figures.received_unique = len(collector.accepted_ids)
    figures.received_total = len(collector.message_ids)
    requests = collector.requests
    figures.requests = len(requests)
    arrivals = sorted(
        r.arrived - start
        for r in requests
        if plan.outage_start + OPTIONS["backoff_max"] < r.arrived - start < plan.outage_end
    )
    figures.max_gap_in_outage = max((b - a for a, b in itertools.pairwise(arrivals)), default=0.0)

    # Every acknowledged message was received, and nothing else was.
    assert collector.accepted_ids == sent
    # A repeat after a 2xx would be a bug: repeats come only from lost answers.
    assert collector.unexpected_duplicates() == set()
    # Memory stays inside the configured bounds.
    assert figures.max_queue <= OPTIONS["max_queue_size"]
    assert figures.max_batches_held <= OPTIONS["max_concurrent_requests"] * 4
    assert figures.max_spool_bytes <= SPOOL_MAX_BYTES
    # During the outage retries keep coming: the backoff is capped.
    assert arrivals, "no request during the outage"
    assert figures.max_gap_in_outage <= OPTIONS["backoff_max"] + 0.5
    # Once back, the backlog drains at full speed: within one capped backoff and a second
    # or two of sending, far faster than it built up.
    assert figures.backlog_at_recovery > 0
    assert figures.drain_seconds <= OPTIONS["backoff_max"] + (10.0 if LONG else 3.0)
    report = os.environ.get("AIOANALYTICS_CHAOS_REPORT")
    if report:
        save(Path(report), figures)
    return figures


def save(path: Path, figures: Figures) -> None:
    """Add a run's figures to the JSON report at ``path``."""
    previous = json.loads(path.read_text()) if path.exists() else {}
    previous[figures.mode] = {**asdict(figures), "plan": asdict(PLAN)}
    path.write_text(json.dumps(previous, indent=2))


@pytest.mark.parametrize("mode", ["memory", "interval", "fsync"])
async def test_chaos(collector: Collector, tmp_path: Path, mode: str) -> None:
    """Under faults and an outage nothing acknowledged is lost, every Delivery resolves and
    memory stays bounded; with or without a spool."""
    spool = None if mode == "memory" else tmp_path / "spool"
    figures = await run(collector, mode, spool)
    print(json.dumps({k: v for k, v in asdict(figures).items() if k != "samples"}))  # noqa: T201
