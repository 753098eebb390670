"""What the request context costs per ``track()`` call: none bound, one bound.

``python -m benchmarks.request_context [--calls 5000] [--rounds 40]``

One process, one client (Segment through ``MemoryTransport``: no network), and these
variants, taking turns round by round so that drift on the machine spreads over all:

- ``unbound``: ``track(user_id=..., event=..., properties=...)`` with no request context:
  the fast path, plus the one ``ContextVar.get()`` the hook adds;
- ``bound``: the same call while a request's context is bound (ip, user agent, page,
  locale, request id, cookie ids), so each message is merged and built by the general path;
- ``bound, no ids``: ``track(event=..., properties=...)``, the ids from the cookies, as a
  handler behind the middleware calls it.

Each round times ``--calls`` calls (the queue never fills: the flush after each round is not
timed); the figure is the median over rounds, in µs per call. The cost of the hook itself,
``ContextVar.get()`` and a comparison, is timed alone for reference.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
import timeit
from typing import Any

from aioanalytics import Analytics, MemoryTransport
from benchmarks.drivers import EVENT, USER_IDS, properties

REQUEST: dict[str, Any] = {
    "ip": "203.0.113.77",
    "userAgent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "page": {
        "path": "/checkout",
        "search": "?step=2",
        "url": "https://shop.example/checkout?step=2",
        "referrer": "https://shop.example/cart",
    },
    "locale": "en-GB",
    "requestId": "3f0c9b0e6f1d4b7c9a2e8d5f1b6c7a90",
}


async def _round(analytics: Analytics, calls: int, ids: bool) -> float:
    track = analytics.track
    start = time.perf_counter()
    if ids:
        for i in range(calls):
            await track(user_id=USER_IDS[i % 1000], event=EVENT, properties=properties(i))
    else:
        for i in range(calls):
            await track(event=EVENT, properties=properties(i))
    elapsed = time.perf_counter() - start
    await analytics.flush()
    return elapsed / calls * 1e6


async def measure(calls: int, rounds: int) -> dict[str, float]:
    from aioanalytics.web import RequestContext, bind

    request = RequestContext(REQUEST, user_id="user-0001", anonymous_id="anon-0001")
    samples: dict[str, list[float]] = {"unbound": [], "bound": [], "bound, no ids": []}
    transport = MemoryTransport()
    async with Analytics("key", transport=transport, flush_at=500) as analytics:
        await _round(analytics, calls, ids=True)  # warm-up
        gc.collect()
        for _ in range(rounds):
            samples["unbound"].append(await _round(analytics, calls, ids=True))
            with bind(request):
                samples["bound"].append(await _round(analytics, calls, ids=True))
                samples["bound, no ids"].append(await _round(analytics, calls, ids=False))
            transport.requests.clear()
    return {name: statistics.median(values) for name, values in samples.items()}


def hook_cost() -> float:
    """µs per ``ContextVar.get() is not None``, the check each call makes."""
    from aioanalytics._context import current

    get = current.get
    number = 1_000_000
    best = min(timeit.repeat(lambda: get() is not None, number=number, repeat=5))
    empty = min(timeit.repeat(lambda: None, number=number, repeat=5))
    return (best - empty) / number * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="10 rounds")
    args = parser.parse_args(argv)
    rounds = 10 if args.quick else args.rounds
    results = asyncio.run(measure(args.calls, rounds))
    print(f"track() per call, median of {rounds} rounds of {args.calls} calls:")
    base = results["unbound"]
    for name, value in results.items():
        print(f"  {name:<14} {value:6.2f} µs  ({value / base:4.2f}x)")
    print(f"  the hook alone (ContextVar.get() is not None): {hook_cost() * 1000:.0f} ns")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
