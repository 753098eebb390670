"""The Trak.io destination: Segment calls as Trak.io API v1 requests.

Theory of operation: :meth:`TrakIo.translate` is pure. Trak.io has no batch endpoint, so each
record is a whole request body, ``{"source": "aioanalytics", "data": {...}}``, sent alone
(``max_items=1``) with the token in the ``X-Token`` header:

========  ===================  =================================================================
key       request              from
========  ===================  =================================================================
identify  ``POST /v1/identify``  identify: the traits, plus Trak.io's special person properties
track     ``POST /v1/track``     track; page: a ``Page view`` event, plus ``Viewed ... Page``
                                 events for named and categorized pages when enabled
company   ``POST /v1/company``   group: the company, its traits and the user as a member
alias     ``POST /v1/alias``     alias: ``userId`` becomes another id of ``previousId``
========  ===================  =================================================================

Screen calls map to nothing. 200 and 202 are success; 5xx, 408, 429 and network errors are
retried; any other 4xx (400, 401, 402, 404) is final.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pydantic_core
from pydantic import ConfigDict, Field, PrivateAttr, field_validator, model_validator
from pydantic.alias_generators import to_camel

from .._config import BatchLimits
from .._retry import Decision, RetryPolicy
from .._transports.base import Request, Response
from ._base import Endpoint, Record
from ._http import base_url, json_headers
from ._mapping import distinct_id, full_name, iso_ms, parse_date, without_none
from ._secrets import CredentialSettings

__all__ = ["TrakIo", "TrakIoEndpoint", "person_properties"]

DEFAULT_HOST = "api.trak.io"
#: Trak.io documents no size limit; a record is at most a Segment message (32 KiB) with a
#: few copied traits, so twice that is ample.
MAX_RECORD_BYTES = 64 * 1024
#: The ``source`` field of every body (Segment's integration sent ``"segment"``).
SOURCE = "aioanalytics"
#: Identify traits copied to Trak.io's special person properties (source -> copy); the
#: original key is kept too.
PERSON_COPIES = (("avatar", "avatar_url"), ("account", "account_id"))
#: Group traits copied to Trak.io's special company properties.
COMPANY_COPIES = (("avatar", "avatar_url"), ("address", "location"), ("description", "headline"))
_IGNORED_SETTINGS = ("initialPageview", "autoTrackPageView", "auto_track_page_view")


@dataclass(frozen=True, slots=True, repr=False)
class TrakIoEndpoint:
    """One Trak.io API route; each request carries exactly one record."""

    url: str
    headers: Mapping[str, str]
    limits: BatchLimits
    retry: RetryPolicy
    envelope_bytes: int = 0

    def __repr__(self) -> str:
        return f"TrakIoEndpoint(url={self.url!r})"

    def build(self, records: Sequence[bytes], *, sent_at: str) -> Request:
        """``POST`` the record: it is already the whole body."""
        return Request("POST", self.url, self.headers, records[0])

    def decide(self, response: Response | None, *, batch_size: int) -> Decision:
        """2xx (200, or 202 queued) accepts; 408, 429, 5xx and network errors retry; other
        4xx rejects."""
        return self.retry.decide(
            None if response is None else response.status_code, batch_size=batch_size
        )


class TrakIo(CredentialSettings):
    """The Trak.io destination and its settings.

    Usage::

        Analytics("WRITE_KEY", destinations=[TrakIo(token="TRAKIO_TOKEN")])

    Args:
        token: the API token, sent as the ``X-Token`` header (required).
        track_named_pages: a page with a name is also a ``Viewed <full name> Page`` event.
        track_categorized_pages: a page with a category is also a ``Viewed <category> Page``
            event.
        api_host: a host or URL instead of ``api.trak.io`` (the ``/v1`` path is added).
        max_retries: retries per request after 408, 429, 5xx or a network error.
        backoff_initial, backoff_max: seconds; full-jitter exponential backoff, as
            :class:`~aioanalytics.RetryPolicy` computes it.
        gzip: gzip request bodies.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
    )

    token: str = Field(min_length=1, repr=False)
    track_named_pages: bool = True
    track_categorized_pages: bool = True
    api_host: str = Field(default=DEFAULT_HOST, validate_default=True)
    max_retries: int = Field(default=3, ge=0)
    backoff_initial: float = Field(default=1.0, ge=0)
    backoff_max: float = Field(default=30.0, ge=0)
    gzip: bool = False

    _endpoints: dict[str, Endpoint] = PrivateAttr()

    @model_validator(mode="before")
    @classmethod
    def _drop_browser_settings(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and any(key in data for key in _IGNORED_SETTINGS):
            return {key: value for key, value in data.items() if key not in _IGNORED_SETTINGS}
        return data

    @field_validator("api_host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        return base_url(value)

    def model_post_init(self, context: Any, /) -> None:
        """Build the endpoints once, from the validated settings."""
        retry = RetryPolicy(
            max_retries=self.max_retries,
            backoff_initial=self.backoff_initial,
            backoff_max=self.backoff_max,
        )
        limits = BatchLimits(
            max_items=1,
            max_bytes=MAX_RECORD_BYTES,
            interval=0.0,
            max_message_bytes=MAX_RECORD_BYTES,
        )
        headers = json_headers(X_Token=self.token)
        self._endpoints = {
            key: TrakIoEndpoint(f"{self.api_host}/v1/{key}", headers, limits, retry)
            for key in ("identify", "track", "company", "alias")
        }

    # -- the Destination protocol --------------------------------------------------------

    @property
    def name(self) -> str:
        """``"Trak.io"``, as in a message's ``integrations``."""
        return "Trak.io"

    @property
    def bypasses_segment(self) -> bool:
        """True: the Segment copy says ``{"Trak.io": false}`` so it is not delivered twice."""
        return True

    @property
    def endpoints(self) -> Mapping[str, Endpoint]:
        """``identify``, ``track``, ``company`` and ``alias``."""
        return self._endpoints

    def translate(self, message: Mapping[str, Any], encoded: bytes) -> list[Record]:
        """The records for one Segment message (see the module docstring)."""
        kind = message.get("type")
        if kind == "track":
            return [_record("track", self._track_data(message, message.get("event"), None))]
        if kind == "page":
            return self._page(message)
        if kind == "identify":
            data = {"distinct_id": distinct_id(message), "properties": person_properties(message)}
            return [_record("identify", data)]
        if kind == "group":
            return [_record("company", _company_data(message))]
        if kind == "alias":
            data = {"distinct_id": message.get("previousId"), "alias": message.get("userId")}
            return [_record("alias", data)]
        return []

    def _track_data(
        self,
        message: Mapping[str, Any],
        event: Any,
        properties: Mapping[str, Any] | None,
        channel: Any = None,
    ) -> dict[str, Any]:
        props = without_none(message.get("properties") or {} if properties is None else properties)
        data: dict[str, Any] = {
            "distinct_id": distinct_id(message),
            "event": event,
            "properties": props,
            "time": _time(message),
        }
        channel = props.get("channel", channel)
        if channel is not None:
            data["channel"] = channel
        return data

    def _page(self, message: Mapping[str, Any]) -> list[Record]:
        name = message.get("name") or None
        category = message.get("category") or None
        given = message.get("properties") or {}
        view = without_none(
            {
                "url": given.get("url"),
                "path": given.get("path"),
                "title": name or given.get("title"),
            }
        )
        data: dict[str, Any] = {
            "distinct_id": distinct_id(message),
            "event": "Page view",
            "time": _time(message),
            "properties": view,
        }
        if category is not None:
            data["channel"] = category
        records = [_record("track", data)]
        properties = {**given, "name": name, "category": category}
        if self.track_named_pages and name:
            full = f"{category} {name}" if category else name
            records.append(
                _record(
                    "track", self._track_data(message, f"Viewed {full} Page", properties, category)
                )
            )
        if self.track_categorized_pages and category:
            records.append(
                _record(
                    "track",
                    self._track_data(message, f"Viewed {category} Page", properties, category),
                )
            )
        return records


def person_properties(message: Mapping[str, Any]) -> dict[str, Any]:
    """Identify traits as Trak.io person properties: every trait, plus ``avatar_url``,
    ``account_id``, a ``name`` built from ``firstName``/``lastName`` when absent, and
    ``birthday`` as ISO-8601 with milliseconds."""
    traits = without_none(message.get("traits") or {})
    for source, copy in PERSON_COPIES:
        if source in traits:
            traits[copy] = traits[source]
    if "name" not in traits:
        name = full_name(traits.get("firstName"), traits.get("lastName"))
        if name is not None:
            traits["name"] = name
    birthday = parse_date(traits.get("birthday"))
    if birthday is not None:
        traits["birthday"] = iso_ms(birthday)
    return traits


def _company_data(message: Mapping[str, Any]) -> dict[str, Any]:
    traits = without_none(message.get("traits") or {})
    for source, copy in COMPANY_COPIES:
        if source in traits:
            traits[copy] = traits[source]
    return {
        "company_id": message.get("groupId"),
        "people_distinct_ids": [distinct_id(message)],
        "properties": traits,
    }


def _time(message: Mapping[str, Any]) -> Any:
    # The wire timestamp is already ISO-8601 UTC with milliseconds; normalise anything else.
    value = message.get("timestamp")
    parsed = parse_date(value)
    return value if parsed is None else iso_ms(parsed)


def _record(key: str, data: Mapping[str, Any]) -> Record:
    return Record(key, pydantic_core.to_json({"source": SOURCE, "data": data}))
