"""One measured run of one SDK, in its own process; writes a JSON result.

``python -m benchmarks.worker --sdk aioanalytics --scenario tight --port P --out F``

Scenarios (the collector's fault mix and hold mode are set by the caller beforehand):

- ``tight``: ``n`` track calls back to back, never yielding to the loop except when the SDK
  itself suspends (backpressure), then the final flush.
- ``stream``: the same, but the producer yields to the loop (``await asyncio.sleep(0)``)
  every ``--yield-every`` calls, as request handlers do, for ``--seconds`` (at most ``n``
  calls); the stall figure comes from here. A fixed time gives every SDK the same number of
  ticker samples, however fast it goes.
- ``webapp``: ``n`` calls like ``tight``, but the producer yields to the loop after every
  call, as a web app does when its handler returns between requests; CPU per event is
  compared with ``tight``'s.
- ``paced``: ``--rate`` calls per second in 1 ms ticks; per-call latency comes from here.
- ``backlog``: the collector holds every request; ``n`` calls are queued, RSS is read, the
  collector is released, everything is flushed.

Measured in-process: per-call latency of the track call (``perf_counter_ns`` around it),
the lag of a 1 ms ticker task, CPU seconds (``getrusage(RUSAGE_SELF)``, all threads) and
wall time from the first call until the final flush returned, and peak RSS. After the
client has started (and the optional ``--warmup`` calls were delivered), the heap is
collected and frozen (``gc.freeze()``) in every run alike.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import sys
import time
from array import array
from pathlib import Path
from typing import Any

from benchmarks import _netguard

_FLUSH_TIMEOUT = 300.0


def percentiles(values: list[float] | array[int], scale: float = 1.0) -> dict[str, float]:
    """p50/p90/p99/p99.9/max/mean of ``values`` times ``scale``."""
    data = sorted(values)
    if not data:
        return {}
    n = len(data)

    def pick(q: float) -> float:
        return data[min(n - 1, int(q * n))] * scale

    return {
        "p50": pick(0.50),
        "p90": pick(0.90),
        "p99": pick(0.99),
        "p999": pick(0.999),
        "max": data[-1] * scale,
        "mean": sum(data) / n * scale,
        "count": n,
    }


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * (os.sysconf("SC_PAGE_SIZE") // 1024)


def _cpu() -> tuple[float, float]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime, ru.ru_stime


async def _ticker(lags: list[float], busy: list[float], stop: asyncio.Event) -> None:
    """Sleep 1 ms at a time; record how late each wake-up was (wall clock), and how much of
    that lateness the loop's own thread spent on the CPU (a lower bound that leaves out the
    time the machine did not run the process at all)."""
    perf = time.perf_counter
    cpu = time.thread_time
    while not stop.is_set():
        t = perf()
        c = cpu()
        await asyncio.sleep(0.001)
        lag = perf() - t - 0.001
        lags.append(lag)
        busy.append(min(lag, max(0.0, cpu() - c - 0.001)))


async def _loop_async(
    driver: Any, n: int, lat: array[int], yield_every: int, until: float = 0.0
) -> int:
    """``n`` calls (or fewer, when ``until``, a ``perf_counter`` time, passes first)."""
    call = driver.call
    clock = time.perf_counter_ns
    for i in range(n):
        t = clock()
        await call(i)
        lat[i] = clock() - t
        if yield_every and i % yield_every == yield_every - 1:
            await asyncio.sleep(0)
            if until and time.perf_counter() >= until:
                return i + 1
    return n


async def _loop_sync(
    driver: Any, n: int, lat: array[int], yield_every: int, until: float = 0.0
) -> int:
    """The same for an SDK whose call is synchronous."""
    call = driver.call
    clock = time.perf_counter_ns
    for i in range(n):
        t = clock()
        call(i)
        lat[i] = clock() - t
        if yield_every and i % yield_every == yield_every - 1:
            await asyncio.sleep(0)
            if until and time.perf_counter() >= until:
                return i + 1
    return n


async def _paced(driver: Any, n: int, lat: array[int], rate: float) -> None:
    call = driver.call
    clock = time.perf_counter_ns
    perf = time.perf_counter
    start = perf()
    i = 0
    while i < n:
        due = min(n, int((perf() - start) * rate) + 1)
        while i < due:
            t = clock()
            if driver.is_async:
                await call(i)
            else:
                call(i)
            lat[i] = clock() - t
            i += 1
        await asyncio.sleep(0.001)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run one scenario and return the measurements."""
    from benchmarks._control import CollectorControl
    from benchmarks.drivers import load

    control = CollectorControl(args.port)
    t_import = time.perf_counter()
    driver = load(args.sdk, control.url)
    await driver.start()
    startup_s = time.perf_counter() - t_import
    collector_before = None
    if args.warmup:
        # Connections open, lazy imports done, code paths warm; not counted.
        warm = array("q", bytes(8 * args.warmup))
        await (_loop_async if driver.is_async else _loop_sync)(driver, args.warmup, warm, 10)
        await driver.flush()
        collector_before = await asyncio.to_thread(control.stats)
    # Freeze the startup heap, as preloading servers do, so that a full collection of the
    # interpreter's and libraries' own objects does not land in the measurements.
    gc.collect()
    gc.freeze()
    n = args.n
    lat = array("q", bytes(8 * n))
    lags: list[float] = []
    busy: list[float] = []
    stop = asyncio.Event()
    ticker = asyncio.create_task(_ticker(lags, busy, stop))
    await asyncio.sleep(0.05)
    idle_lag: dict[str, float] = {}
    if args.idle:
        lags.clear()
        await asyncio.sleep(args.idle)
        idle_lag = percentiles(lags, 1e3)
    rss_before = _rss_kb()
    lags.clear()
    busy.clear()

    u0, s0 = _cpu()
    t0 = time.perf_counter()
    if args.scenario == "paced":
        await _paced(driver, n, lat, args.rate)
        sent = n
    else:
        loop = _loop_async if driver.is_async else _loop_sync
        yield_every = {"stream": args.yield_every, "webapp": 1}.get(args.scenario, 0)
        until = t0 + args.seconds if args.scenario == "stream" and args.seconds else 0.0
        producer = asyncio.create_task(loop(driver, n, lat, yield_every, until))
        timeout = 60.0 if args.scenario == "backlog" else None
        done, _ = await asyncio.wait({producer}, timeout=timeout)
        if not done:
            producer.cancel()
        sent = sum(1 for x in lat if x) if not done else producer.result()
    t_sent = time.perf_counter()
    u_sent, s_sent = _cpu()
    rss_queued = _rss_kb()
    maxrss_queued = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if args.scenario == "backlog":
        await asyncio.to_thread(control.release)

    flush_error = None
    try:
        await asyncio.wait_for(driver.flush(), _FLUSH_TIMEOUT)
    except TimeoutError:
        flush_error = f"flush did not finish within {_FLUSH_TIMEOUT:.0f} s"
    t_flushed = time.perf_counter()
    u1, s1 = _cpu()
    stop.set()
    await ticker
    try:
        await asyncio.wait_for(driver.close(), 60)
    except TimeoutError:
        flush_error = flush_error or "close did not finish within 60 s"
    close_s = time.perf_counter() - t_flushed

    return {
        "sdk": args.sdk,
        "version": driver.version,
        "scenario": args.scenario,
        "n": n,
        "sent": sent,
        "accepted": driver.accepted if not driver.is_async else sent,
        "startup_s": startup_s,
        "send_s": t_sent - t0,
        "e2e_s": t_flushed - t0,
        "close_s": close_s,
        "cpu_s": (u1 - u0) + (s1 - s0),
        "cpu_user_s": u1 - u0,
        "cpu_sys_s": s1 - s0,
        "cpu_send_s": (u_sent - u0) + (s_sent - s0),
        "latency_us": percentiles(lat[:sent], 1e-3),
        "lag_ms": percentiles(lags, 1e3),
        "lag_busy_ms": percentiles(busy, 1e3),
        "idle_lag_ms": idle_lag,
        "rss_before_kb": rss_before,
        "rss_queued_kb": rss_queued,
        "maxrss_queued_kb": maxrss_queued,
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "sdk_stats": driver.stats(),
        "error": flush_error,
        "python": sys.version.split()[0],
        "warmup": args.warmup,
        "collector_before": collector_before,
    }


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description="one benchmark run of one SDK")
    parser.add_argument("--sdk", required=True)
    parser.add_argument(
        "--scenario", required=True, choices=("tight", "webapp", "stream", "paced", "backlog")
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=5_000.0)
    parser.add_argument("--yield-every", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=0.0, help="stream: stop after this")
    parser.add_argument("--warmup", type=int, default=0, help="untimed calls first")
    parser.add_argument("--idle", type=float, default=0.0, help="seconds of idle ticker first")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    _netguard.install()
    result = asyncio.run(run(args))
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
