"""JSON in and out of the collector: every valid JSON number, and no lone surrogate.

Theory of operation: the standard ``json`` module is used throughout, with three repairs.

- Integers longer than Python's int-to-string limit (4,300 digits by default,
  ``sys.get_int_max_str_digits``) are valid JSON; :func:`loads` keeps each as a
  :class:`~decimal.Decimal`, which has no such limit and is read and written in linear time
  (an ``int`` of 500,000 digits takes seconds either way), and :func:`dumps` writes it back
  digit for digit.
- A float too large for a double (``1e400``) is valid JSON too; it is kept as a ``Decimal``
  and written back as it came, rather than becoming ``inf``. ``NaN`` and ``Infinity`` are not
  JSON and are refused.
- A ``\\ud83d`` escape with no partner (``JSON.stringify`` writes one for half an emoji) is a
  lone surrogate, which no UTF-8 text can hold. :func:`loads` replaces each with U+FFFD, the
  replacement character, as Go's ``encoding/json`` and every browser's ``TextEncoder`` do,
  so the rest of the message is kept.

:func:`dumps` takes the C encoder's fast path and falls back to a small walker only for a
value holding one of those numbers.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

__all__ = ["dumps", "loads"]

# A \uD800-\uDFFF escape in the raw text: the only way a surrogate gets into a decoded str,
# since a surrogate encoded as UTF-8 is invalid UTF-8 and refused before parsing.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _parse_int(text: str) -> int | Decimal:
    try:
        return int(text)
    except ValueError:  # past sys.get_int_max_str_digits(); Decimal has no such limit
        return Decimal(text)


def _parse_float(text: str) -> float | Decimal:
    value = float(text)
    return value if math.isfinite(value) else Decimal(text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(body: bytes | str) -> Any:
    """Parse JSON text; lone surrogates become U+FFFD.

    Raises:
        ValueError: Not JSON (``json.JSONDecodeError``), or ``NaN``/``Infinity``.
        UnicodeDecodeError: Bytes that are not UTF-8.
        RecursionError: Nested deeper than the parser can follow.
    """
    data = json.loads(
        body,
        parse_int=_parse_int,
        parse_float=_parse_float,
        parse_constant=_refuse_constant,
    )
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if _SURROGATE_ESCAPE.search(raw):
        return _repair(data)
    return data


def _repair(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_repair(key): _repair(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_repair(item) for item in value]
    return value


def dumps(value: Any) -> str:
    """Return compact JSON text (UTF-8 characters as they are) for decoded JSON data."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):  # a Decimal, or an int past the str-digits limit
        return "".join(_encode(value))


def _encode(value: Any) -> list[str]:
    if isinstance(value, dict):
        parts = ["{"]
        for index, (key, item) in enumerate(value.items()):
            parts.append("," if index else "")
            parts.append(json.dumps(str(key), ensure_ascii=False))
            parts.append(":")
            parts.extend(_encode(item))
        parts.append("}")
        return parts
    if isinstance(value, list | tuple):
        parts = ["["]
        for index, item in enumerate(value):
            parts.append("," if index else "")
            parts.extend(_encode(item))
        parts.append("]")
        return parts
    if isinstance(value, Decimal):
        return [str(value)]
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return [json.dumps(value)]
        except ValueError:  # past the str-digits limit
            return [str(Decimal(value))]
    return [json.dumps(value, ensure_ascii=False, allow_nan=False)]
