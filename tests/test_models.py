from __future__ import annotations

import asyncio
import enum
import json
import re
import types
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pydantic
import pydantic_core
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aioanalytics
from aioanalytics import (
    Alias,
    Analytics,
    Batch,
    Context,
    Group,
    Identify,
    MemoryTransport,
    Page,
    Screen,
    Track,
    _wire,
    parse_message,
)
from aioanalytics._models import encode
from aioanalytics._validation import describe_error
from aioanalytics._wire import build_wire, new_message_id, now_timestamp, wire_dict


class Plan(enum.Enum):
    PRO = "pro"


def test_track_wire_names_and_defaults() -> None:
    message = Track(user_id="u1", event="Signed Up", properties={"plan": "pro"})
    wire = json.loads(encode(message))
    assert wire["userId"] == "u1"
    assert wire["type"] == "track"
    assert wire["event"] == "Signed Up"
    assert wire["properties"] == {"plan": "pro"}
    assert wire["context"] == {
        "library": {"name": "aioanalytics", "version": aioanalytics.__version__}
    }
    assert uuid.UUID(wire["messageId"]).version == 4
    assert wire["timestamp"].endswith("Z") and len(wire["timestamp"]) == 24
    assert "anonymousId" not in wire and "integrations" not in wire


@pytest.mark.parametrize(
    ("model", "kwargs", "wire_key"),
    [
        (Identify, {"anonymous_id": "a1", "traits": {"email": "a@b.c"}}, "anonymousId"),
        (Group, {"user_id": "u", "group_id": "g1"}, "groupId"),
        (Alias, {"user_id": "u", "previous_id": "a1"}, "previousId"),
        (Page, {"user_id": "u", "name": "Home", "category": "Docs"}, "category"),
        (Screen, {"user_id": "u", "name": "Home"}, "name"),
    ],
)
def test_camel_case_on_the_wire(model: Any, kwargs: dict[str, Any], wire_key: str) -> None:
    wire = wire_dict(model(**kwargs))
    assert wire_key in wire
    assert all("_" not in key for key in wire)
    assert parse_message(wire) == model(
        **{**kwargs, "message_id": wire["messageId"], "timestamp": wire["timestamp"]}
    )


@pytest.mark.parametrize(
    ("model", "kwargs", "field"),
    [
        (Track, {"event": "x"}, "userId or anonymousId"),
        (Track, {"user_id": "u", "event": ""}, "event"),
        (Track, {"user_id": "u"}, "event"),
        (Group, {"user_id": "u"}, "groupId"),
        (Alias, {"user_id": "u"}, "previousId"),
        (Alias, {"anonymous_id": "a", "previous_id": "p"}, "userId"),
        (Identify, {"user_id": "u", "message_id": "x" * 100}, "message_id"),
        (Identify, {"user_id": "u", "nickname": "x"}, "nickname"),
    ],
)
def test_required_fields(model: Any, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=field):
        model(**kwargs)


@pytest.mark.parametrize(
    "bad",
    [b"bytes", object(), float("nan"), float("inf"), Decimal("NaN"), {1: "int key"}],
    ids=["bytes", "object", "nan", "inf", "decimal-nan", "int-key"],
)
def test_non_json_values_are_rejected(bad: Any) -> None:
    with pytest.raises(pydantic.ValidationError, match="properties"):
        Track(user_id="u", event="e", properties={"x": bad})
    with pytest.raises(pydantic.ValidationError, match="traits"):
        Identify(user_id="u", traits={"nested": [{"x": bad}]})


def test_deep_nesting_is_rejected() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(100):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(pydantic.ValidationError, match="nested deeper"):
        Track(user_id="u", event="e", properties=deep)


def test_extra_types_serialize_sensibly() -> None:
    class Label(str):
        pass

    properties = {
        "at": datetime(2024, 3, 15, 11, 59, 30, 123456),
        "at_paris": datetime(2024, 3, 15, 12, 0, tzinfo=timezone(timedelta(hours=1))),
        "day": date(2024, 3, 15),
        "price": Decimal("19.99"),
        "count": Decimal(3),
        "id": uuid.UUID(int=1),
        "plan": Plan.PRO,
        "pair": (1, 2),
        "tags": {"a"},
        "frozen": frozenset({1}),
        "label": Label("x"),
    }
    wire = json.loads(encode(Track(user_id="u", event="e", properties=properties)))
    assert wire["properties"] == {
        "at": "2024-03-15T11:59:30.123Z",
        "at_paris": "2024-03-15T11:00:00.000Z",
        "day": "2024-03-15",
        "price": 19.99,
        "count": 3,
        "id": "00000000-0000-0000-0000-000000000001",
        "plan": "pro",
        "pair": [1, 2],
        "tags": ["a"],
        "frozen": [1],
        "label": "x",
    }


def test_naive_timestamp_is_utc() -> None:
    naive = Track(user_id="u", event="e", timestamp=datetime(2024, 1, 1, 12, 0))
    assert naive.timestamp.tzinfo is UTC
    assert json.loads(encode(naive))["timestamp"] == "2024-01-01T12:00:00.000Z"


def test_context_library_default_and_override() -> None:
    ctx = Context(ip="1.2.3.4", device={"token": "t"}, user_agent="ua")
    wire = wire_dict(Identify(user_id="u", context=ctx))
    assert wire["context"]["library"]["name"] == "aioanalytics"
    assert wire["context"]["device"] == {"token": "t"}
    assert wire["context"]["userAgent"] == "ua"
    own = wire_dict(Identify(user_id="u", context={"library": {"name": "x", "version": "1"}}))
    assert own["context"]["library"] == {"name": "x", "version": "1"}
    with pytest.raises(pydantic.ValidationError, match="context"):
        Identify(user_id="u", context={"blob": b"x"})


def test_parse_message_discriminates_and_names_fields() -> None:
    message = parse_message({"type": "group", "userId": "u", "groupId": "g"})
    assert isinstance(message, Group)
    with pytest.raises(pydantic.ValidationError) as info:
        parse_message({"type": "track", "userId": "u", "event": 3})
    assert info.value.errors()[0]["loc"] == ("track", "event")
    with pytest.raises(pydantic.ValidationError):
        parse_message({"type": "bogus", "userId": "u"})


def test_batch_envelope_parses() -> None:
    body = {
        "batch": [{"type": "alias", "userId": "u", "previousId": "p"}],
        "sentAt": "2024-01-01T00:00:00.000Z",
    }
    batch = Batch.model_validate(body)
    assert isinstance(batch.batch[0], Alias)
    assert batch.sent_at == datetime(2024, 1, 1, tzinfo=UTC)


def test_message_ids_are_unique_uuid4() -> None:
    ids = {new_message_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(uuid.UUID(i).version == 4 and uuid.UUID(i).variant == uuid.RFC_4122 for i in ids)


def test_ids_made_ahead_are_unique_uuid4() -> None:
    _wire._ids.clear()
    _wire.top_up_ids()
    assert len(_wire._ids) == _wire._ID_TOP_UP
    _wire.top_up_ids()  # below the low mark: made again
    assert len(_wire._ids) == 2 * _wire._ID_TOP_UP
    ids = {new_message_id() for _ in range(3000)}  # the rest made at the call, in small batches
    assert len(ids) == 3000
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text


def test_now_timestamp_is_current() -> None:
    before = datetime.now(UTC)
    text = now_timestamp()
    after = datetime.now(UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text)
    stamp = datetime.fromisoformat(text)
    assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= stamp <= after


# -- the fast path and the model path agree ------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
objects = st.none() | st.dictionaries(st.text(max_size=6), json_values, max_size=4)
ids = st.none() | st.text(max_size=6)
extras = st.sampled_from(
    [
        datetime(2024, 1, 1, 5, 6, 7, 890000),
        Decimal("1.5"),
        Plan.PRO,
        (1, "x"),
        b"bad",
        float("nan"),
        {"order": {"items": [{"raw": b"x"}]}},
        [1, 10**4300],
        Decimal("1e600000"),
        Decimal("1e-7"),
        datetime.max.replace(tzinfo=timezone(timedelta(hours=-1))),
    ]
)
#: Any offset, so that some datetimes fall off the calendar once converted to UTC.
offsets = st.builds(timezone, st.timedeltas(timedelta(hours=-23), timedelta(hours=23)))
contexts = st.none() | st.fixed_dictionaries(
    {},
    optional={
        "ip": st.text(max_size=4) | st.integers(),
        "active": st.booleans() | st.text(max_size=1),
        "traits": objects,
        "device": objects,
        "userAgent": st.text(max_size=4),
        "library": st.just({"name": "n", "version": "v"}) | st.just({"name": 1}),
        "extra": extras,
    },
)


def _both(
    model: Any,
    fields: dict[str, Any],
    **common: Any,
) -> tuple[Any, Any]:
    def run_fast() -> Any:
        return build_wire(
            model,
            common["user_id"],
            common["anonymous_id"],
            common["context"],
            common["timestamp"],
            common["integrations"],
            common["message_id"],
            fields,
        )

    def run_model() -> Any:
        kwargs = {k: v for k, v in common.items() if v is not None}
        kwargs.update({_snake(k): v for k, v in fields.items() if v is not None and k != "type"})
        return wire_dict(model(**kwargs))

    results = []
    for run in (run_fast, run_model):
        try:
            results.append(run())
        except pydantic.ValidationError as exc:
            results.append(("error", sorted((str(e["loc"]), e["msg"]) for e in exc.errors())))
    return results[0], results[1]


def _snake(key: str) -> str:
    return {"groupId": "group_id", "previousId": "previous_id"}.get(key, key)


@settings(max_examples=300, deadline=None)
@given(
    user_id=ids,
    anonymous_id=ids,
    event=st.none() | st.text(max_size=5) | st.integers(),
    properties=objects | st.builds(lambda v: {"v": v}, extras),
    context=contexts,
    timestamp=st.none() | st.datetimes(timezones=st.none() | st.just(UTC) | offsets),
    integrations=st.none() | st.just({"All": False, "Mixpanel": True}),
    message_id=st.none() | st.just("m-1") | st.just("x" * 100),
)
def test_fast_path_matches_the_model(**common: Any) -> None:
    event = common.pop("event")
    properties = common.pop("properties")
    fast, model = _both(
        Track,
        {"type": "track", "event": event, "properties": properties},
        **common,
    )
    if isinstance(fast, dict) and isinstance(model, dict):
        if common["message_id"] is None:
            fast.pop("messageId"), model.pop("messageId")
        if common["timestamp"] is None:
            fast.pop("timestamp"), model.pop("timestamp")
    assert fast == model


@settings(max_examples=100, deadline=None)
@given(user_id=ids, previous_id=st.none() | st.text(max_size=3), anonymous_id=ids)
def test_fast_alias_matches_the_model(user_id: Any, previous_id: Any, anonymous_id: Any) -> None:
    common = {
        "user_id": user_id,
        "anonymous_id": anonymous_id,
        "context": None,
        "timestamp": datetime(2024, 1, 1, tzinfo=UTC),
        "integrations": None,
        "message_id": "m",
    }
    fast, model = _both(Alias, {"type": "alias", "previousId": previous_id}, **common)
    assert fast == model


@settings(max_examples=200, deadline=None)
@given(
    user_id=ids,
    event=st.none() | st.text(max_size=5) | st.integers(),
    properties=st.none() | objects | st.builds(lambda v: {"v": v}, extras),
)
def test_track_shortcut_matches_the_model(user_id: Any, event: Any, properties: Any) -> None:
    """``Analytics.track`` builds the common call's wire dict itself: the same as the model's,
    and the same error for anything invalid."""

    async def call() -> Any:
        transport = MemoryTransport()
        async with Analytics("key", transport=transport) as analytics:
            await analytics.track(user_id=user_id, event=event, properties=properties)
        (message,) = transport.messages
        return message

    kwargs = {"user_id": user_id, "event": event, "properties": properties}
    results = []
    for run in (lambda: asyncio.run(call()), lambda: wire_dict(Track(**_present(kwargs)))):
        try:
            message = json.loads(json.dumps(run()))  # as it went over the wire
            message.pop("messageId"), message.pop("timestamp")
            results.append(message)
        except pydantic.ValidationError as exc:
            results.append(("error", sorted((str(e["loc"]), e["msg"]) for e in exc.errors())))
    assert results[0] == results[1]


def _present(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if v is not None}


# -- values the wire cannot carry are refused at the call, naming their path -----------------

#: Each call's arguments, and the JSON object field it takes (alias has none: its context).
CALLS: dict[str, tuple[Any, dict[str, Any], str]] = {
    "identify": (Identify, {"user_id": "u"}, "traits"),
    "track": (Track, {"user_id": "u", "event": "e"}, "properties"),
    "page": (Page, {"user_id": "u", "name": "Home"}, "properties"),
    "screen": (Screen, {"user_id": "u", "name": "Home"}, "properties"),
    "group": (Group, {"user_id": "u", "group_id": "g"}, "traits"),
    "alias": (Alias, {"user_id": "u", "previous_id": "p"}, "context"),
}


def _call(call: str, **kwargs: Any) -> dict[str, Any]:
    """Make ``call`` through a client (the fast paths) and return the message it sent."""

    async def main() -> dict[str, Any]:
        transport = MemoryTransport()
        async with Analytics("key", transport=transport) as analytics:
            await getattr(analytics, call)(**{**CALLS[call][1], **kwargs})
        (message,) = transport.messages
        return message

    return asyncio.run(main())


def _model(call: str, **kwargs: Any) -> dict[str, Any]:
    """Build ``call``'s model directly (the pydantic path) and return its wire dict."""
    model, base, _ = CALLS[call]
    return wire_dict(model(**{**base, **kwargs}))


PATHS = [_call, _model]


@pytest.mark.parametrize("build", PATHS, ids=["client", "model"])
@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("where", ["object", "context", "integrations"])
def test_nested_invalid_value_names_its_path(call: str, where: str, build: Any) -> None:
    """For each of the six calls, on the client's fast paths and on the model's: the error
    names the value's path (``properties.order.items[0].raw``), not only the field."""
    field = CALLS[call][2] if where == "object" else where
    value = {"order": {"items": [{"raw": b"\x00"}]}}
    if field == "context":
        value = {"device": value}
    with pytest.raises(pydantic.ValidationError) as caught:
        build(call, **{field: value})
    path = f"{field}.device" if field == "context" else field
    assert f"{path}.order.items[0].raw: value of type bytes is not JSON-serializable" in str(
        caught.value
    )
    [error] = caught.value.errors()
    assert error["loc"] == (*path.split("."), "order", "items", 0, "raw")
    assert error["input"] == b"\x00"


def test_nested_paths_name_awkward_keys_and_context_traits() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        _model("track", context={"traits": {"a.b": [{1: "x"}]}})
    assert "context.traits['a.b'][0]: keys must be strings, not int (1)" in str(caught.value)
    assert caught.value.errors()[0]["loc"] == ("context", "traits", "a.b", 0)


def test_describe_error_names_the_nested_path() -> None:
    """The collector's 400 and ``aioanalytics import`` say where the value is too."""
    data = {"type": "track", "userId": "u", "event": "e", "properties": {"a": [1, float("nan")]}}
    with pytest.raises(pydantic.ValidationError) as caught:
        parse_message(data)
    assert describe_error(caught.value, data, prefix="batch[3]") == (
        "batch[3].properties.a[1]: nan is not a valid JSON number"
    )


EDGES = [
    datetime.max.replace(tzinfo=timezone(timedelta(hours=-1))),
    datetime.min.replace(tzinfo=timezone(timedelta(hours=14))),
]


@pytest.mark.parametrize("build", PATHS, ids=["client", "model"])
@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("edge", EDGES, ids=["max-minus-1h", "min-plus-14h"])
def test_datetime_out_of_range_in_utc_is_a_validation_error(
    call: str, edge: datetime, build: Any
) -> None:
    """An aware datetime that falls off the calendar once converted to UTC is a
    ValidationError (it was an OverflowError), as ``timestamp`` or as a value."""
    with pytest.raises(pydantic.ValidationError) as caught:
        build(call, timestamp=edge)
    assert caught.value.errors()[0]["loc"] == ("timestamp",)
    assert "out of range once converted to UTC" in str(caught.value)
    field = CALLS[call][2]
    with pytest.raises(pydantic.ValidationError) as caught:
        build(call, **{field: {"at": {"when": [edge]}}})
    assert f"{field}.at.when[0]: {edge.isoformat()} is out of range" in str(caught.value)


def test_datetimes_at_the_calendar_ends_in_utc_are_accepted() -> None:
    wire = _call("track", timestamp=datetime.max, properties={"first": datetime.min})
    assert wire["timestamp"] == "9999-12-31T23:59:59.999Z"
    assert wire["properties"] == {"first": "0001-01-01T00:00:00.000Z"}


class Huge(enum.IntEnum):
    BIG = 10**4300


@pytest.mark.parametrize("build", PATHS, ids=["client", "model"])
@pytest.mark.parametrize(
    "huge",
    [10**4300, -(10**4300), Huge.BIG, Decimal("1e4300"), Decimal("-1e600000")],
    ids=["int", "negative-int", "int-enum", "decimal", "decimal-1e600000"],
)
def test_numbers_the_receiver_cannot_parse_are_refused(huge: Any, build: Any) -> None:
    """An integer of more than 4300 digits is refused at the call: Python's json (and so a
    collector written in Python) cannot parse it. A Decimal is judged by its exponent, before
    it is converted at all (``Decimal("1e600000")`` took seconds to convert)."""
    with pytest.raises(pydantic.ValidationError) as caught:
        build("track", properties={"n": [huge]})
    assert caught.value.errors()[0]["loc"] == ("properties", "n", 0)
    assert "properties.n[0]: " in str(caught.value)
    assert "4300 digits" in str(caught.value)


def test_largest_parseable_numbers_are_accepted() -> None:
    largest = 10**4300 - 1
    properties = {
        "int": largest,
        "neg": -largest,
        "dec": Decimal("9e4299"),
        "tiny": Decimal("1e-600000"),
    }
    for build in PATHS:
        wire = build("track", properties=properties)
        received = json.loads(json.dumps(wire))  # the receiving side parses it back
        assert received["properties"] == {
            "int": largest,
            "neg": -largest,
            "dec": 9 * 10**4299,
            "tiny": 0.0,
        }


@pytest.mark.parametrize("build", PATHS, ids=["client", "model"])
def test_decimal_beyond_a_float_is_refused(build: Any) -> None:
    """A Decimal that is not an integer becomes a float: one too large for a float is refused
    (it was sent as ``Infinity``, which is not JSON)."""
    with pytest.raises(pydantic.ValidationError, match="too large for a 64-bit float"):
        build("track", properties={"price": Decimal("1" * 400 + ".5")})


def _strict_json(data: bytes) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(data, parse_constant=refuse)


@settings(max_examples=200, deadline=None)
@given(number=st.floats(allow_nan=False, allow_infinity=False))
def test_floats_are_sent_as_standard_json(number: float) -> None:
    """Every finite float is sent as a JSON number that reads back as the same float."""
    for wire in (
        encode(Track(user_id="u", event="e", properties={"x": number})),
        pydantic_core.to_json(  # as the client serializes the fast path's wire dict
            build_wire(
                Track,
                "u",
                None,
                None,
                None,
                None,
                "m",
                {"type": "track", "event": "e", "properties": {"x": number}},
            )
        ),
    ):
        text = wire.decode()
        assert re.search(r'"x":-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?}', text)
        assert _strict_json(wire)["properties"]["x"] == number


def test_paths_through_converted_containers() -> None:
    """Tuples, sets, other mappings and enums are converted before they are cleaned; the
    path still runs through them to the value."""

    class Shape(enum.Enum):
        BAD = ("ok", [b"raw"])

    properties = {
        "pair": [(1, b"x")],
        "tags": [frozenset({b"y"})],
        "view": types.MappingProxyType({"inner": [1.5, float("inf")]}),
        "shape": {"s": Shape.BAD},
    }
    expected = {
        "pair": ("properties.pair[0][1]", ("properties", "pair", 0, 1)),
        "tags": ("properties.tags[0][0]", ("properties", "tags", 0, 0)),
        "view": ("properties.view.inner[1]", ("properties", "view", "inner", 1)),
        "shape": ("properties.shape.s[1][0]", ("properties", "shape", "s", 1, 0)),
    }
    for key, value in properties.items():
        path, loc = expected[key]
        for build in PATHS:
            with pytest.raises(pydantic.ValidationError) as caught:
                build("track", properties={key: value})
            assert f"{path}: " in str(caught.value)
            assert caught.value.errors()[0]["loc"] == loc


def test_deeply_nested_lists_fail_once_each_level() -> None:
    """A value deep inside nested lists is located in one pass over the levels (locating it
    by cleaning each level again would double the work at every level: 2**64 steps)."""
    deep: Any = [b"x"]
    for _ in range(60):
        deep = [0, deep]
    with pytest.raises(pydantic.ValidationError) as caught:
        Track(user_id="u", event="e", properties={"d": deep})
    assert "properties.d" + "[1]" * 60 + "[0]: value of type bytes" in str(caught.value)
    too_deep: Any = ["x"]
    for _ in range(200):
        too_deep = [too_deep]
    with pytest.raises(pydantic.ValidationError, match="nested deeper than 64 levels"):
        Track(user_id="u", event="e", properties={"d": too_deep})


def test_parse_message_takes_numbers_as_written() -> None:
    """A collector accepts every valid JSON number and validates with parse_message (it reads
    an integer past 4300 digits as a Decimal): parse_message keeps such numbers, without
    converting them at length, while the calls and the constructors refuse them."""
    numbers = [Decimal("9" * 4301), Decimal("-" + "1" * 10_000), 10**5000, Decimal("1e600000")]
    for number in numbers:
        data = {"type": "track", "userId": "u", "event": "e", "properties": {"n": [number]}}
        message = parse_message(data)
        assert isinstance(message, Track)
        assert message.properties == {"n": [number]}
        with pytest.raises(pydantic.ValidationError, match="4300 digits"):
            Track(user_id="u", event="e", properties={"n": [number]})
    with pytest.raises(pydantic.ValidationError):
        parse_message({"type": "track", "userId": "u", "event": "e", "properties": {"b": b""}})
    with pytest.raises(pydantic.ValidationError, match="4300 digits"):  # still refused after
        _call("track", properties={"n": 10**4300})
