"""Test helpers: an :class:`~aioanalytics.Analytics` that records instead of sending.

The pytest plugin's ``analytics_recorder`` fixture gives a :class:`Recorder`; this module is
what it is made of, usable without pytest too::

    recorder = Recorder()
    await recorder.client.track(user_id="u1", event="Signed Up", properties={"plan": "pro"})
    recorder.assert_tracked("Signed Up", user_id="u1", properties={"plan": "pro"})
    await recorder.aclose()

Theory of operation: the recorder's client is a real ``Analytics`` with two changes. Its
transport is a :class:`~aioanalytics.MemoryTransport` (no network; answers 200 unless scripted
otherwise), and a last plugin records every message, as a model, at the moment of the call, so
assertions need no flush. The client opens itself on first use, on the event loop that uses
it, because a test's loop is only known once the test runs (and it differs between
pytest-asyncio's loop scopes and anyio's runner).

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import asyncio
import difflib
import enum
import functools
import pprint
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, Concatenate, ParamSpec, TypeVar

import pydantic

from . import (
    Alias,
    Analytics,
    Group,
    Identify,
    MemoryTransport,
    Message,
    Page,
    Screen,
    Track,
    parse_message,
)

__all__ = ["UNSET", "Recorder", "Unset"]

_P = ParamSpec("_P")
_T = TypeVar("_T")
_M = TypeVar("_M", Identify, Track, Page, Screen, Group, Alias)


class Unset(enum.Enum):
    """The type of :data:`UNSET`: "do not check this field"."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET = Unset.UNSET
"""The default of every assertion criterion: the field is not checked."""

_KINDS: dict[type[Any], str] = {
    Identify: "identify",
    Track: "track",
    Page: "page",
    Screen: "screen",
    Group: "group",
    Alias: "alias",
}
#: The smallest valid message of each kind, to normalize expected values through the model.
_PROBES: dict[type[Any], dict[str, str]] = {
    Identify: {"user_id": "-"},
    Track: {"user_id": "-", "event": "-"},
    Page: {"user_id": "-"},
    Screen: {"user_id": "-"},
    Group: {"user_id": "-", "group_id": "-"},
    Alias: {"user_id": "-", "previous_id": "-"},
}
#: Criteria compared as JSON objects (``partial=True`` checks only the keys given).
_OBJECT_FIELDS = frozenset({"properties", "traits", "context", "integrations"})


def _opening(
    method: Callable[Concatenate[Analytics, _P], Awaitable[_T]],
) -> Callable[Concatenate[Analytics, _P], Coroutine[Any, Any, _T]]:
    """Wrap an ``Analytics`` coroutine method so the client opens itself first."""

    async def wrapper(self: Analytics, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        assert isinstance(self, _RecordingAnalytics)
        if self.opened_on is None:
            await self.open()
        return await method(self, *args, **kwargs)

    functools.update_wrapper(wrapper, method)
    return wrapper


class _RecordingAnalytics(Analytics):
    """An ``Analytics`` that opens itself on the first call, on the caller's event loop.

    ``open()`` is idempotent here, so an app that enters ``async with analytics:`` itself (in a
    lifespan, say) keeps working when a test hands it this client.
    """

    opened_on: asyncio.AbstractEventLoop | None = None

    async def open(self) -> None:
        """Open on the running loop, unless already opened."""
        if self.opened_on is None:
            await super().open()
            self.opened_on = asyncio.get_running_loop()

    identify = _opening(Analytics.identify)
    track = _opening(Analytics.track)
    page = _opening(Analytics.page)
    screen = _opening(Analytics.screen)
    group = _opening(Analytics.group)
    alias = _opening(Analytics.alias)
    enqueue = _opening(Analytics.enqueue)
    flush = _opening(Analytics.flush)


class Recorder:
    """Records every message an app sends through :attr:`client`; nothing leaves the process.

    Args:
        write_key: the write key the client is configured with.
        **options: any other :class:`~aioanalytics.Analytics` option except ``transport``.
            ``send`` defaults to ``False``: each message is recorded and its delivery
            resolves at once as ``"skipped"``, so nothing is left pending when a test's event
            loop ends. With ``send=True`` messages go through the real batching pipeline to
            :attr:`transport` (``flush_interval`` defaults to 0, ``gzip`` to ``False``):
            script its ``answers`` to test how your code handles failed deliveries. Plugins
            given here run before the recording one, so what is recorded is what would be
            sent.

    Attributes:
        client: the ``Analytics`` to hand to the code under test. It opens itself on first
            use, on the event loop that uses it.
        transport: the :class:`~aioanalytics.MemoryTransport` batches go to with
            ``send=True``; script its ``answers`` to make deliveries fail.

    .. versionadded:: 0.1.0
    """

    def __init__(self, write_key: str = "test-write-key", **options: Any) -> None:
        self.transport = MemoryTransport()
        options.setdefault("send", False)
        options.setdefault("flush_interval", 0)
        options.setdefault("gzip", False)
        plugins = [*options.pop("plugins", ()), self._record]
        self.client: Analytics = _RecordingAnalytics(
            write_key, transport=self.transport, plugins=plugins, **options
        )
        self._messages: list[Message] = []

    def __repr__(self) -> str:
        return f"<Recorder {len(self._messages)} messages>"

    def _record(self, wire: dict[str, Any]) -> dict[str, Any]:
        self._messages.append(parse_message(wire))
        return wire

    # -- lifecycle ------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the client (delivering what it holds to :attr:`transport`)."""
        await self.client.aclose()

    def close(self) -> None:
        """Close the client from outside its event loop, if that loop is still usable.

        The fixture calls this at teardown. When the loop has already ended (its runner
        cancelled the client's tasks), there is nothing left to close.
        """
        assert isinstance(self.client, _RecordingAnalytics)
        loop = self.client.opened_on
        if loop is None or loop.is_closed() or loop.is_running():
            return
        loop.run_until_complete(self.client.aclose())

    # -- what was recorded ----------------------------------------------------------------

    @property
    def messages(self) -> list[Message]:
        """Every message, in call order, as a model (:class:`~aioanalytics.Track`, ...)."""
        return list(self._messages)

    @property
    def tracks(self) -> list[Track]:
        """The ``track`` messages."""
        return self._of(Track)

    @property
    def identifies(self) -> list[Identify]:
        """The ``identify`` messages."""
        return self._of(Identify)

    @property
    def pages(self) -> list[Page]:
        """The ``page`` messages."""
        return self._of(Page)

    @property
    def screens(self) -> list[Screen]:
        """The ``screen`` messages."""
        return self._of(Screen)

    @property
    def groups(self) -> list[Group]:
        """The ``group`` messages."""
        return self._of(Group)

    @property
    def aliases(self) -> list[Alias]:
        """The ``alias`` messages."""
        return self._of(Alias)

    @property
    def events(self) -> list[str]:
        """The event names of the ``track`` messages, in order."""
        return [message.event for message in self.tracks]

    def clear(self) -> None:
        """Forget the recorded messages (the transport's requests too)."""
        self._messages.clear()
        self.transport.requests.clear()

    def _of(self, kind: type[_M]) -> list[_M]:
        return [message for message in self._messages if isinstance(message, kind)]

    # -- assertions -----------------------------------------------------------------------

    def assert_tracked(
        self,
        event: str,
        *,
        user_id: str | None | Unset = UNSET,
        anonymous_id: str | None | Unset = UNSET,
        properties: Mapping[str, Any] | None | Unset = UNSET,
        context: Mapping[str, Any] | Unset = UNSET,
        integrations: Mapping[str, Any] | None | Unset = UNSET,
        partial: bool = False,
        times: int | None = None,
    ) -> Track:
        """Assert that ``event`` was tracked with these fields; return the (last) match.

        Only the criteria given are checked. ``properties``, ``context`` and
        ``integrations`` must be equal, or with ``partial=True`` contain the keys given with
        those values. Values compare in their JSON form: a ``datetime`` given here matches the
        ISO-8601 string the message carries. ``unittest.mock.ANY`` matches anything.
        ``times`` asserts the exact number of matching messages.

        Raises:
            AssertionError: no message matched (or not ``times`` of them). The message
                shows the closest candidate field by field, with a diff, and lists what
                was recorded.
        """
        __tracebackhide__ = True
        return self._expect(
            Track,
            {
                "event": event,
                "user_id": user_id,
                "anonymous_id": anonymous_id,
                "properties": properties,
                "context": context,
                "integrations": integrations,
            },
            partial=partial,
            times=times,
        )

    def assert_not_tracked(
        self,
        event: str,
        *,
        user_id: str | None | Unset = UNSET,
        anonymous_id: str | None | Unset = UNSET,
        properties: Mapping[str, Any] | None | Unset = UNSET,
        partial: bool = False,
    ) -> None:
        """Assert that no ``track`` message matches these criteria (see
        :meth:`assert_tracked`).

        Raises:
            AssertionError: at least one message matched; the message lists them.
        """
        __tracebackhide__ = True
        self._expect(
            Track,
            {
                "event": event,
                "user_id": user_id,
                "anonymous_id": anonymous_id,
                "properties": properties,
            },
            partial=partial,
            times=0,
        )

    def assert_identified(
        self,
        user_id: str | None | Unset = UNSET,
        *,
        anonymous_id: str | None | Unset = UNSET,
        traits: Mapping[str, Any] | None | Unset = UNSET,
        context: Mapping[str, Any] | Unset = UNSET,
        partial: bool = False,
        times: int | None = None,
    ) -> Identify:
        """Assert that an ``identify`` message matches; criteria as in :meth:`assert_tracked`.

        Raises:
            AssertionError: no message matched (or not ``times`` of them).
        """
        __tracebackhide__ = True
        return self._expect(
            Identify,
            {
                "user_id": user_id,
                "anonymous_id": anonymous_id,
                "traits": traits,
                "context": context,
            },
            partial=partial,
            times=times,
        )

    def assert_paged(
        self,
        name: str | None | Unset = UNSET,
        *,
        category: str | None | Unset = UNSET,
        user_id: str | None | Unset = UNSET,
        anonymous_id: str | None | Unset = UNSET,
        properties: Mapping[str, Any] | None | Unset = UNSET,
        partial: bool = False,
        times: int | None = None,
    ) -> Page:
        """Assert that a ``page`` message matches; criteria as in :meth:`assert_tracked`.

        Raises:
            AssertionError: no message matched (or not ``times`` of them).
        """
        __tracebackhide__ = True
        return self._expect(
            Page,
            {
                "name": name,
                "category": category,
                "user_id": user_id,
                "anonymous_id": anonymous_id,
                "properties": properties,
            },
            partial=partial,
            times=times,
        )

    def assert_screened(
        self,
        name: str | None | Unset = UNSET,
        *,
        category: str | None | Unset = UNSET,
        user_id: str | None | Unset = UNSET,
        anonymous_id: str | None | Unset = UNSET,
        properties: Mapping[str, Any] | None | Unset = UNSET,
        partial: bool = False,
        times: int | None = None,
    ) -> Screen:
        """Assert that a ``screen`` message matches; criteria as in :meth:`assert_tracked`.

        Raises:
            AssertionError: no message matched (or not ``times`` of them).
        """
        __tracebackhide__ = True
        return self._expect(
            Screen,
            {
                "name": name,
                "category": category,
                "user_id": user_id,
                "anonymous_id": anonymous_id,
                "properties": properties,
            },
            partial=partial,
            times=times,
        )

    def assert_grouped(
        self,
        group_id: str | Unset = UNSET,
        *,
        user_id: str | None | Unset = UNSET,
        anonymous_id: str | None | Unset = UNSET,
        traits: Mapping[str, Any] | None | Unset = UNSET,
        partial: bool = False,
        times: int | None = None,
    ) -> Group:
        """Assert that a ``group`` message matches; criteria as in :meth:`assert_tracked`.

        Raises:
            AssertionError: no message matched (or not ``times`` of them).
        """
        __tracebackhide__ = True
        return self._expect(
            Group,
            {
                "group_id": group_id,
                "user_id": user_id,
                "anonymous_id": anonymous_id,
                "traits": traits,
            },
            partial=partial,
            times=times,
        )

    def assert_aliased(
        self,
        previous_id: str | Unset = UNSET,
        *,
        user_id: str | Unset = UNSET,
        times: int | None = None,
    ) -> Alias:
        """Assert that an ``alias`` message matches; criteria as in :meth:`assert_tracked`.

        Raises:
            AssertionError: no message matched (or not ``times`` of them).
        """
        __tracebackhide__ = True
        return self._expect(
            Alias, {"previous_id": previous_id, "user_id": user_id}, partial=False, times=times
        )

    def assert_nothing_sent(self) -> None:
        """Assert that no message at all was recorded.

        Raises:
            AssertionError: something was; the message lists it.
        """
        __tracebackhide__ = True
        if self._messages:
            raise AssertionError(
                f"expected no messages, but {len(self._messages)} were recorded:\n"
                + self._listing()
            )

    # -- matching -------------------------------------------------------------------------

    def _expect(
        self,
        kind: type[_M],
        criteria: Mapping[str, Any],
        *,
        partial: bool,
        times: int | None,
    ) -> _M:
        __tracebackhide__ = True
        wanted = {
            name: _normalize(kind, name, value)
            for name, value in criteria.items()
            if value is not UNSET
        }
        candidates = self._of(kind)
        matches = [m for m in candidates if not _mismatches(m, wanted, partial)]
        label = _describe(_KINDS[kind], wanted)
        if times is not None and len(matches) != times:
            raise AssertionError(
                f"expected {times or 'no'} {label}, found {len(matches)}"
                + ("" if not self._messages else ":\n" + self._listing(matches or None))
            )
        if matches:
            return matches[-1]
        if times == 0:
            return None  # type: ignore[return-value]  # assert_not_tracked ignores it
        raise AssertionError(self._explain(kind, label, candidates, wanted, partial))

    def _explain(
        self,
        kind: type[Any],
        label: str,
        candidates: list[Any],
        wanted: Mapping[str, Any],
        partial: bool,
    ) -> str:
        lines = [f"no {label} was recorded"]
        if not self._messages:
            lines.append("nothing at all was recorded")
            return "\n".join(lines)
        if candidates:
            closest = min(reversed(candidates), key=lambda m: len(_mismatches(m, wanted, partial)))
            position = self._messages.index(closest) + 1
            lines.append(f"closest: message #{position}, {_summary(closest)}")
            for name in _mismatches(closest, wanted, partial):
                lines.extend(_field_diff(name, wanted[name], _field(closest, name), partial))
        else:
            lines.append(f"no {_KINDS[kind]} message was recorded at all")
        lines.append("recorded:")
        lines.append(self._listing())
        return "\n".join(lines)

    def _listing(self, only: list[Any] | None = None) -> str:
        return "\n".join(
            f"  #{i} {_summary(m)}"
            for i, m in enumerate(self._messages, 1)
            if only is None or m in only
        )


# -- helpers for matching and messages ------------------------------------------------------


def _field(message: Any, name: str) -> Any:
    value = getattr(message, name)
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    return value


def _normalize(kind: type[Any], name: str, value: Any) -> Any:
    """Bring an expected object into the JSON form messages carry (datetimes as strings)."""
    if name not in _OBJECT_FIELDS or value is None:
        return value
    try:
        probe = kind.model_validate({**_PROBES[kind], name: value})
    except pydantic.ValidationError:
        return value  # holds matchers such as unittest.mock.ANY: compare as given
    result = _field(probe, name)
    if name == "context" and "library" not in value:
        result.pop("library", None)
    return result


def _mismatches(message: Any, wanted: Mapping[str, Any], partial: bool) -> list[str]:
    wrong = []
    for name, expected in wanted.items():
        actual = _field(message, name)
        if name == "context" or (partial and name in _OBJECT_FIELDS):
            if not _contains(actual, expected):
                wrong.append(name)
        elif expected != actual:
            wrong.append(name)
    return wrong


def _contains(actual: Any, expected: Any) -> bool:
    if not isinstance(expected, Mapping) or not isinstance(actual, Mapping):
        return bool(expected == actual)
    return all(key in actual and value == actual[key] for key, value in expected.items())


def _describe(kind: str, wanted: Mapping[str, Any]) -> str:
    parts = [f"{kind} message"]
    if "event" in wanted:
        parts = [f"track {wanted['event']!r}"]
    details = ", ".join(f"{name}={value!r}" for name, value in wanted.items() if name != "event")
    return f"{' '.join(parts)} with {details}" if details else " ".join(parts)


def _summary(message: Any) -> str:
    kind = message.type
    if kind == "track":
        head = repr(message.event)
    elif kind in ("page", "screen"):
        head = repr(message.name)
    elif kind == "group":
        head = f"group_id={message.group_id!r}"
    elif kind == "alias":
        head = f"previous_id={message.previous_id!r}"
    else:
        head = ""
    who = ", ".join(
        f"{name}={getattr(message, name)!r}"
        for name in ("user_id", "anonymous_id")
        if getattr(message, name) is not None
    )
    body = "".join(
        f" {name}={value!r}"
        for name in ("properties", "traits")
        if (value := getattr(message, name, None))
    )
    return " ".join(part for part in (kind, head, who) if part) + body


def _field_diff(name: str, expected: Any, actual: Any, partial: bool) -> list[str]:
    if partial and isinstance(expected, Mapping) and isinstance(actual, Mapping):
        missing = [key for key in expected if key not in actual]
        actual = {key: actual[key] for key in expected if key in actual}
        if missing:
            return [f"  {name}: missing keys {missing!r}", *_diff(expected, actual)]
    if not isinstance(expected, Mapping) or not isinstance(actual, Mapping):
        return [f"  {name}: expected {expected!r}, got {actual!r}"]
    return [f"  {name} differ (- expected, + recorded):", *_diff(expected, actual)]


def _diff(expected: Any, actual: Any) -> list[str]:
    left = pprint.pformat(expected, width=80, sort_dicts=True).splitlines()
    right = pprint.pformat(actual, width=80, sort_dicts=True).splitlines()
    if len(left) == 1 and len(right) == 1 and isinstance(expected, Mapping):
        left = [f"{k!r}: {v!r}" for k, v in sorted(expected.items())]
        right = [f"{k!r}: {v!r}" for k, v in sorted(actual.items())]
    return [f"    {line}" for line in difflib.ndiff(left, right) if not line.startswith("?")]
