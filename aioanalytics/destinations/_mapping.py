"""Field derivations that destination translations share (segmentio-facade's rules).

Everything here is pure: wire dicts in, plain values out. Nothing reads the clock.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from .._models import format_timestamp

__all__ = [
    "compact_json",
    "distinct_id",
    "epoch_ms",
    "epoch_seconds",
    "full_name",
    "iso_ms",
    "lookup",
    "normalize_key",
    "parse_date",
    "without_none",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NOT_ALNUM = re.compile(r"[^a-z0-9]")


def distinct_id(message: Mapping[str, Any]) -> Any:
    """``userId`` if present, else ``anonymousId``."""
    return message.get("userId") or message.get("anonymousId")


def lookup(data: Any, *path: str) -> Any:
    """``data[path[0]][path[1]]...``, or ``None`` where a level is missing or not an object."""
    for key in path:
        if type(data) is not dict and not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def normalize_key(key: str) -> str:
    """A key as obj-case compares it: lower case, letters and digits only (``First Name`` is
    ``firstname``)."""
    return _NOT_ALNUM.sub("", key.lower())


def parse_date(value: Any) -> datetime | None:
    """An ISO-8601 date or date-time string as an aware UTC datetime (a value without a zone is
    taken as UTC), or ``None`` if ``value`` is not one."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def epoch_seconds(value: datetime) -> int:
    """Whole seconds since the epoch, rounded down."""
    return (value - _EPOCH) // timedelta(seconds=1)


def epoch_ms(value: datetime) -> int:
    """Whole milliseconds since the epoch, rounded down."""
    return (value - _EPOCH) // timedelta(milliseconds=1)


def iso_ms(value: datetime) -> str:
    """``2024-03-15T11:59:30.123Z``: ISO-8601 in UTC with milliseconds."""
    return format_timestamp(value)


def full_name(first: Any, last: Any) -> str | None:
    """``"<first> <last>"`` from whichever of the two is a non-empty string, else ``None``."""
    parts = [part.strip() for part in (first, last) if isinstance(part, str) and part.strip()]
    return " ".join(parts) or None


def without_none(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` without the keys whose value is ``None``."""
    return {key: value for key, value in data.items() if value is not None}


def compact_json(value: Any) -> str:
    """JSON text as JavaScript's ``JSON.stringify`` writes it: no spaces, non-ASCII kept."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
