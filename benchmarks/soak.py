"""Soak: a million messages through one client, RSS sampled every second, every event-loop
step timed.

``python -m benchmarks.soak [--messages N] [--mode none|interval|fsync] [--producers P]``

The collector (:mod:`benchmarks.collector`) runs in its own process; the client and the
producers share this one, as in a web server. Producers yield to the loop every
``--yield-every`` calls, like request handlers do, so the loop stays shared.

Every callback the event loop runs is timed (``asyncio.Handle._run`` is wrapped; about
1 us each), and charged to its owner: the task's coroutine for task steps, the callback
itself otherwise. The longest step of each owner is the "loop stall" figure: nothing else
can run on the loop meanwhile (see :class:`StepClock` for CPU against wall time). The table
shows, per second: messages sent and delivered, RSS, the queue, the spool's bytes and the
longest step in that second.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._control import CollectorControl

ROOT = Path(__file__).resolve().parent.parent


class StepClock:
    """Times every event-loop callback and keeps the longest per owner.

    Each step is timed twice: in CPU time of the loop's thread (what the step itself costs:
    the figure a code change can move) and in wall time (that plus the time the thread was
    not running: preempted by the OS, or waiting for the GIL held by a worker thread).
    Garbage-collector pauses are timed apart (``gc.callbacks``) and taken out of the step
    they fell in: they are the interpreter's, charged to whichever step allocated last.
    """

    def __init__(self) -> None:
        self.longest_cpu: dict[str, float] = defaultdict(float)
        self.longest_wall: dict[str, float] = defaultdict(float)
        self.window = 0.0  # the longest step (CPU) since the last sample
        self.over_1ms = 0  # steps over 1 ms of CPU
        self.over_5ms = 0
        self.wall_over_5ms = 0
        self.steps = 0
        self.gc_total = 0.0
        self.gc_longest = 0.0
        self.gc_pauses = 0
        self._gc_start = 0.0
        self.startup: list[tuple[str, float, float]] = []
        self._original: Callable[[asyncio.Handle], None] | None = None

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            pause = time.perf_counter() - self._gc_start
            self.gc_total += pause
            self.gc_pauses += 1
            self.gc_longest = max(self.gc_longest, pause)

    def install(self) -> None:
        gc.callbacks.append(self._on_gc)
        handle_run = asyncio.events.Handle._run
        self._original = handle_run
        clock = self
        perf = time.perf_counter
        cpu = time.thread_time

        def timed(handle: asyncio.Handle) -> None:
            gc_before = clock.gc_total
            start, start_cpu = perf(), cpu()
            handle_run(handle)
            paused = clock.gc_total - gc_before
            took = cpu() - start_cpu - paused
            wall = perf() - start - paused
            clock.steps += 1
            clock.window = max(clock.window, took)
            if took > 0.001:
                clock.over_1ms += 1
                if took > 0.005:
                    clock.over_5ms += 1
            if wall > 0.005:
                clock.wall_over_5ms += 1
            owner = _owner(handle)
            clock.longest_cpu[owner] = max(clock.longest_cpu[owner], took)
            clock.longest_wall[owner] = max(clock.longest_wall[owner], wall)

        asyncio.events.Handle._run = timed  # type: ignore[method-assign,assignment]

    def uninstall(self) -> None:
        gc.callbacks.remove(self._on_gc)
        if self._original is not None:
            asyncio.events.Handle._run = self._original  # type: ignore[method-assign,assignment]

    def mark_steady(self) -> None:
        """Keep what was measured so far as the start-up figures and start afresh."""
        self.startup = sorted(
            ((o, t, self.longest_wall[o]) for o, t in self.longest_cpu.items()),
            key=lambda row: -row[1],
        )[:5]
        self.longest_cpu.clear()
        self.longest_wall.clear()
        self.over_1ms = self.over_5ms = self.wall_over_5ms = 0

    def take_window(self) -> float:
        window, self.window = self.window, 0.0
        return window


def _owner(handle: asyncio.Handle) -> str:
    callback = handle._callback  # type: ignore[attr-defined]
    task = getattr(callback, "__self__", None)
    if isinstance(task, asyncio.Task):
        coro = task.get_coro()
        return getattr(coro, "__qualname__", type(coro).__name__)
    return getattr(callback, "__qualname__", repr(callback))


def rss_mb() -> float:
    """Resident set size now, in MiB (Linux), or the peak elsewhere."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def count_segments(spool_dir: str) -> int:
    """How many segment files a spool directory holds."""
    return len(list(Path(spool_dir).glob("*.seg")))


def start_collector() -> tuple[subprocess.Popen[str], CollectorControl]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.collector", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, CollectorControl(port)


async def soak(args: argparse.Namespace, control: CollectorControl) -> dict[str, Any]:
    """One run; returns its summary."""
    from aioanalytics import Analytics

    control.reset(seed=1)
    options: dict[str, Any] = {"host": control.url, "max_queue_size": args.queue}
    spool_dir = None
    if args.mode != "none":
        spool_dir = tempfile.mkdtemp(prefix="soak-spool-", dir=args.spool_dir)
        options.update(spool=spool_dir, spool_durability=args.mode)
    clock = StepClock()
    analytics = Analytics("soak", **options)
    loop = asyncio.get_running_loop()
    total = args.messages
    sent = 0
    latencies: list[float] = []
    rows: list[tuple[float, int, int, float, int, int, float]] = []
    done = asyncio.Event()

    warm = max(1000, total // 100)

    async def produce(worker: int) -> None:
        nonlocal sent
        perf = time.perf_counter
        i = 0
        while sent < total:
            sent += 1
            i += 1
            if sent == warm:
                clock.mark_steady()
            if i % 97 == 0:
                start = perf()
                await analytics.track(
                    user_id=f"user-{i % 1000}",
                    event="Soak Event",
                    properties={"worker": worker, "i": i, "plan": "pro", "price": 9.99},
                )
                latencies.append(perf() - start)
            else:
                await analytics.track(
                    user_id=f"user-{i % 1000}",
                    event="Soak Event",
                    properties={"worker": worker, "i": i, "plan": "pro", "price": 9.99},
                )
            if i % args.yield_every == 0:
                await asyncio.sleep(0)

    async def sample(start: float) -> None:
        while not done.is_set():
            try:
                async with asyncio.timeout(1.0):
                    await done.wait()
            except TimeoutError:
                pass
            spool = analytics._spool.spool.used_bytes if analytics._spool is not None else 0
            rows.append(
                (
                    loop.time() - start,
                    sent,
                    analytics.stats.delivered,
                    rss_mb(),
                    analytics._intake.qsize(),
                    spool,
                    clock.take_window(),
                )
            )
            row = rows[-1]
            print(
                f"{row[0]:7.1f} {row[1]:>10,} {row[2]:>10,} {row[3]:8.1f} {row[4]:>7,} "
                f"{row[5] / 1024:>9,.0f} {row[6] * 1e3:17.2f}",
                flush=True,
            )

    print(f"\nmode={args.mode} messages={total:,} producers={args.producers}")
    print(
        f"{'t (s)':>7} {'sent':>10} {'delivered':>10} {'RSS MiB':>8} {'queue':>7} "
        f"{'spool KiB':>9} {'max step ms (CPU)':>17}"
    )
    clock.install()
    cpu_start = cpu_seconds()
    start = loop.time()
    try:
        # Opened in a task of its own, so that its steps are timed and charged to it.
        await asyncio.ensure_future(analytics.open())
        opening = dict(clock.longest_cpu), dict(clock.longest_wall)
        clock.longest_cpu.clear()
        clock.longest_wall.clear()
        try:
            sampler = asyncio.ensure_future(sample(start))
            await asyncio.gather(*(produce(w) for w in range(args.producers)))
            produced = loop.time() - start
            await analytics.flush()
        finally:
            await analytics.aclose()
        elapsed = loop.time() - start
        done.set()
        await sampler
    finally:
        clock.uninstall()
    cpu = cpu_seconds() - cpu_start
    stats = control.stats()
    rss = [r[3] for r in rows]
    settled = [r for r in rows if r[1] >= total * 0.1] or rows
    latencies.sort()
    summary = {
        "mode": args.mode,
        "messages": sent,
        "delivered": analytics.stats.delivered,
        "collector_unique": stats["unique"],
        "seconds": elapsed,
        "send_seconds": produced,
        "rate": sent / elapsed,
        "cpu_us_per_message": cpu / sent * 1e6,
        "rss_start": rss[0] if rss else 0.0,
        "rss_after_10pct": settled[0][3],
        "rss_peak": max(rss, default=0.0),
        "rss_end": rss[-1] if rss else 0.0,
        "call_p50_us": statistics.median(latencies) * 1e6 if latencies else 0.0,
        "call_p99_us": latencies[int(len(latencies) * 0.99)] * 1e6 if latencies else 0.0,
        "steps": clock.steps,
        "steps_over_1ms": clock.over_1ms,
        "steps_over_5ms": clock.over_5ms,
        "steps_wall_over_5ms": clock.wall_over_5ms,
        "gc_pauses": clock.gc_pauses,
        "gc_longest_ms": clock.gc_longest * 1e3,
        "gc_total_s": clock.gc_total,
        "startup": clock.startup,
        "open_ms": (max(opening[0].values(), default=0.0) * 1e3, max(opening[1].values()) * 1e3),
        "stall_max_ms": (
            max(max(clock.longest_cpu.values()), max(t for _, t, _ in clock.startup)) * 1e3,
            max(max(clock.longest_wall.values()), max(w for _, _, w in clock.startup)) * 1e3,
        ),
        "longest": sorted(
            ((owner, took, clock.longest_wall[owner]) for owner, took in clock.longest_cpu.items()),
            key=lambda row: -row[1],
        )[:10],
    }
    print(
        f"\n{summary['messages']:,} sent, {summary['delivered']:,} delivered, "
        f"{summary['collector_unique']:,} unique at the collector, in {elapsed:.1f} s "
        f"({summary['rate']:,.0f}/s, {summary['cpu_us_per_message']:.1f} us CPU per message)"
    )
    print(
        f"RSS MiB: start {summary['rss_start']:.1f}, after 10% {summary['rss_after_10pct']:.1f}, "
        f"peak {summary['rss_peak']:.1f}, end {summary['rss_end']:.1f}"
    )
    print(
        f"call latency (every 97th): p50 {summary['call_p50_us']:.1f} us, "
        f"p99 {summary['call_p99_us']:.1f} us"
    )
    print(
        f"loop steps: {clock.steps:,}; CPU over 1 ms: {clock.over_1ms}, over 5 ms: "
        f"{clock.over_5ms}; wall over 5 ms: {clock.wall_over_5ms}"
    )
    print(
        f"GC: {clock.gc_pauses:,} pauses, longest {clock.gc_longest * 1e3:.1f} ms, "
        f"{clock.gc_total:.2f} s in all (not counted in the steps)"
    )
    print(
        "longest step from the first call on: {:.2f} ms CPU, {:.2f} ms wall; opening the client "
        "(before it): {:.2f} ms CPU, {:.2f} ms wall".format(
            *summary["stall_max_ms"], *summary["open_ms"]
        )
    )
    print(f"start-up (first {warm:,} messages), longest steps, ms:   CPU     wall")
    for owner, took, wall in clock.startup:
        print(f"  {took * 1e3:8.2f} {wall * 1e3:8.2f}  {owner}")
    print("steady state, longest step per owner, ms:   CPU     wall")
    for owner, took, wall in summary["longest"]:
        print(f"  {took * 1e3:8.2f} {wall * 1e3:8.2f}  {owner}")
    if spool_dir is not None:
        print(f"spool segments left: {count_segments(spool_dir)}")
        shutil.rmtree(spool_dir)
    return summary


def main(argv: list[str] | None = None) -> None:
    """Run the soak for each ``--mode`` given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--mode", action="append", choices=["none", "interval", "fsync"])
    parser.add_argument("--producers", type=int, default=32)
    parser.add_argument("--yield-every", type=int, default=10)
    parser.add_argument("--queue", type=int, default=10_000)
    parser.add_argument("--spool-dir", default=None, help="where spools go (default: ./)")
    args = parser.parse_args(argv)
    modes = args.mode or ["none"]
    if len(modes) > 1:  # one process per mode, so each RSS figure is that mode's own
        rest = [
            f"--messages={args.messages}",
            f"--producers={args.producers}",
            f"--yield-every={args.yield_every}",
            f"--queue={args.queue}",
            *([f"--spool-dir={args.spool_dir}"] if args.spool_dir else []),
        ]
        for mode in modes:
            subprocess.run(
                [sys.executable, "-m", "benchmarks.soak", "--mode", mode, *rest], check=True
            )
        return
    print(f"# {platform.platform()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    proc, control = start_collector()
    try:
        args.mode = modes[0]
        args.spool_dir = args.spool_dir or str(Path.cwd())
        asyncio.run(soak(args, control))
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
