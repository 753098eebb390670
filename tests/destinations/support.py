"""What the destination tests share: fixed times, fast settings, rule vectors and a runner."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aioanalytics import Alias, Analytics, DeliveryResult, Group, Identify, Page, Screen, Track
from aioanalytics.destinations import Destination, Record
from aioanalytics.destinations.mixpanel import Mixpanel
from aioanalytics.destinations.trakio import TrakIo
from tests.destinations.emulator import Emulator

#: A fixed, recent message time (within Mixpanel's 5-day ``/track`` window).
AT = datetime.now(UTC).replace(microsecond=123_000) - timedelta(hours=1)
AT_SECONDS = int(AT.timestamp())
AT_MS = AT_SECONDS * 1000 + 123
AT_DATE = AT.strftime("%Y-%m-%dT%H:%M:%S")
AT_ISO = AT.strftime("%Y-%m-%dT%H:%M:%S.123Z")
#: Ten days old: past ``/track``'s window, so ``/import``.
OLD = AT - timedelta(days=10)
OLD_SECONDS = int(OLD.timestamp())
OLD_DATE = OLD.strftime("%Y-%m-%dT%H:%M:%S")
#: Past the 5-year limit.
ANCIENT = AT - timedelta(days=6 * 366)

TOKEN = "TOKEN"
#: Client options that keep retries and timers in milliseconds.
FAST_CLIENT: dict[str, Any] = {"backoff_initial": 0.01, "backoff_max": 0.05, "flush_interval": 0.01}
FAST_MIXPANEL: dict[str, Any] = {
    "backoff_initial": 0.01,
    "backoff_max": 0.05,
    "backoff_jitter": (0.0, 0.01),
}
FAST_TRAKIO: dict[str, Any] = {"backoff_initial": 0.01, "backoff_max": 0.05}

MODELS: dict[str, type[Any]] = {
    "identify": Identify,
    "track": Track,
    "page": Page,
    "screen": Screen,
    "group": Group,
    "alias": Alias,
}

#: Where each Mixpanel endpoint key sends, and the query it carries.
MIXPANEL_PATHS = {"track": "/track", "alias": "/track", "engage": "/engage", "import": "/import"}
MIXPANEL_QUERIES = {
    "/track": {"verbose": "1", "ip": "0"},
    "/engage": {"verbose": "1", "ip": "0"},
    "/import": {"strict": "1"},
}

Plugin = Callable[[dict[str, Any]], dict[str, Any]]


def set_context(**values: Any) -> Plugin:
    """An enrichment plugin that sets ``context`` keys on the wire message (copying it)."""

    def plugin(message: dict[str, Any]) -> dict[str, Any]:
        return {**message, "context": {**message.get("context", {}), **values}}

    return plugin


@dataclass(frozen=True)
class Rule:
    """One mapping rule: a Segment call and the records it must produce, by request path.

    ``expect`` maps a path to the records of the one request sent there (Trak.io: to the
    bodies of the requests sent there, in any order). ``plugin`` changes the wire message
    first, for values the call API cannot carry (``context.ip`` as the number 0).
    """

    id: str
    call: str
    kwargs: Mapping[str, Any]
    expect: Mapping[str, Sequence[Any]]
    settings: Mapping[str, Any] = field(default_factory=dict)
    plugin: Plugin | None = None

    def wire(self, index: int = 0) -> dict[str, Any]:
        """The wire message the client would build for this call."""
        kwargs = {"timestamp": AT, "message_id": f"msg-{index}", **self.kwargs}
        message = MODELS[self.call](**kwargs)
        wire: dict[str, Any] = message.model_dump(mode="json", by_alias=True, exclude_none=True)
        return self.plugin(wire) if self.plugin is not None else wire


def mp_event(
    event: str,
    properties: Mapping[str, Any] | None = None,
    *,
    user: str | None = "u1",
    anonymous: str | None = None,
    message_id: str = "msg-0",
    time: int = AT_SECONDS,
    name_tag: str | None = None,
) -> dict[str, Any]:
    """A Mixpanel event as the destination must send it, the semantic properties included."""
    distinct = user or anonymous
    props: dict[str, Any] = {
        **(properties or {}),
        "token": TOKEN,
        "distinct_id": distinct,
        "time": time,
        "$insert_id": message_id,
        "mp_lib": "aioanalytics",
        "mp_name_tag": name_tag or distinct,
    }
    if anonymous is not None:
        props["$device_id"] = anonymous
    if user is not None:
        props["$user_id"] = user
    return {"event": event, "properties": props}


def mp_profile(
    operation: str,
    value: Any,
    *,
    user: str = "u1",
    ip: Any = 0,
    ignore_time: bool = False,
) -> dict[str, Any]:
    """A Mixpanel identify profile update with its base fields."""
    return {
        "$token": TOKEN,
        "$distinct_id": user,
        "$time": AT_MS,
        "$ip": ip,
        "$ignore_time": ignore_time,
        operation: value,
    }


def mixpanel(api: Emulator, **settings: Any) -> Mixpanel:
    """A Mixpanel destination pointed at ``api``, retrying in milliseconds."""
    return Mixpanel(token=TOKEN, api_host=api.url, **{**FAST_MIXPANEL, **settings})


def trakio(api: Emulator, **settings: Any) -> TrakIo:
    """A Trak.io destination pointed at ``api``, retrying in milliseconds."""
    return TrakIo(token=TOKEN, api_host=api.url, **{**FAST_TRAKIO, **settings})


def translate(destination: Destination, rule: Rule) -> list[Record]:
    """Translate the rule's message directly, with no client and no network."""
    wire = rule.wire()
    return destination.translate(wire, b"")


async def run(
    destinations: Sequence[Destination],
    calls: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    write_key: str | None = None,
    host: str | None = None,
    plugins: Sequence[Any] = (),
    **options: Any,
) -> list[DeliveryResult | BaseException]:
    """Send ``calls`` through a real client, close it, and return each delivery's outcome.

    Each call gets the fixed timestamp ``AT`` and message id ``msg-<index>`` unless given.
    """
    extra = {"host": host} if host is not None else {}
    async with Analytics(
        write_key,
        destinations=destinations,
        plugins=plugins,
        **{**FAST_CLIENT, **extra, **options},
    ) as analytics:
        deliveries = []
        for index, (call, kwargs) in enumerate(calls):
            arguments = {"timestamp": AT, "message_id": f"msg-{index}", **kwargs}
            deliveries.append(await getattr(analytics, call)(**arguments))
    return list(await asyncio.gather(*deliveries, return_exceptions=True))
