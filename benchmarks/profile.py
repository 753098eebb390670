"""Where the time goes per event in aioanalytics: a sampled tight loop, plus step timings.

``python -m benchmarks.profile [--n 50000] [--top 25]``

1. Runs ``n`` ``await analytics.track(...)`` calls and the final flush against the local
   collector under a CPU-time sampling profiler (``SIGPROF``), and prints the CPU time per
   event by area of the path (call site, flusher, sender, HTTP client, event loop) and the
   functions with the most own time. Unlike cProfile it does not inflate Python-heavy code.
2. Times the steps one event goes through in isolation, with ``timeit``: the uuid, the
   timestamp, serializing the wire dict, validating through the pydantic model (the slow
   path), the whole call with ``send=False`` (no queue) and with ``send=True``, gzip of a
   100-message batch, and one HTTP POST of it with httpx, with httpcore alone and over a
   raw asyncio stream, each per event.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import signal
import subprocess
import sys
import time
import timeit
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from benchmarks import _netguard
from benchmarks._control import CollectorControl
from benchmarks.drivers import EVENT, USER_IDS, WRITE_KEY, properties

ROOT = Path(__file__).resolve().parent.parent


def _per_call(stmt: Any, number: int) -> float:
    """Best of 5 repeats, µs per call."""
    return min(timeit.repeat(stmt, number=number, repeat=5)) / number * 1e6


async def _tight(url: str, n: int) -> tuple[float, float]:
    from aioanalytics import Analytics

    async with Analytics(WRITE_KEY, host=url) as analytics:
        track = analytics.track
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(n):
            await track(user_id=USER_IDS[i % 1000], event=EVENT, properties=properties(i))
        await analytics.flush()
        return time.perf_counter() - t0, time.process_time() - c0


class Sampler:
    """A CPU-time sampling profiler: ``SIGPROF`` every ``interval`` s of process CPU time
    records the main thread's Python stack. Cheap enough not to distort what it measures;
    CPU spent in other threads (gzip of large bodies) is charged to whatever the main
    thread was running at the time."""

    def __init__(self, interval: float = 0.0005) -> None:
        self.interval = interval
        self.stacks: dict[tuple[Any, ...], int] = {}

    def _sample(self, signum: int, frame: Any) -> None:
        codes = []
        while frame is not None:
            codes.append(frame.f_code)
            frame = frame.f_back
        key = tuple(codes)
        self.stacks[key] = self.stacks.get(key, 0) + 1

    def __enter__(self) -> Self:
        signal.signal(signal.SIGPROF, self._sample)
        signal.setitimer(signal.ITIMER_PROF, self.interval, self.interval)
        return self

    def __exit__(self, *exc_info: object) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, signal.SIG_DFL)


def _where(code: Any) -> str:
    path = code.co_filename.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
    return f"{code.co_name} ({path}:{code.co_firstlineno})"


#: Areas of the per-event path, by the innermost frame of a sample that matches.
_AREAS = (
    ("httpx/", "transport: httpx"),
    ("httpcore/", "transport: httpcore"),
    ("h11/", "transport: h11"),
    ("anyio/", "transport: anyio (under httpx)"),
    ("sniffio/", "transport: anyio (under httpx)"),
    ("aioanalytics/_transports", "transport: aioanalytics' wrapper"),
)


def _area(stack: tuple[Any, ...]) -> str:
    files = [c.co_filename for c in stack]
    names = [c.co_name for c in stack]
    for needle, area in _AREAS:
        if any(needle in f for f in files):
            return area
    if "gzip_records" in names or "gzip" in names:
        return "sender: gzip, level 1 (on the loop, GZIP_RECORDS per step)"
    if any("aioanalytics/_sender" in f or "aioanalytics/_delivery" in f for f in files):
        return "sender: request, settling deliveries, retry policy"
    if "_make_ids" in names:
        return "message ids, made in bulk ahead of the calls"
    if any("aioanalytics/_flusher" in f for f in files) and "track" not in names:
        return "flusher: queue, batcher, dispatch"
    if "track" in names and any("aioanalytics/_client" in f for f in files):
        if any("aioanalytics/_models" in f or "aioanalytics/_wire" in f for f in files):
            return "track(): validate, message id, timestamp, clean (_wire, _models)"
        return "track(): encode, Delivery, intake (_client, _flusher)"
    if any("benchmarks/" in f for f in files[:1]):
        return "benchmark loop"
    if any("asyncio/" in f for f in files[:1]):
        return "event loop (asyncio, Python part)"
    return "other"


def profile_tight(url: str, n: int, top: int) -> None:
    """Sample the tight loop and print CPU time per event by area and by function."""
    asyncio.run(_tight(url, 2_000))  # warm: lazy imports, connections, code paths
    asyncio.run(_tight(url, n))  # a run without the sampler, for the CPU per event
    wall, cpu = asyncio.run(_tight(url, n))
    with Sampler() as sampler:
        # The kernel delivers SIGPROF at its tick (often 4 ms): repeat for enough samples.
        for _ in range(5):
            asyncio.run(_tight(url, n))
    per_event = cpu / n * 1e6
    total = sum(sampler.stacks.values())
    print(
        f"\n{n:,} events, tight loop: {wall / n * 1e6:.1f} µs wall and {per_event:.1f} µs CPU "
        f"per event; {total:,} CPU-time samples\n"
    )
    by_area: dict[str, int] = {}
    own: dict[str, int] = {}
    for stack, count in sampler.stacks.items():
        area = _area(stack)
        by_area[area] = by_area.get(area, 0) + count
        leaf = _where(stack[0])
        own[leaf] = own.get(leaf, 0) + count
    print(f"{'µs/event':>9} {'share':>6}  area")
    for area, count in sorted(by_area.items(), key=lambda kv: -kv[1]):
        print(f"{count / total * per_event:9.2f} {count / total:6.1%}  {area}")
    print(f"\n{'µs/event':>9} {'share':>6}  own time (innermost Python function, C calls in it)")
    for leaf, count in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{count / total * per_event:9.2f} {count / total:6.1%}  {leaf}")


async def _steps(url: str) -> None:
    from pydantic_core import to_json

    from aioanalytics import Analytics, Track

    number = 20_000
    rows: list[tuple[str, float]] = []
    rows.append(("str(uuid.uuid4())", _per_call(lambda: str(uuid.uuid4()), number)))
    rows.append(
        (
            "timestamp: datetime.now(UTC).isoformat(ms)",
            _per_call(lambda: datetime.now(UTC).isoformat(timespec="milliseconds"), number),
        )
    )
    wire = {
        "type": "track",
        "messageId": str(uuid.uuid4()),
        "timestamp": "2024-03-15T11:59:30.123Z",
        "userId": "user-0001",
        "event": EVENT,
        "properties": properties(1),
        "context": {"library": {"name": "aioanalytics", "version": "0"}},
    }
    rows.append(("pydantic_core.to_json(wire dict)", _per_call(lambda: to_json(wire), number)))
    rows.append(("json.dumps(wire dict) (stdlib)", _per_call(lambda: json.dumps(wire), number)))
    rows.append(
        (
            "Track(...) model validation (slow path)",
            _per_call(
                lambda: Track(user_id="user-0001", event=EVENT, properties=properties(1)), number
            ),
        )
    )
    rows.append(("properties(i) dict (harness)", _per_call(lambda: properties(1), number)))

    async def calls(analytics: Analytics, k: int) -> float:
        track = analytics.track
        t = time.perf_counter()
        for i in range(k):
            await track(user_id=USER_IDS[i % 1000], event=EVENT, properties=properties(i))
        return (time.perf_counter() - t) / k * 1e6

    async with Analytics(WRITE_KEY, host=url, send=False) as analytics:
        await calls(analytics, 2_000)
        rows.append(
            (
                "await track(), send=False (no queue)",
                min([await calls(analytics, 5_000) for _ in range(5)]),
            )
        )
    async with Analytics(WRITE_KEY, host=url, max_queue_size=100_000) as analytics:
        # The queue has room for all of them: the call site alone, no backpressure waits.
        rows.append(("await track(), send=True (call site)", await calls(analytics, 20_000)))
        await analytics.flush()

    batch = [to_json({**wire, "messageId": str(uuid.uuid4())}) for _ in range(100)]
    body = b'{"batch":[' + b",".join(batch) + b'],"sentAt":"2024-03-15T11:59:30.123Z"}'
    rows.append(
        (
            f"gzip level 1 of a 100-message body ({len(body):,} B), per event",
            _per_call(lambda: gzip.compress(body, compresslevel=1), 200) / 100,
        )
    )
    import httpcore
    import httpx

    compressed = gzip.compress(body, compresslevel=1)
    headers = {
        "Content-Encoding": "gzip",
        "Content-Type": "application/json",
        "Authorization": "Basic eDo=",
    }
    target = url + "/v1/batch"

    async def cpu_per_post(post: Any, k: int = 300) -> float:
        await post()
        c0 = time.process_time()
        for _ in range(k):
            await post()
        return (time.process_time() - c0) / k / 100 * 1e6

    async with httpx.AsyncClient(trust_env=False) as client:
        rows.append(
            (
                "POST of that batch with httpx.AsyncClient (CPU), per event",
                await cpu_per_post(
                    lambda: client.post(target, content=compressed, headers=headers)
                ),
            )
        )
    async with httpcore.AsyncConnectionPool() as pool:
        rows.append(
            (
                "  the same with httpcore alone, per event",
                await cpu_per_post(
                    lambda: pool.request(
                        "POST", target, content=compressed, headers=list(headers.items())
                    )
                ),
            )
        )
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (
        f"POST /v1/batch HTTP/1.1\r\nHost: {host}\r\n{head}"
        f"Content-Length: {len(compressed)}\r\n\r\n"
    ).encode() + compressed

    async def raw_post() -> None:
        writer.write(request)
        response_head = await reader.readuntil(b"\r\n\r\n")
        length = response_head.lower().split(b"content-length:")[1].split(b"\r\n")[0]
        await reader.readexactly(int(length))

    rows.append(
        (
            "  the same over a raw asyncio stream (keep-alive), per event",
            await cpu_per_post(raw_post),
        )
    )
    writer.close()
    print("\nSteps in isolation (µs per event, best of 5):")
    for label, value in rows:
        print(f"  {label:<58} {value:7.2f}")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description="profile aioanalytics' per-event path")
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    env = _netguard.clean_environ(dict(os.environ))
    _netguard.install()
    collector = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.collector", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert collector.stdout is not None
        control = CollectorControl(int(collector.stdout.readline()))
        control.reset()
        profile_tight(control.url, args.n, args.top)
        stats = control.stats()
        print(
            f"\ncollector: {stats['unique']:,} unique of {stats['messages']:,} received "
            f"in {stats['requests']:,} requests"
        )
        asyncio.run(_steps(control.url))
    finally:
        collector.terminate()
        collector.wait(10)


if __name__ == "__main__":
    main()
