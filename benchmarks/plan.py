"""What a tracking plan costs per ``track()`` call: the same tight loop without a plan, with
a plan the events keep to, and with the generated typed function.

``python -m benchmarks.plan [--n 20000] [--runs 7]``

Each configuration sends ``n`` "Order Completed" events (the properties of the main
benchmark, :func:`benchmarks.drivers.properties`) into a client whose queue has room for all
of them, over :class:`~aioanalytics.MemoryTransport`, so the time measured is the call
itself: validation, the plan check, encoding and queueing, no network. The configurations
take turns within each run, so that drift on a busy machine spreads over all of them; the
table gives the median per call and its ratio to the call without a plan, which is the
figure to quote (absolute times depend on the machine and on what else it runs).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pydantic

from aioanalytics import Analytics, MemoryTransport, __version__
from aioanalytics.plan import generate_module, parse_plan
from benchmarks.drivers import EVENT, USER_IDS, properties

#: The event of the main benchmark, as a plan has it.
PLAN: dict[str, Any] = {
    "events": {
        EVENT: {
            "properties": {
                "order_id": {"type": "integer", "required": True},
                "revenue": {"type": "number", "minimum": 0, "required": True},
                "currency": {"type": "string", "enum": ["USD", "EUR", "GBP"]},
                "plan": {"type": "string", "enum": ["free", "pro"]},
            }
        },
        **{f"Other Event {i}": {} for i in range(50)},  # a plan of realistic size
    }
}

Call = Callable[[Analytics, int], Awaitable[object]]


def _generated() -> ModuleType:
    folder = Path(tempfile.mkdtemp(prefix="aioanalytics-plan-bench-"))
    path = folder / "bench_events.py"
    path.write_text(generate_module(parse_plan(PLAN)))
    spec = importlib.util.spec_from_file_location("bench_events", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_events"] = module
    spec.loader.exec_module(module)
    return module


def _configurations() -> dict[str, tuple[dict[str, Any], Call]]:
    events = _generated()

    async def untyped(analytics: Analytics, i: int) -> object:
        return await analytics.track(
            user_id=USER_IDS[i % 1000], event=EVENT, properties=properties(i)
        )

    async def typed(analytics: Analytics, i: int) -> object:
        return await events.track_order_completed(  # type: ignore[no-any-return]
            analytics,
            user_id=USER_IDS[i % 1000],
            order_id=i,
            revenue=42.5,
            currency="USD",
            plan="pro",
        )

    plan = parse_plan(PLAN)
    return {
        "no plan": ({}, untyped),
        "tracking_plan": ({"tracking_plan": plan}, untyped),
        "generated function": ({}, typed),
    }


async def _run(options: dict[str, Any], call: Call, n: int) -> float:
    transport = MemoryTransport()
    async with Analytics(
        "bench-key",
        transport=transport,
        max_queue_size=n + 1,
        flush_at=500,
        flush_interval=60,
        **options,
    ) as analytics:
        for i in range(200):  # warm up
            await call(analytics, i)
        await analytics.flush()
        start = time.perf_counter()
        for i in range(n):
            await call(analytics, i)
        elapsed = time.perf_counter() - start
        await analytics.flush()
    assert analytics.stats.plan_violations == 0
    return elapsed / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="calls per configuration and run")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    configurations = _configurations()
    times: dict[str, list[float]] = {name: [] for name in configurations}
    for _ in range(args.runs):
        for name, (options, call) in configurations.items():
            times[name].append(asyncio.run(_run(options, call, args.n)))
    base = statistics.median(times["no plan"])
    print(
        f"aioanalytics {__version__}, pydantic {pydantic.VERSION}, Python "
        f"{platform.python_version()}, {platform.machine()}; "
        f"{args.runs} runs x {args.n:,} calls, median per call"
    )
    print(f"{'configuration':<20} {'us/call':>8} {'ratio':>6}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<20} {median * 1e6:8.2f} {median / base:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
