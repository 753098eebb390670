"""One line of text for a message that failed validation, naming the field at fault.

The collector answers it in a 400 (``batch[3].event: Field required``) and ``aioanalytics
import`` prints it for a bad line; both validate with :func:`aioanalytics.parse_message`,
whose discriminated union puts the message type first in every error location.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

__all__ = ["describe_error"]

_TAG_ERRORS = frozenset({"union_tag_not_found", "union_tag_invalid"})


def describe_error(exc: ValidationError, data: Mapping[str, Any], *, prefix: str = "") -> str:
    """Describe the first error of ``exc``, raised while validating ``data``.

    Args:
        exc: What :func:`aioanalytics.parse_message` raised.
        data: The wire dict it was given.
        prefix: Where the message sits, such as ``"batch[3]"``.

    Returns:
        ``"<prefix>.<field>: <reason>"``, e.g. ``"batch[3].event: Field required"``; a rule
        about the whole message (no userId nor anonymousId) names only the prefix, if any.
    """
    errors = exc.errors(include_url=False)
    if errors and errors[0]["type"] == "json_value":
        # A value inside properties/traits/context/integrations: its path is in the error,
        # written as it reads in Python (``properties.items[0].raw``).
        ctx = errors[0].get("ctx") or {}
        return join(prefix, str(ctx.get("path", "")), str(ctx.get("reason", errors[0]["msg"])))
    first = errors[0] if errors else {"loc": (), "msg": "invalid message", "type": ""}
    loc = [str(part) for part in first["loc"]]
    # The discriminated union reports ("track", "event"); the type is not the faulty field.
    if loc and loc[0] == data.get("type"):
        loc = loc[1:]
    if not loc and first["type"] in _TAG_ERRORS:
        loc = ["type"]
    reason = str(first["msg"]).removeprefix("Value error, ")
    return join(prefix, ".".join(loc), reason)


def join(prefix: str, path: str, reason: str) -> str:
    """Return ``"prefix.path: reason"``, leaving out whichever of the two is empty."""
    where = f"{prefix}.{path}" if prefix and path else prefix or path
    return f"{where}: {reason}" if where else reason
