"""The string formats a tracking plan may name, as pydantic types that check JSON strings.

Generated code writes the same rules its own way: ``email``, ``uri`` and ``uuid`` as strings
with these patterns, ``date-time`` as an aware :class:`~datetime.datetime` and ``date`` as a
:class:`~datetime.date` (sent in the forms checked here), so a value the generated code
accepts is one the plan check accepts.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator

__all__ = ["EMAIL", "FORMATS", "URI", "UUID", "wire_format"]

# RFC 3339, section 5.6 (what JSON Schema's "date-time" means): an offset is required.
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
#: A pragmatic address check (one @, no spaces, a dot in the domain), not RFC 5321 in full.
EMAIL = r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+"
#: RFC 3986, section 3: an absolute URI starts with a scheme and a colon.
URI = r"[A-Za-z][A-Za-z0-9+.-]*:\S+"
UUID = r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"
_EMAIL = re.compile(EMAIL)
_URI = re.compile(URI)
_UUID = re.compile(UUID, re.ASCII)


def check_date_time(value: str) -> str:
    """Accept an RFC 3339 date-time (``2024-03-15T11:59:30.123Z``), offset included."""
    if _DATE_TIME.fullmatch(value):
        try:
            datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
        except ValueError:
            pass
        else:
            return value
    raise ValueError("not a valid date-time (RFC 3339, with a UTC offset)")


def check_date(value: str) -> str:
    """Accept a full date, ``YYYY-MM-DD``."""
    if _DATE.fullmatch(value):
        try:
            date.fromisoformat(value)
        except ValueError:
            pass
        else:
            return value
    raise ValueError("not a valid date (YYYY-MM-DD)")


def check_email(value: str) -> str:
    """Accept something shaped like an e-mail address."""
    if _EMAIL.fullmatch(value):
        return value
    raise ValueError("not a valid email address")


def check_uri(value: str) -> str:
    """Accept an absolute URI (a scheme, a colon, no spaces)."""
    if _URI.fullmatch(value):
        return value
    raise ValueError("not a valid URI (a scheme such as https: and no spaces)")


def check_uuid(value: str) -> str:
    """Accept a UUID in its canonical, hyphenated form."""
    if _UUID.fullmatch(value):
        uuid.UUID(value)
        return value
    raise ValueError("not a valid UUID")


#: The formats understood, by JSON Schema name, and the type that checks a JSON string.
FORMATS: dict[str, Any] = {
    "date-time": Annotated[str, AfterValidator(check_date_time)],
    "date": Annotated[str, AfterValidator(check_date)],
    "email": Annotated[str, AfterValidator(check_email)],
    "uri": Annotated[str, AfterValidator(check_uri)],
    "uuid": Annotated[str, AfterValidator(check_uuid)],
}


def wire_format(name: str) -> Any:
    """The type that checks a JSON string of format ``name``."""
    return FORMATS[name]
