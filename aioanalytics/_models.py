"""The Segment spec's messages as frozen pydantic models.

Python attributes are snake_case (``user_id``); the wire is camelCase (``userId``), as in the
Segment HTTP API (https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/).

Rules enforced at construction, so bad input fails at the call site and never at flush time:

1. Every message needs ``userId`` or ``anonymousId``; ``alias`` needs ``userId`` and
   ``previousId``; ``group`` needs ``groupId``; ``track`` needs a non-empty ``event``.
2. ``messageId`` defaults to a uuid4 string and must be shorter than 100 characters.
3. ``timestamp`` defaults to now. A naive datetime is taken as UTC. On the wire it is UTC with
   millisecond precision and a ``Z`` suffix: ``2024-03-15T11:59:30.123Z``.
4. Properties, traits, context and integrations hold JSON values, plus ``datetime`` (ISO-8601,
   naive taken as UTC), ``date`` (``YYYY-MM-DD``), ``Decimal`` (a JSON number), ``UUID``
   (its string), ``Enum`` (its value), ``tuple``, ``set`` and ``frozenset`` (arrays). Anything
   else (bytes, arbitrary objects, NaN, Infinity, non-string keys) is rejected, and so are
   integers of more than 4300 digits (Python's ``json`` refuses to parse them) and datetimes
   that fall outside years 1-9999 once converted to UTC. The error names the value's path:
   ``properties.order.items[0].raw``. (:func:`parse_message`, which a collector validates
   with, takes numbers of any size as written.)
5. ``context.library`` is ``{"name": "aioanalytics", "version": <package version>}`` unless the
   caller sets one.
"""

from __future__ import annotations

import enum
import math
import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

from ._version import __version__

__all__ = [
    "Alias",
    "Batch",
    "Context",
    "Group",
    "Identify",
    "Library",
    "Message",
    "Page",
    "Screen",
    "Track",
    "encode",
    "parse_message",
]

#: Nesting deeper than this in properties/traits/context is rejected (a JSON document that
#: deep is a bug, and it keeps the recursive walk below safe).
MAX_DEPTH = 64

#: Integers with more digits than this are rejected: Python's ``json`` (and so a collector
#: written in Python) refuses to parse them (``sys.get_int_max_str_digits()``, 4300 by default).
MAX_INT_DIGITS = 4300
_INT_LIMIT = 10**MAX_INT_DIGITS
_INT_FLOOR = -_INT_LIMIT  # (negating the limit in each test would build a new big int)
#: True while :func:`parse_message` validates: a number is then taken as written, whatever its
#: size (a collector accepts every valid JSON number, and validates with parse_message), and a
#: Decimal past the limits stays a Decimal rather than being converted at length. The calls
#: and the model constructors refuse what Python's ``json`` could not read back.
_NUMBERS_AS_WRITTEN: ContextVar[bool] = ContextVar("numbers_as_written", default=False)

_UTC_SUFFIX = "+00:00"


def format_timestamp(value: datetime) -> str:
    """Format an aware datetime as the wire wants it: UTC, milliseconds, ``Z``.

    Raises:
        ValueError: the datetime falls outside years 1-9999 once converted to UTC.
    """
    if value.tzinfo is not UTC:
        try:
            value = value.astimezone(UTC)
        except OverflowError:
            raise ValueError(f"{value.isoformat()} is out of range once converted to UTC") from None
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"


def _as_utc(value: datetime) -> datetime:
    # A naive datetime is taken as UTC (documented in the README).
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class InvalidValue(ValueError):
    """A value that is not JSON data: ``reason`` says why, ``path`` where (innermost first,
    filled in as the error leaves each container; ``child`` is the object it is leaving,
    which is how a list finds the index of the item that failed without cleaning it again)."""

    def __init__(self, reason: str, value: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.value = value
        self.child = value
        self.path: list[str | int] = []

    def where(self, field: str) -> str:
        """The value's path below ``field``: ``properties.order.items[0].raw``."""
        out = field
        for part in reversed(self.path):
            if isinstance(part, int):
                out += f"[{part}]"
            elif part and not _AWKWARD_KEY.intersection(part):
                out += f".{part}" if out else part
            else:
                out += f"[{part!r}]"
        return out


_AWKWARD_KEY = frozenset(".[]'\" \n")
_PLAIN = frozenset({str, bool, type(None)})


def _clean(value: Any, depth: int = 0) -> Any:
    """Return ``value`` as plain JSON data, or raise :class:`InvalidValue` naming what is wrong.

    Containers that are already plain JSON are returned as they are, not copied: the result
    is serialized right away, so sharing the caller's objects is safe and saves the copy.
    """
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        if _INT_FLOOR < value < _INT_LIMIT or _NUMBERS_AS_WRITTEN.get():
            return value
        raise InvalidValue(f"integer of more than {MAX_INT_DIGITS} digits", value)
    if kind is float:
        if math.isfinite(value):
            return value
        raise InvalidValue(f"{value!r} is not a valid JSON number", value)
    if depth >= MAX_DEPTH:
        raise InvalidValue(f"nested deeper than {MAX_DEPTH} levels", value)
    if kind is dict:
        out = None
        for key, item in value.items():
            if type(key) is not str:
                raise InvalidValue(
                    f"keys must be strings, not {type(key).__name__} ({key!r})", value
                )
            kind = type(item)
            if (
                kind in _PLAIN
                or (kind is int and _INT_FLOOR < item < _INT_LIMIT)
                or (kind is float and math.isfinite(item))
            ):
                continue
            try:
                cleaned = _clean(item, depth + 1)
            except InvalidValue as exc:
                exc.path.append(key)
                exc.child = value
                raise
            if cleaned is not item:
                if out is None:
                    out = dict(value)
                out[key] = cleaned
        return value if out is None else out
    if kind is list:
        try:
            items = [_clean(item, depth + 1) for item in value]
        except InvalidValue as exc:
            _add_index(exc, value)
            raise
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if kind is tuple:
        return _clean_items(value, depth)
    try:
        return _clean_other(value, depth)
    except InvalidValue as exc:
        exc.child = value  # a converted value (a Mapping, an Enum, a set) failed as itself
        raise


def _clean_items(value: Any, depth: int) -> list[Any]:
    try:
        return [_clean(item, depth + 1) for item in value]
    except InvalidValue as exc:
        _add_index(exc, value)
        raise


def _add_index(exc: InvalidValue, items: Any) -> None:
    # The items are cleaned in order and the first failure stops the cleaning: the failed
    # item is the first that is the object the error left.
    for index, item in enumerate(items):
        if item is exc.child:
            exc.path.append(index)
            break
    exc.child = items


def _clean_other(value: Any, depth: int) -> Any:
    # The less common types, kept out of _clean so the common path stays short.
    if isinstance(value, enum.Enum):
        return _clean(value.value, depth)
    if isinstance(value, datetime):
        try:
            return format_timestamp(_as_utc(value))
        except ValueError as exc:
            raise InvalidValue(str(exc), value) from None
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return _clean_decimal(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):  # subclasses of the JSON scalars become the plain type
        return str(value)
    if isinstance(value, int):
        return _clean(int(value))
    if isinstance(value, float):
        return _clean(float(value))
    if isinstance(value, Mapping):
        return _clean(dict(value), depth)
    if isinstance(value, list | tuple | set | frozenset):
        return _clean_items(value, depth)
    raise InvalidValue(f"value of type {type(value).__name__} is not JSON-serializable", value)


def _clean_decimal(value: Decimal) -> int | float | Decimal:
    # An integral Decimal becomes an int, any other a float. The size is checked from the
    # exponent first: converting Decimal("1e600000") to an int would take seconds.
    if not value.is_finite():
        raise InvalidValue(f"{value!r} is not a valid JSON number", value)
    if value.adjusted() >= MAX_INT_DIGITS:
        if _NUMBERS_AS_WRITTEN.get():
            return value
        raise InvalidValue(
            f"Decimal of magnitude 1e{value.adjusted()} has more than {MAX_INT_DIGITS} digits",
            value,
        )
    if value == value.to_integral_value():
        return int(value)
    number = float(value)
    if math.isfinite(number):
        return number
    if _NUMBERS_AS_WRITTEN.get():
        return value
    raise InvalidValue(
        f"Decimal of magnitude 1e{value.adjusted()} is too large for a 64-bit float", value
    )


def invalid_value_error(
    exc: InvalidValue, title: str, loc: tuple[str, ...], where: str
) -> ValidationError:
    """A :class:`ValidationError` for ``exc``, raised under the field ``loc``: its location
    runs down to the value (``("properties", "order", "items", 0, "raw")``) and its message
    names the path from the message's top, ``where`` (``"context.traits"``), downwards."""
    details: list[InitErrorDetails] = [
        {
            "type": PydanticCustomError(
                "json_value", "{path}: {reason}", {"path": exc.where(where), "reason": exc.reason}
            ),
            "loc": (*loc, *reversed(exc.path)),
            "input": exc.value,
        }
    ]
    return ValidationError.from_exception_data(title, details)


def _clean_object(value: Any, field: str, where: str | None = None) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        # ValueError, not TypeError: pydantic turns it into a ValidationError naming the field.
        raise ValueError(f"expected an object (dict), got {type(value).__name__}")  # noqa: TRY004
    try:
        cleaned: dict[str, Any] = _clean(value if type(value) is dict else dict(value))
    except InvalidValue as exc:
        # Raised inside a validator, a ValidationError's errors are kept, under the field.
        raise invalid_value_error(exc, field, (), field if where is None else where) from None
    return cleaned


Timestamp = Annotated[
    datetime,
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]

_MODEL_CONFIG = ConfigDict(
    frozen=True,
    extra="forbid",
    alias_generator=to_camel,
    validate_by_name=True,
    validate_by_alias=True,
    serialize_by_alias=True,
)


class Library(BaseModel):
    """``context.library``: who sent the message."""

    model_config = _MODEL_CONFIG
    name: str
    version: str


_LIBRARY = Library(name="aioanalytics", version=__version__)


class Context(BaseModel):
    """The spec's ``context`` object: ``library`` is set for you; any other key passes through.

    Known keys have attributes (``ip``, ``active``, ``user_agent``, ...); others are kept as
    given, e.g. ``Context(ip="1.2.3.4", device={"token": "..."})``.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="allow",
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )
    library: Library = _LIBRARY
    ip: str | int | None = None  # ``ip: 0`` tells some destinations (Mixpanel) not to geolocate
    active: bool | None = None
    user_agent: str | None = None
    locale: str | None = None
    timezone: str | None = None
    traits: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _clean_extras(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            known = _CONTEXT_KEYS
            cleaned = {}
            for key, value in data.items():
                if type(key) is not str:
                    raise ValueError(f"keys must be strings, not {type(key).__name__}")
                if key in known:
                    cleaned[key] = value
                    continue
                try:
                    cleaned[key] = _clean(value, 1)
                except InvalidValue as exc:
                    exc.path.append(key)
                    raise invalid_value_error(exc, "Context", (), "context") from None
            return cleaned
        return data

    @field_validator("traits", mode="before")
    @classmethod
    def _clean_traits(cls, value: Any) -> Any:
        return _clean_object(value, "traits", "context.traits")


_CONTEXT_KEYS = frozenset(
    {"library", "ip", "active", "user_agent", "userAgent", "locale", "timezone", "traits"}
)
_DEFAULT_CONTEXT = Context()


def _new_message_id() -> str:
    return str(uuid.uuid4())


def _now() -> datetime:
    return datetime.now(UTC)


class _Message(BaseModel):
    """Fields common to every spec call.

    Each type declares its JSON objects (``_objects``: cleaned like ``integrations``) and the
    fields that must be non-empty strings (``_required``), by wire name.
    """

    model_config = _MODEL_CONFIG
    _objects: ClassVar[tuple[str, ...]] = ()
    _required: ClassVar[tuple[str, ...]] = ()

    user_id: str | None = None
    anonymous_id: str | None = None
    message_id: str = Field(default_factory=_new_message_id, min_length=1, max_length=99)
    timestamp: Timestamp = Field(default_factory=_now)
    context: Context = _DEFAULT_CONTEXT
    integrations: dict[str, Any] | None = None

    @field_validator("timestamp", mode="after")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        if value.tzinfo is not UTC:
            format_timestamp(value)  # raises ValueError if it is out of range in UTC
        return value

    @field_validator("context", mode="before")
    @classmethod
    def _default_context(cls, value: Any) -> Any:
        return _DEFAULT_CONTEXT if value is None else value

    @field_validator("integrations", "properties", "traits", mode="before", check_fields=False)
    @classmethod
    def _clean_objects(cls, value: Any, info: ValidationInfo) -> Any:
        return _clean_object(value, info.field_name or "")

    @model_validator(mode="after")
    def _check_ids(self) -> _Message:
        if not self.user_id and not self.anonymous_id:
            raise ValueError("userId or anonymousId is required")
        return self


class Identify(_Message):
    """``identify``: who the user is, and their traits."""

    _objects = ("traits",)
    type: Literal["identify"] = "identify"
    traits: dict[str, Any] | None = None


class Track(_Message):
    """``track``: an action the user performed, named by ``event``."""

    _objects = ("properties",)
    _required = ("event",)
    type: Literal["track"] = "track"
    event: str = Field(min_length=1)
    properties: dict[str, Any] | None = None


class Page(_Message):
    """``page``: the user viewed a web page."""

    _objects = ("properties",)
    type: Literal["page"] = "page"
    name: str | None = None
    category: str | None = None
    properties: dict[str, Any] | None = None


class Screen(_Message):
    """``screen``: the user viewed a screen of a mobile app."""

    _objects = ("properties",)
    type: Literal["screen"] = "screen"
    name: str | None = None
    category: str | None = None
    properties: dict[str, Any] | None = None


class Group(_Message):
    """``group``: the user belongs to a group (account, company, team)."""

    _objects = ("traits",)
    _required = ("groupId",)
    type: Literal["group"] = "group"
    group_id: str = Field(min_length=1)
    traits: dict[str, Any] | None = None


class Alias(_Message):
    """``alias``: ``previous_id`` and ``user_id`` are the same person."""

    _required = ("previousId", "userId")
    type: Literal["alias"] = "alias"
    previous_id: str = Field(min_length=1)

    @model_validator(mode="after")
    def _check_ids(self) -> Alias:
        if not self.user_id:
            raise ValueError("alias requires userId (and previousId)")
        return self


Message = Annotated[
    Identify | Track | Page | Screen | Group | Alias,
    Discriminator("type"),
]
"""Any one of the six spec messages, discriminated on ``type``."""

_MESSAGE_ADAPTER: TypeAdapter[Message] = TypeAdapter(Message)


def parse_message(data: Mapping[str, Any]) -> Message:
    """Validate a wire-format dict (camelCase keys, with ``type``) into its model.

    Numbers are taken as written, whatever their size: an integer past 4300 digits, or a
    ``Decimal`` past them or past a float (as a collector reads such a JSON number), is kept
    as it is, where the calls and the model constructors refuse it.
    """
    token = _NUMBERS_AS_WRITTEN.set(True)
    try:
        return _MESSAGE_ADAPTER.validate_python(data)
    finally:
        _NUMBERS_AS_WRITTEN.reset(token)


def encode(message: Message) -> bytes:
    """Serialize a message to its wire JSON, once: size checks and batches reuse the bytes."""
    return message.__pydantic_serializer__.to_json(message, by_alias=True, exclude_none=True)


class Batch(BaseModel):
    """The ``/v1/batch`` envelope: ``{"batch": [...], "sentAt": ...}``."""

    model_config = _MODEL_CONFIG
    batch: list[Message]
    sent_at: Timestamp | None = None
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None
