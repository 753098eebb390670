"""Wire dicts, fast: the common calls' messages built without a model, message ids made in
bulk, and a cached clock.

``track()`` and friends build the wire dict directly for the common case (plain strings, JSON
properties, no timestamp or an aware/naive datetime) instead of constructing a model and
dumping it: the same rules as the models in :mod:`aioanalytics._models`, a quarter of the
CPU. Anything irregular, including every input that is invalid, goes through the model, so
errors always come from pydantic and name the field. tests/test_models.py checks that both
paths give the same wire JSON. :func:`track_wire` is the one call specialised further: a
user id, an event and plain properties.

Like the models, this module knows no I/O.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ._models import _as_utc, _clean, _Message, format_timestamp
from ._version import __version__

__all__ = [
    "DEFAULT_CONTEXT_WIRE",
    "build_wire",
    "new_message_id",
    "now_timestamp",
    "top_up_ids",
    "track_wire",
    "wire_dict",
]

#: Message ids are made in bulk, ahead of the calls that take them: the client's flusher tops
#: the pool up whenever it wakes, so a call usually just pops one. A call that finds the pool
#: empty (nothing let the flusher run) makes a small batch itself.
_ID_TOP_UP = 256
_ID_LOW = 512
_ID_SMALL_BATCH = 32
_ids: list[str] = []


def _make_ids(count: int) -> list[str]:
    """``count`` random (version 4) UUID strings from one ``os.urandom`` call, laid out with a
    few dozen slice assignments over all of them at once rather than formatted one by one."""
    digits = os.urandom(16 * count).hex().encode()
    out = bytearray(36 * count)
    for source, target in enumerate(_TARGETS):
        out[target::36] = digits[source::32]
    dashes = b"-" * count
    for target in (8, 13, 18, 23):
        out[target::36] = dashes
    out[14::36] = b"4" * count  # the version
    out[19::36] = digits[16::32].translate(_VARIANT)  # the variant: 8, 9, a or b
    text = out.decode()
    return [text[i : i + 36] for i in range(0, 36 * count, 36)]


#: Where each of an id's 32 hex digits goes in its 36-character form.
_TARGETS = [i + (i >= 8) + (i >= 12) + (i >= 16) + (i >= 20) for i in range(32)]
_VARIANT = bytes.maketrans(b"0123456789abcdef", b"89ab89ab89ab89ab")


def new_message_id() -> str:
    """A random (version 4) UUID string."""
    try:
        return _ids.pop()
    except IndexError:
        _ids.extend(_make_ids(_ID_SMALL_BATCH))
        return _ids.pop()


def top_up_ids() -> None:
    """Make message ids ahead of the calls that will take them (cheap when the pool is full)."""
    if len(_ids) < _ID_LOW:
        _ids.extend(_make_ids(_ID_TOP_UP))


#: "000Z" to "999Z": the end of a timestamp, looked up rather than formatted.
_MILLIS = [f"{ms:03d}Z" for ms in range(1000)]
#: The last millisecond formatted, its timestamp, the last second and its "...:SS." prefix.
_clock: list[Any] = [-1, "", -1, ""]


def now_timestamp(
    _time: Callable[[], float] = time.time, _clock: list[Any] = _clock, _millis: list[str] = _MILLIS
) -> str:
    """The current time in wire format: formatted in full once per second; within a second
    only the milliseconds change, and they are looked up. (Its state sits in one list, bound
    at definition, so that a call after the process slept touches as little as it can.)"""
    ms = int(_time() * 1000)
    if ms == _clock[0]:
        stamp: str = _clock[1]
        return stamp
    second = ms // 1000
    if second != _clock[2]:
        _clock[3] = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        _clock[2] = second
    stamp = _clock[1] = _clock[3] + _millis[ms - second * 1000]
    _clock[0] = ms
    return stamp


def _ids_after_fork() -> None:
    _ids.clear()  # a child must never hand out the ids its parent made


def _clock_after_fork() -> None:
    _clock[:] = [-1, "", -1, ""]  # the child formats its own first stamp


os.register_at_fork(after_in_child=_ids_after_fork)
os.register_at_fork(after_in_child=_clock_after_fork)

DEFAULT_CONTEXT_WIRE: dict[str, Any] = {"library": {"name": "aioanalytics", "version": __version__}}
_STR_CONTEXT_KEYS = ("ip", "userAgent", "locale", "timezone")


def _fast_context(context: Any) -> dict[str, Any] | None:
    if context is None:
        return DEFAULT_CONTEXT_WIRE
    if type(context) is not dict or "user_agent" in context:
        return None
    cleaned: dict[str, Any] = _clean(context)
    if None in cleaned.values():  # the model leaves out None-valued context keys
        cleaned = {key: value for key, value in cleaned.items() if value is not None}
    for key in _STR_CONTEXT_KEYS:
        value = cleaned.get(key)
        if value is not None and type(value) is not str:
            return None
    active = cleaned.get("active")
    traits = cleaned.get("traits")
    if (active is not None and type(active) is not bool) or (
        traits is not None and type(traits) is not dict
    ):
        return None
    library = cleaned.get("library")
    if library is None:
        return {"library": DEFAULT_CONTEXT_WIRE["library"], **cleaned}
    if (
        type(library) is not dict
        or len(library) != 2
        or type(library.get("name")) is not str
        or type(library.get("version")) is not str
    ):
        return None
    return cleaned


def build_wire(
    model: type[_Message],
    user_id: Any,
    anonymous_id: Any,
    context: Any,
    timestamp: Any,
    integrations: Any,
    message_id: Any,
    fields: dict[str, Any],
) -> dict[str, Any]:
    """Validate one call's arguments and return its wire dict.

    ``fields`` holds the type-specific wire fields (``type``, ``event``, ...); the model
    declares which of them are JSON objects to clean (``_objects``: properties, traits) and
    which must be non-empty strings (``_required``; ``userId`` there means ``user_id``).
    """
    wire = None
    objects = model._objects
    for key in model._required:
        if not fields.get(key, user_id):
            break
    else:
        try:
            wire = _fast_wire(
                user_id, anonymous_id, context, timestamp, integrations, message_id, fields, objects
            )
        except ValueError:
            pass
    if wire is not None:
        return wire
    kwargs = {
        "user_id": user_id,
        "anonymous_id": anonymous_id,
        "context": context,
        "integrations": integrations,
        **{_SNAKE.get(k, k): v for k, v in fields.items() if v is not None},
    }
    if timestamp is not None:
        kwargs["timestamp"] = timestamp
    if message_id is not None:
        kwargs["message_id"] = message_id
    return wire_dict(model(**kwargs))


_SNAKE = {"groupId": "group_id", "previousId": "previous_id"}


def track_wire(user_id: Any, event: Any, properties: Any) -> dict[str, Any] | None:
    """The most common call, ``track(user_id=..., event=..., properties=...)`` with nothing
    else: its wire dict (as :func:`build_wire` makes it), or ``None`` to take that path."""
    if type(user_id) is not str or not user_id or type(event) is not str or not event:
        return None
    try:
        message_id = _ids.pop()
    except IndexError:
        message_id = new_message_id()
    wire = {
        "userId": user_id,
        "messageId": message_id,
        "timestamp": now_timestamp(),
        "context": DEFAULT_CONTEXT_WIRE,
        "type": "track",
        "event": event,
    }
    if properties is not None:
        if type(properties) is not dict:
            return None
        try:
            wire["properties"] = _clean(properties)
        except ValueError:
            return None  # build_wire names what is wrong
    return wire


def wire_dict(message: _Message) -> dict[str, Any]:
    """A model's wire dict: camelCase keys, JSON values, no ``None`` fields."""
    return message.model_dump(mode="json", by_alias=True, exclude_none=True)


def _fast_wire(
    user_id: Any,
    anonymous_id: Any,
    context: Any,
    timestamp: Any,
    integrations: Any,
    message_id: Any,
    fields: dict[str, Any],
    objects: tuple[str, ...],
) -> dict[str, Any] | None:
    if not ((type(user_id) is str and user_id) or (type(anonymous_id) is str and anonymous_id)) or (
        user_id is not None and type(user_id) is not str
    ):
        return None
    if anonymous_id is not None and type(anonymous_id) is not str:
        return None
    if message_id is None:
        message_id = new_message_id()
    elif type(message_id) is not str or not 0 < len(message_id) < 100:
        return None
    if timestamp is None:
        stamp = now_timestamp()
    elif isinstance(timestamp, datetime):
        stamp = format_timestamp(_as_utc(timestamp))
    else:
        return None
    wire_context: dict[str, Any] | None = DEFAULT_CONTEXT_WIRE
    if context is not None:
        wire_context = _fast_context(context)
        if wire_context is None:
            return None
    wire: dict[str, Any] = {}
    if user_id is not None:
        wire["userId"] = user_id
    if anonymous_id is not None:
        wire["anonymousId"] = anonymous_id
    wire["messageId"] = message_id
    wire["timestamp"] = stamp
    wire["context"] = wire_context
    if integrations is not None:
        if type(integrations) is not dict:
            return None
        wire["integrations"] = _clean(integrations)
    for key, value in fields.items():
        if value is None:
            continue
        if key in objects:
            if type(value) is not dict:
                return None
            value = _clean(value)
        elif type(value) is not str:
            return None
        wire[key] = value
    return wire
