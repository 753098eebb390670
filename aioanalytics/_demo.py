"""``aioanalytics demo``: a realistic burst through the SDK into the local collector.

Theory of operation: :func:`simulate` is pure. From a seed it draws a population of users
and plays each one's life the way Segment's identify best practices describe it: a few
anonymous page (or, on mobile, screen) views under an ``anonymousId``; on sign-up an
``identify`` carrying both the new ``userId`` and the ``anonymousId``, the ``Signed Up``
track it caused, an ``alias`` from the anonymous id, and a ``group`` for their company;
then browsing, shopping (``Order Completed`` with ``revenue``) and the odd trait update.
The users' lives are interleaved on one clock that ends now, so timestamps look like the
last hour of a real site.

:func:`run_demo` starts the collector in this event loop on a free port, sends the calls
through :class:`~aioanalytics.Analytics` and reads the counts back from the collector's
database: every message sent must be stored once.
"""

from __future__ import annotations

import heapq
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aioanalytics import Analytics

from ._bulk import watch_deliveries
from ._server import Faults, Store, create_app, running

__all__ = ["DemoCall", "DemoResult", "run_demo", "simulate"]

_TYPES = ("identify", "track", "page", "screen", "group", "alias")

_FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Ken",
    "Margaret",
    "Linus",
    "Radia",
    "Donald",
    "Frances",
    "John",
    "Katherine",
    "Guido",
    "Hedy",
    "Tim",
    "Anita",
    "Dennis",
]
_LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Hamilton",
         "Torvalds", "Perlman", "Knuth", "Allen", "Backus", "Johnson", "Rossum", "Lamarr",
         "Berners-Lee", "Borg", "Ritchie"]  # fmt: skip
_COMPANIES = [
    ("Acme Corp", "Manufacturing"),
    ("Globex", "Energy"),
    ("Initech", "Software"),
    ("Umbrella Health", "Healthcare"),
    ("Hooli", "Internet"),
    ("Stark Industries", "Aerospace"),
    ("Wayne Enterprises", "Conglomerate"),
    ("Soylent", "Food"),
    ("Tyrell", "Biotech"),
    ("Wonka Industries", "Confectionery"),
    ("Cyberdyne", "Robotics"),
    ("Vandelay Industries", "Import/Export"),
]
_PAGES = [
    ("Home", "/", None),
    ("Pricing", "/pricing", None),
    ("Features", "/features", None),
    ("Docs", "/docs/getting-started", "Docs"),
    ("Blog", "/blog/asyncio-analytics", "Blog"),
    ("Changelog", "/changelog", None),
]
_SCREENS = [("Welcome", "Onboarding"), ("Dashboard", None), ("Catalog", "Shop"), ("Cart", "Shop"),
            ("Settings", None), ("Order History", "Account")]  # fmt: skip
_REFERRERS = [
    "https://www.google.com/",
    "https://news.ycombinator.com/",
    "",
    "https://duckduckgo.com/",
]
_PRODUCTS = [
    ("sku-1001", "Monitor Arm", "Office", 89.0),
    ("sku-1002", "Mechanical Keyboard", "Peripherals", 149.0),
    ("sku-1003", "Noise-Cancelling Headphones", "Audio", 299.0),
    ("sku-1004", "USB-C Dock", "Peripherals", 199.0),
    ("sku-1005", "Standing Desk", "Office", 549.0),
    ("sku-1006", "Webcam", "Video", 79.0),
]
_PLANS = ["free", "starter", "pro", "enterprise"]
_MEAN_GAP = 40.0  # seconds between one user's actions, on average


@dataclass(frozen=True, slots=True)
class DemoCall:
    """One SDK call: ``await getattr(analytics, kind)(**kwargs)``."""

    kind: str
    kwargs: dict[str, Any]


@dataclass(slots=True)
class _User:
    number: int
    anonymous_id: str
    first: str
    last: str
    mobile: bool
    signs_up: bool
    company: int
    plan: str
    user_id: str | None = None
    cart: list[tuple[str, str, str, float]] = field(default_factory=list)

    @property
    def email(self) -> str:
        return f"{self.first}.{self.last}.{self.number}@example.com".lower().replace("-", "")

    def ids(self) -> dict[str, Any]:
        if self.user_id is None:
            return {"anonymous_id": self.anonymous_id}
        return {"user_id": self.user_id}


def _context(user: _User) -> dict[str, Any]:
    if user.mobile:
        return {
            "app": {"name": "Acme Shop", "version": "4.2.0", "build": "420"},
            "device": {"type": "ios", "model": "iPhone15,2"},
            "os": {"name": "iOS", "version": "17.4"},
        }
    return {
        "ip": f"203.0.113.{user.number % 250 + 1}",  # TEST-NET-3: documentation addresses
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/124.0",
    }


def _view(user: _User, rng: random.Random) -> DemoCall:
    if user.mobile:
        name, category = rng.choice(_SCREENS)
        properties: dict[str, Any] = {"name": name}
        kwargs: dict[str, Any] = {"name": name, "properties": properties}
        if category:
            kwargs["category"] = category
        return DemoCall("screen", {**user.ids(), **kwargs, "context": _context(user)})
    name, path, category = rng.choice(_PAGES)
    url = f"https://shop.example.com{path}"
    properties = {
        "url": url,
        "path": path,
        "title": f"{name} | Acme",
        "referrer": rng.choice(_REFERRERS),
    }
    kwargs = {"name": name, "properties": properties}
    if category:
        kwargs["category"] = category
    context = {**_context(user), "page": {"url": url, "path": path}}
    return DemoCall("page", {**user.ids(), **kwargs, "context": context})


def _sign_up(user: _User, rng: random.Random) -> Iterator[DemoCall]:
    user.user_id = f"user_{user.number:04d}"
    now_plan = user.plan
    # identify with both ids, so the anonymous history joins the user.
    yield DemoCall(
        "identify",
        {
            "user_id": user.user_id,
            "anonymous_id": user.anonymous_id,
            "traits": {
                "email": user.email,
                "firstName": user.first,
                "lastName": user.last,
                "plan": now_plan,
                "company": _COMPANIES[user.company][0],
            },
            "context": _context(user),
        },
    )
    yield DemoCall(
        "track",
        {
            "user_id": user.user_id,
            "anonymous_id": user.anonymous_id,
            "event": "Signed Up",
            "properties": {"plan": now_plan, "method": rng.choice(["email", "google", "github"])},
        },
    )
    yield DemoCall("alias", {"user_id": user.user_id, "previous_id": user.anonymous_id})
    name, industry = _COMPANIES[user.company]
    yield DemoCall(
        "group",
        {
            "user_id": user.user_id,
            "group_id": f"acct_{user.company + 1:03d}",
            "traits": {"name": name, "industry": industry, "employees": 50 * (user.company + 1)},
        },
    )


def _active(user: _User, rng: random.Random) -> DemoCall:
    roll = rng.random()
    if roll < 0.30:
        return _view(user, rng)
    if roll < 0.55:
        product = rng.choice(_PRODUCTS)
        return _product_event(user, "Product Viewed", product)
    if roll < 0.72:
        product = rng.choice(_PRODUCTS)
        user.cart.append(product)
        return _product_event(user, "Product Added", product, quantity=1)
    if roll < 0.80 and user.cart:
        total = round(sum(price for *_, price in user.cart), 2)
        return DemoCall(
            "track",
            {
                **user.ids(),
                "event": "Checkout Started",
                "properties": {"value": total, "currency": "USD"},
            },
        )
    if roll < 0.90 and user.cart:
        cart, user.cart = user.cart, []
        revenue = round(sum(price for *_, price in cart), 2)
        return DemoCall(
            "track",
            {
                **user.ids(),
                "event": "Order Completed",
                "properties": {
                    "orderId": f"ord_{rng.getrandbits(40):010x}",
                    "revenue": revenue,
                    "currency": "USD",
                    "products": [
                        {"productId": sku, "name": name, "category": category, "price": price}
                        for sku, name, category, price in cart
                    ],
                },
            },
        )
    if roll < 0.94 and user.plan != "enterprise":
        user.plan = _PLANS[_PLANS.index(user.plan) + 1]
        return DemoCall("identify", {**user.ids(), "traits": {"plan": user.plan}})
    feature = rng.choice(["Report Exported", "Search Performed", "Invite Sent", "Coupon Applied"])
    return DemoCall("track", {**user.ids(), "event": feature, "properties": {}})


def _product_event(
    user: _User, event: str, product: tuple[str, str, str, float], **extra: Any
) -> DemoCall:
    sku, name, category, price = product
    properties = {"productId": sku, "name": name, "category": category, "price": price, **extra}
    return DemoCall("track", {**user.ids(), "event": event, "properties": properties})


def _life(user: _User, rng: random.Random) -> Iterator[DemoCall]:
    """One user's calls, for ever: anonymous views, maybe sign-up, then activity."""
    for _ in range(rng.randint(1, 4)):
        yield _view(user, rng)
    if not user.signs_up:
        while True:
            yield _view(user, rng)
    yield from _sign_up(user, rng)
    while True:
        yield _active(user, rng)


def simulate(
    messages: int = 5000, *, users: int = 200, seed: int | None = None, now: datetime | None = None
) -> list[DemoCall]:
    """Return ``messages`` calls from ``users`` simulated users, interleaved in time.

    The same seed gives the same calls (message ids included), with timestamps ending at
    ``now``; no seed gives a fresh population each time.
    """
    rng = random.Random(seed)
    people = [
        _User(
            number=number,
            anonymous_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            first=rng.choice(_FIRST),
            last=rng.choice(_LAST),
            mobile=rng.random() < 0.3,
            signs_up=rng.random() < 0.85,
            company=rng.randrange(len(_COMPANIES)),
            plan=rng.choice(_PLANS[:3]),
        )
        for number in range(1, max(1, users) + 1)
    ]
    lives = [_life(user, random.Random(rng.getrandbits(64))) for user in people]
    clock = [(rng.uniform(0, 600), index) for index in range(len(lives))]
    heapq.heapify(clock)
    timed: list[tuple[float, DemoCall]] = []
    while len(timed) < messages:
        at, index = heapq.heappop(clock)
        timed.append((at, next(lives[index])))
        heapq.heappush(clock, (at + rng.expovariate(1 / _MEAN_GAP), index))
    end = now or datetime.now(UTC)
    last = timed[-1][0] if timed else 0.0
    calls = []
    for at, call in timed:
        timestamp = end - timedelta(seconds=last - at)
        message_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        calls.append(
            DemoCall(call.kind, {**call.kwargs, "timestamp": timestamp, "message_id": message_id})
        )
    return calls


@dataclass(slots=True)
class DemoResult:
    """What the demo sent, what the collector stored, and how fast it went."""

    url: str
    sent: Counter[str]
    stored: dict[str, int]
    duplicates: int
    failed: int
    retried: int
    seconds: float

    @property
    def lost(self) -> int:
        """Messages sent but not stored, over all types."""
        return sum(max(0, self.sent[kind] - self.stored.get(kind, 0)) for kind in _TYPES)

    @property
    def throughput(self) -> float:
        """Messages delivered per second, from the first call to the last delivery."""
        return sum(self.sent.values()) / self.seconds if self.seconds > 0 else 0.0


@asynccontextmanager
async def collector(
    *, db: str = ":memory:", host: str = "127.0.0.1", port: int = 0, faults: Faults | None = None,
    seed: int | None = None,
) -> AsyncIterator[tuple[str, Store]]:  # fmt: skip
    """Run a collector in this event loop; yield its URL and its store."""
    store = Store(db)
    try:
        async with running(
            create_app(store=store, faults=faults, seed=seed), host=host, port=port
        ) as url:
            yield url, store
    finally:
        store.close()


async def run_demo(
    url: str,
    store: Store,
    calls: list[DemoCall],
    *,
    on_progress: Callable[[], None] | None = None,
    write_key: str = "demo-write-key",
) -> DemoResult:
    """Send ``calls`` to the collector at ``url`` through the SDK; count what ``store`` kept."""
    tick = on_progress or (lambda: None)
    sent: Counter[str] = Counter()
    failed = 0

    def settled(kind: str, error: BaseException | None) -> None:
        nonlocal failed
        if error is not None:
            failed += 1
        tick()

    started = time.perf_counter()
    async with (
        Analytics(
            write_key, host=url, backoff_initial=0.05, backoff_max=1.0, max_retries=20
        ) as analytics,
        watch_deliveries(settled) as watcher,
    ):
        for call in calls:
            delivery = await getattr(analytics, call.kind)(**call.kwargs)
            sent[call.kind] += 1
            watcher.watch(call.kind, delivery)
        await analytics.flush()
    seconds = time.perf_counter() - started
    counts = store.counts()
    return DemoResult(
        url=url,
        sent=sent,
        stored=counts.by_type,
        duplicates=counts.duplicates,
        failed=failed,
        retried=analytics.stats.retried,
        seconds=seconds,
    )
