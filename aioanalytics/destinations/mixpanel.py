"""The Mixpanel destination: Segment calls as Mixpanel events and profile updates.

Theory of operation: :meth:`Mixpanel.translate` is pure. It maps one Segment message to
records for four endpoints, each a JSON object that Mixpanel takes in a JSON array body:

=========  ==========================  =====================================================
key        request                     records
=========  ==========================  =====================================================
track      ``POST /track?verbose=1``   events at most 5 days old
import     ``POST /import?strict=1``   older events (HTTP Basic: the secret or a service
                                       account), at most 5 years old
engage     ``POST /engage?verbose=1``  profile updates: identify ``$set`` and ``$union``,
                                       increments (``$add`` and ``$set``), charges
alias      ``POST /track?verbose=1``   ``$create_alias``, one per request so it leaves at once
=========  ==========================  =====================================================

The client batches, sends and retries; :class:`MixpanelEndpoint` says what each answer means
(``200 {"status": 0}`` is a rejection, 413 splits the batch, 429 and 5xx back off).
Group calls map to nothing, and so do identify calls and profile side effects unless
``people`` is on. Super properties cannot be set over HTTP, so ``superProperties`` is
accepted and ignored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pydantic_core
from pydantic import ConfigDict, Field, PrivateAttr, field_validator, model_validator
from pydantic.alias_generators import to_camel

from .._config import BatchLimits
from .._retry import Decision, RetryPolicy
from .._transports.base import Request, Response
from ._base import Endpoint, Record
from ._http import base_url, basic_auth, json_headers
from ._mapping import (
    compact_json,
    distinct_id,
    epoch_ms,
    epoch_seconds,
    full_name,
    lookup,
    normalize_key,
    parse_date,
)
from ._secrets import CredentialSettings

__all__ = [
    "Mixpanel",
    "MixpanelEndpoint",
    "MixpanelRetryPolicy",
    "ServiceAccount",
    "insert_id",
    "mobile_properties",
    "profile_date",
    "revenue",
]

logger = logging.getLogger(__name__)

#: Mixpanel's hosts: US (default), EU and India data residency.
US_HOST = "api.mixpanel.com"
EU_HOST = "api-eu.mixpanel.com"
IN_HOST = "api-in.mixpanel.com"
#: ``/track`` takes events at most 5 days old; older ones need ``/import``.
TRACK_MAX_AGE = 5 * 86_400.0
#: Segment's integration refused events more than 5 years old (``ms('5y')``: 365.25-day years).
MAX_AGE = 5 * 365.25 * 86_400.0
#: Mixpanel answers 413 above 2 MiB of uncompressed JSON per request: stay under it.
MAX_REQUEST_BYTES = 2_000_000
#: One event must stay under 1 MB of JSON.
MAX_RECORD_BYTES = 1_000_000
#: The most records in one ``/track``, ``/import`` or ``/engage`` request.
MAX_BATCH_ITEMS = 2000
#: Property names mixpanel.js breaks on (``length``) or hides (``bucket``): passed, with a warning.
RESERVED_PROPERTIES = ("length", "bucket")
#: ``distinct_id`` values that Mixpanel treats as placeholders and refuses on ``/import``.
PLACEHOLDER_IDS = frozenset(
    {
        "anon",
        "anonymous",
        "null",
        "none",
        "nil",
        "undefined",
        "unknown",
        "n/a",
        "na",
        "0",
        "-1",
        "true",
        "false",
        "[]",
        "{}",
        "00000000-0000-0000-0000-000000000000",
        "<nil>",
    }
)
#: Segment trait -> Mixpanel special profile property, in precedence order (``created`` wins
#: over ``createdAt``). Matching ignores case and anything but letters and digits.
TRAIT_ALIASES: tuple[tuple[str, str], ...] = (
    ("created", "$created"),
    ("createdAt", "$created"),
    ("email", "$email"),
    ("firstName", "$first_name"),
    ("lastName", "$last_name"),
    ("name", "$name"),
    ("username", "$username"),
    ("phone", "$phone"),
    ("lastSeen", "$last_seen"),
    ("token", "trait_token"),  # ``token`` is reserved by Mixpanel
)
_ALIAS_RANK = {normalize_key(trait): rank for rank, (trait, _) in enumerate(TRAIT_ALIASES)}
_SPECIAL_KEYS = frozenset(target for _, target in TRAIT_ALIASES)
_INSERT_ID = re.compile(r"[A-Za-z0-9-]{1,36}")
_SPECIAL_PROPERTIES = frozenset({"username", "searchengine", "referrer"})
_MOBILE_CONTEXT = ("device", "os", "network", "screen")
_UTM = (
    ("utm_source", "source"),
    ("utm_medium", "medium"),
    ("utm_term", "term"),
    ("utm_content", "content"),
    ("utm_campaign", "name"),
)
_PAGE_WORDS = {"page": "Page", "screen": "Screen"}
_IGNORED_SETTINGS = ("apiKey", "crossSubdomainCookie", "persistence", "secureCookie")
_WARN_LIMIT = 1000  # names remembered for once-only warnings


@dataclass(frozen=True, slots=True)
class MixpanelRetryPolicy(RetryPolicy):
    """Mixpanel's backoff: doubling, capped, plus a fixed band of jitter.

    Before retry ``n``::

        delay = min(backoff_max, backoff_initial * 2 ** (n - 1))
                + jitter_min + random() * (jitter_max - jitter_min)

    unless the answer had ``Retry-After``, which is then honoured as
    :class:`~aioanalytics.RetryPolicy` honours it.

    >>> MixpanelRetryPolicy(backoff_initial=2.0, jitter_min=1.0, jitter_max=5.0).backoff(
    ...     2, random=0.5
    ... )
    7.0
    """

    jitter_min: float = 1.0
    jitter_max: float = 5.0

    def __post_init__(self) -> None:
        RetryPolicy.__post_init__(self)
        if not 0 <= self.jitter_min <= self.jitter_max:
            raise ValueError("jitter needs 0 <= jitter_min <= jitter_max")

    def backoff(self, retry: int, *, random: float, server_wait: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based); ``random`` is in [0, 1)."""
        if server_wait is not None:
            return RetryPolicy.backoff(self, retry, random=random, server_wait=server_wait)
        base = min(self.backoff_max, self.backoff_initial * 2.0 ** (retry - 1))
        return base + self.jitter_min + random * (self.jitter_max - self.jitter_min)


class _Health:
    """The last authentication failure seen by any endpoint of one destination."""

    __slots__ = ("error",)

    def __init__(self) -> None:
        self.error: str | None = None


@dataclass(frozen=True, slots=True, repr=False)
class MixpanelEndpoint:
    """One Mixpanel ingestion endpoint: a JSON array of records per request.

    ``strict`` marks ``/import`` (``strict=1``): any 2xx is success there, and a 400 lists
    the failed records while the valid ones were imported, so it is never retried.
    ``secrets`` are redacted from response bodies (the token travels in the records, not in
    a header).
    """

    url: str
    headers: Mapping[str, str]
    limits: BatchLimits
    retry: RetryPolicy
    strict: bool = False
    health: _Health = field(default_factory=_Health)
    envelope_bytes: int = 2  # "[" and "]"
    secrets: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"MixpanelEndpoint(url={self.url!r})"

    def build(self, records: Sequence[bytes], *, sent_at: str) -> Request:
        """``POST`` the records as one JSON array."""
        return Request("POST", self.url, self.headers, b"[" + b",".join(records) + b"]")

    def frame(self, *, sent_at: str) -> tuple[bytes, bytes, bytes]:
        """What goes before, between and after the records in a body."""
        return b"[", b",", b"]"

    def decide(self, response: Response | None, *, batch_size: int) -> Decision:
        """Classify one answer (``None``: the network failed).

        2xx is success unless a verbose body says ``"status": 0`` (then rejected, never
        retried); 401/403 reject and mark the destination unhealthy; 413 splits the batch;
        408, 429 and 5xx retry; any other 4xx (including the 400 of ``/import``) rejects.
        """
        if response is None:
            return Decision.RETRY
        status = response.status_code
        if 200 <= status < 300:
            return Decision.ACCEPT if self.strict else _verbose_outcome(response.text)
        if status in (401, 403):
            self.health.error = f"HTTP {status} from {self.url}: {response.text[:200]}"
            logger.error("Mixpanel refused the credentials: %s", self.health.error)
            return Decision.REJECT
        if status == 413:
            return Decision.SPLIT if batch_size > 1 else Decision.REJECT
        if status == 400 and self.strict:
            logger.warning("Mixpanel /import refused some records: %s", response.text[:1024])
            return Decision.REJECT
        return self.retry.decide(status, batch_size=1)


def _verbose_outcome(text: str) -> Decision:
    # verbose=1 answers {"status": 1, "error": null} or {"status": 0, "error": "..."};
    # without it the body is a bare 1 or 0.
    try:
        body = json.loads(text)
    except ValueError:
        return Decision.ACCEPT
    status = body.get("status") if isinstance(body, dict) else body
    return Decision.REJECT if status in (0, "0") else Decision.ACCEPT


class ServiceAccount(CredentialSettings):
    """A Mixpanel service account, for ``/import``: ``username:secret`` and the project id."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, validate_by_name=True
    )

    username: str = Field(min_length=1)
    secret: str = Field(min_length=1, repr=False)
    project_id: str = Field(min_length=1)


class Mixpanel(CredentialSettings):
    """The Mixpanel destination and its settings (Segment's setting names, in snake case).

    Usage::

        Analytics("WRITE_KEY", destinations=[Mixpanel(token="MIXPANEL_TOKEN", people=True)])

    Settings can also be validated from Segment's camel-case export:
    ``Mixpanel.model_validate({"token": "...", "setAllTraitsByDefault": False})``; the
    browser-only settings there (``crossSubdomainCookie``, ``persistence``, ``secureCookie``,
    ``apiKey``) are accepted and ignored. See ``docs/destinations.md`` for every setting.

    Args:
        token: the project token, put in every event and profile update (required).
        api_secret: the project secret; enables ``/import`` for events over 5 days old.
        service_account: a service account for ``/import`` (preferred over ``api_secret``).
        people: send profile updates (identify, increments, revenue) to Mixpanel People.
        set_all_traits_by_default: ``$set`` every trait on identify; when false only the
            special traits and ``people_properties``.
        people_properties: traits to ``$set`` when ``set_all_traits_by_default`` is false.
        super_properties: accepted for compatibility; super properties are browser-only.
        event_increments: event names (any case) counted on the profile, with a
            ``Last <event>`` date; ``increments`` is the older name, and both are used.
        consolidated_page_calls: page and screen calls become ``Loaded a Page`` and
            ``Loaded a Screen``.
        track_all_pages: the same names, when ``consolidated_page_calls`` is off.
        track_categorized_pages: ``Viewed <category> [<name>] Page`` when a category is given.
        track_named_pages: ``Viewed <name> Page`` when a name is given.
        enable_european_union_endpoint: send to ``api-eu.mixpanel.com``.
        api_host: a host or URL that wins over the above (``api-in.mixpanel.com``).
        batch_size: records per ``/track`` and ``/engage`` request (at most 2000).
        import_batch_size: records per ``/import`` request (at most 2000).
        flush_interval: seconds a partial batch waits for more records.
        max_retries: retries per batch after 408, 429, 5xx or a network error.
        backoff_initial, backoff_max, backoff_jitter: seconds; see
            :class:`MixpanelRetryPolicy`.
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
    api_secret: str | None = Field(default=None, min_length=1, repr=False)
    service_account: ServiceAccount | None = None
    people: bool = False
    set_all_traits_by_default: bool = True
    people_properties: tuple[str, ...] = ()
    super_properties: tuple[str, ...] = ()
    event_increments: tuple[str, ...] = ()
    increments: tuple[str, ...] = ()
    consolidated_page_calls: bool = True
    track_all_pages: bool = False
    track_categorized_pages: bool = True
    track_named_pages: bool = True
    enable_european_union_endpoint: bool = False
    api_host: str | None = None
    batch_size: int = Field(default=50, ge=1, le=MAX_BATCH_ITEMS)
    import_batch_size: int = Field(default=MAX_BATCH_ITEMS, ge=1, le=MAX_BATCH_ITEMS)
    flush_interval: float = Field(default=0.5, ge=0)
    max_retries: int = Field(default=5, ge=0)
    backoff_initial: float = Field(default=2.0, ge=0)
    backoff_max: float = Field(default=60.0, ge=0)
    backoff_jitter: tuple[float, float] = (1.0, 5.0)
    gzip: bool = False

    _endpoints: dict[str, Endpoint] = PrivateAttr()
    _health: _Health = PrivateAttr(default_factory=_Health)
    _increment_names: frozenset[str] = PrivateAttr()
    _kept_traits: frozenset[str] = PrivateAttr()
    _warned: set[str] = PrivateAttr(default_factory=set)

    @model_validator(mode="before")
    @classmethod
    def _drop_browser_settings(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and any(key in data for key in _IGNORED_SETTINGS):
            return {key: value for key, value in data.items() if key not in _IGNORED_SETTINGS}
        return data

    @field_validator("api_host")
    @classmethod
    def _check_host(cls, value: str | None) -> str | None:
        return None if value is None else base_url(value)

    def model_post_init(self, context: Any, /) -> None:
        """Build the endpoints once, from the validated settings."""
        host = self.api_host or base_url(
            EU_HOST if self.enable_european_union_endpoint else US_HOST
        )
        low, high = self.backoff_jitter
        retry = MixpanelRetryPolicy(
            max_retries=self.max_retries,
            backoff_initial=self.backoff_initial,
            backoff_max=self.backoff_max,
            jitter_min=low,
            jitter_max=high,
        )
        limits = BatchLimits(
            max_items=self.batch_size,
            max_bytes=MAX_REQUEST_BYTES,
            interval=self.flush_interval,
            max_message_bytes=MAX_RECORD_BYTES,
        )
        verbose = json_headers()
        health = self._health
        account = self.service_account
        secrets = tuple(
            secret
            for secret in (self.token, self.api_secret, account.secret if account else None)
            if secret is not None
        )
        endpoints: dict[str, Endpoint] = {
            "track": MixpanelEndpoint(
                f"{host}/track?verbose=1&ip=0",
                verbose,
                limits,
                retry,
                health=health,
                secrets=secrets,
            ),
            "engage": MixpanelEndpoint(
                f"{host}/engage?verbose=1&ip=0",
                verbose,
                limits,
                retry,
                health=health,
                secrets=secrets,
            ),
            "alias": MixpanelEndpoint(
                f"{host}/track?verbose=1&ip=0",
                verbose,
                BatchLimits(1, MAX_REQUEST_BYTES, 0.0, MAX_RECORD_BYTES),
                retry,
                health=health,
                secrets=secrets,
            ),
        }
        if account is not None or self.api_secret is not None:
            if account is not None:
                url = f"{host}/import?strict=1&project_id={account.project_id}"
                auth = basic_auth(account.username, account.secret)
            else:
                url = f"{host}/import?strict=1"
                auth = basic_auth(self.api_secret or "")
            endpoints["import"] = MixpanelEndpoint(
                url,
                json_headers(Authorization=auth),
                BatchLimits(
                    self.import_batch_size,
                    MAX_REQUEST_BYTES,
                    self.flush_interval,
                    MAX_RECORD_BYTES,
                ),
                retry,
                strict=True,
                health=health,
                secrets=secrets,
            )
        self._endpoints = endpoints
        self._increment_names = frozenset(
            name.lower() for name in (*self.event_increments, *self.increments)
        )
        self._kept_traits = frozenset(name.lower() for name in self.people_properties)

    # -- the Destination protocol --------------------------------------------------------

    @property
    def name(self) -> str:
        """``"Mixpanel"``, as in a message's ``integrations``."""
        return "Mixpanel"

    @property
    def bypasses_segment(self) -> bool:
        """True: the Segment copy says ``{"Mixpanel": false}`` so it is not delivered twice."""
        return True

    @property
    def endpoints(self) -> Mapping[str, Endpoint]:
        """``track``, ``engage``, ``alias``, and ``import`` when credentials are set."""
        return self._endpoints

    @property
    def auth_error(self) -> str | None:
        """The last 401/403 answer, if Mixpanel refused the token, secret or service account."""
        return self._health.error

    def translate(self, message: Mapping[str, Any], encoded: bytes) -> list[Record]:
        """The records for one Segment message (see the module docstring)."""
        kind = message.get("type")
        if kind == "track":
            return self._event(message, str(message.get("event")), message.get("properties"))
        if kind == "page" or kind == "screen":
            return self._page(message, _PAGE_WORDS[kind])
        if kind == "identify":
            return self._identify(message) if self.people else []
        if kind == "alias":
            return [self._alias(message)]
        return []

    # -- events --------------------------------------------------------------------------

    def _page(self, message: Mapping[str, Any], word: str) -> list[Record]:
        name = message.get("name")
        category = message.get("category")
        if self.consolidated_page_calls or self.track_all_pages:
            event = f"Loaded a {word}"
        elif self.track_categorized_pages and category:
            event = f"Viewed {category} {name} {word}" if name else f"Viewed {category} {word}"
        elif self.track_named_pages and name:
            event = f"Viewed {name} {word}"
        else:
            return []
        properties = dict(message.get("properties") or {})
        if name:
            properties["name"] = name
        if category:
            properties["category"] = category
        return self._event(message, event, properties)

    def _event(
        self, message: Mapping[str, Any], event: str, properties: Mapping[str, Any] | None
    ) -> list[Record]:
        timestamp = parse_date(message.get("timestamp"))
        if timestamp is None:
            logger.error("Mixpanel: message %s has no valid timestamp", message.get("messageId"))
            return []
        age = time.time() - timestamp.timestamp()
        if age > MAX_AGE:
            logger.error(
                "Mixpanel: dropped %r (message %s): more than 5 years old",
                event,
                message.get("messageId"),
            )
            return []
        key = "track"
        if age > TRACK_MAX_AGE:
            if "import" not in self._endpoints:
                logger.error(
                    "Mixpanel: dropped %r (message %s): events over 5 days old need "
                    "api_secret or service_account for /import",
                    event,
                    message.get("messageId"),
                )
                return []
            key = "import"
        props = self._event_properties(message, event, properties or {}, timestamp)
        records = [Record(key, _dumps({"event": event, "properties": props}))]
        if self.people:
            records.extend(self._profile_effects(message, event, properties or {}, timestamp))
        return records

    def _event_properties(
        self,
        message: Mapping[str, Any],
        event: str,
        properties: Mapping[str, Any],
        timestamp: datetime,
    ) -> dict[str, Any]:
        context = message.get("context") or {}
        props = dict(properties)
        username, search_engine, referrer = _pop_special_properties(props)
        props.pop("ip", None)  # only context.ip sets it
        user_id = message.get("userId")
        anonymous_id = message.get("anonymousId")
        distinct = user_id or anonymous_id
        semantic = {
            "token": self.token,
            "distinct_id": distinct,
            "time": epoch_seconds(timestamp),
            "$insert_id": insert_id(str(message.get("messageId", ""))),
            "ip": _event_ip(context),
            "mp_lib": "aioanalytics",
            "$referrer": referrer
            or lookup(context, "referrer", "link")
            or lookup(context, "page", "referrer")
            or None,
            "$current_url": lookup(context, "page", "url"),
            "$search_engine": search_engine,
            "$username": username,
            "$app_release": lookup(context, "app", "build"),
            "$app_version": lookup(context, "app", "version"),
            "$device": lookup(context, "device", "name"),
            "mp_name_tag": lookup(context, "traits", "name")
            or lookup(context, "traits", "email")
            or distinct,
            "$device_id": anonymous_id,
            "$user_id": user_id,
        }
        props.update((key, value) for key, value in semantic.items() if value is not None)
        props.update(mobile_properties(context))
        campaign = lookup(context, "campaign")
        if isinstance(campaign, Mapping):
            for key, source in _UTM:
                if campaign.get(source) is not None:
                    props[key] = campaign[source]
        for name in RESERVED_PROPERTIES:
            if name in props:
                self._warn_once(
                    f"reserved:{event}",
                    "Mixpanel: event %r has the reserved property name %r",
                    event,
                    name,
                )
        if isinstance(distinct, str) and distinct.lower() in PLACEHOLDER_IDS:
            self._warn_once(
                f"id:{distinct}",
                "Mixpanel: %r is a placeholder distinct_id Mixpanel refuses",
                distinct,
            )
        return _stringify(props)

    def _profile_effects(
        self,
        message: Mapping[str, Any],
        event: str,
        properties: Mapping[str, Any],
        timestamp: datetime,
    ) -> list[Record]:
        records: list[Record] = []
        user_id = message.get("userId")
        if user_id and event.lower() in self._increment_names:
            base = {"$token": self.token, "$distinct_id": user_id}
            records.append(Record("engage", _dumps({**base, "$add": {event: 1}})))
            records.append(
                Record(
                    "engage", _dumps({**base, "$set": {f"Last {event}": profile_date(timestamp)}})
                )
            )
        amount = revenue(properties)
        if amount:
            context = message.get("context") or {}
            charge: dict[str, Any] = {"$token": self.token, "$distinct_id": distinct_id(message)}
            ip = _event_ip(context)
            if ip is not None:
                charge["$ip"] = ip
            charge["$append"] = {
                "$transactions": {"$time": profile_date(timestamp), "$amount": amount}
            }
            if context.get("active") is False:
                charge["$ignore_time"] = True
            records.append(Record("engage", _dumps(charge)))
        return records

    def _alias(self, message: Mapping[str, Any]) -> Record:
        event = {
            "event": "$create_alias",
            "properties": {
                "distinct_id": message.get("previousId"),
                "alias": message.get("userId"),
                "token": self.token,
            },
        }
        return Record("alias", _dumps(event))

    # -- profiles ------------------------------------------------------------------------

    def _identify(self, message: Mapping[str, Any]) -> list[Record]:
        context = message.get("context") or {}
        timestamp = parse_date(message.get("timestamp")) or datetime.now(UTC)
        ignore_ip = (
            _event_ip(context) == 0
            or bool(context.get("ignoreIp"))
            or bool(lookup(context, "Mixpanel", "ignoreIp"))
        )
        ip = context.get("ip")
        base = {
            "$token": self.token,
            "$distinct_id": distinct_id(message),
            "$time": epoch_ms(timestamp),
            "$ip": 0 if ignore_ip or not ip else ip,
            "$ignore_time": context.get("active") is False
            or bool(lookup(context, "Mixpanel", "ignoreTime")),
        }
        traits = self._profile_traits(message.get("traits") or {}, context)
        records = [Record("engage", _dumps({**base, "$set": traits}))]
        device_token = lookup(context, "device", "token")
        if device_token:
            union = {**base, "$union": {"$ios_devices": [device_token]}}
            records.append(Record("engage", _dumps(union)))
        return records

    def _profile_traits(
        self, traits: Mapping[str, Any], context: Mapping[str, Any]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        winners: dict[str, tuple[int, Any]] = {}  # Mixpanel key -> (rank, value)
        for key, value in traits.items():
            rank = _ALIAS_RANK.get(normalize_key(key))
            if rank is None:
                out[key] = value
                continue
            target = TRAIT_ALIASES[rank][1]
            if target not in winners or rank < winners[target][0]:
                winners[target] = (rank, value)
        for target, (_, value) in winners.items():
            out[target] = value
        name = out.get("$name")
        if "$first_name" not in out and isinstance(name, str) and " " in name.strip():
            first, _, last = name.strip().partition(" ")
            out["$first_name"] = first
            out.setdefault("$last_name", last.strip())
        elif name is None:
            derived = full_name(out.get("$first_name"), out.get("$last_name"))
            if derived is not None:
                out["$name"] = derived
        if "$created" in out:
            created = _created_date(out["$created"])
            if created is None:
                del out["$created"]
            else:
                out["$created"] = created
        out.update(mobile_properties(context))
        out = _stringify(out)
        if not self.set_all_traits_by_default:
            kept = self._kept_traits
            out = {k: v for k, v in out.items() if k in _SPECIAL_KEYS or k.lower() in kept}
        return out

    def _warn_once(self, key: str, text: str, *args: object) -> None:
        if key in self._warned:
            return
        if len(self._warned) < _WARN_LIMIT:
            self._warned.add(key)
        logger.warning(text, *args)


# -- pure helpers --------------------------------------------------------------------------


def insert_id(message_id: str) -> str:
    """Mixpanel's de-duplication key: the messageId when it fits (``[A-Za-z0-9-]``, at most 36
    characters, as a UUID does), else the first 32 hex digits of its SHA-256."""
    if _INSERT_ID.fullmatch(message_id):
        return message_id
    return hashlib.sha256(message_id.encode()).hexdigest()[:32]


def revenue(properties: Mapping[str, Any]) -> float | int | None:
    """``properties.revenue`` as a number (a string may carry ``$`` and ``,``), else ``None``."""
    value = properties.get("revenue")
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value.replace("$", "").replace(",", "").strip())
        except ValueError:
            return None
    return None


def profile_date(value: datetime) -> str:
    """Mixpanel's profile date format: ``YYYY-MM-DDTHH:MM:SS`` in UTC."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def mobile_properties(context: Mapping[str, Any]) -> dict[str, Any]:
    """Mixpanel's device and app properties from ``context`` (present values only)."""
    if not any(key in context for key in _MOBILE_CONTEXT):
        return {}
    device = lookup(context, "device") or {}
    app = lookup(context, "app") or {}
    os = lookup(context, "os") or {}
    network = lookup(context, "network") or {}
    screen = lookup(context, "screen") or {}
    pairs: list[tuple[str, Any]] = [
        ("$carrier", lookup(network, "carrier")),
        ("$manufacturer", lookup(device, "manufacturer")),
        ("$model", lookup(device, "model")),
        ("$os", lookup(os, "name")),
        ("$os_version", lookup(os, "version")),
        ("$screen_height", lookup(screen, "height")),
        ("$screen_width", lookup(screen, "width")),
        ("$wifi", lookup(network, "wifi")),
    ]
    kind = lookup(device, "type")
    kind = kind.lower() if isinstance(kind, str) else None
    if kind == "ios":
        pairs += [
            ("$ios_ifa", lookup(device, "advertisingId")),
            ("$ios_device_model", lookup(device, "model")),
            ("$ios_app_release", lookup(app, "build")),
            ("$ios_app_version", lookup(app, "version")),
            ("$ios_version", lookup(os, "version")),
        ]
    elif kind == "android":
        pairs += [
            ("$screen_dpi", lookup(screen, "density")),
            ("$bluetooth_enabled", lookup(network, "bluetooth")),
            ("$has_telephone", lookup(network, "cellular")),
            ("$android_version_code", lookup(app, "version")),
            ("$android_app_version", lookup(app, "version")),
            ("$android_os", lookup(os, "name")),
            ("$android_os_version", lookup(os, "version")),
            ("$android_model", lookup(device, "model")),
            ("$android_manufacturer", lookup(device, "manufacturer")),
        ]
    return {key: value for key, value in pairs if value is not None}


def _event_ip(context: Mapping[str, Any]) -> Any:
    # ``0`` (or "0", since the context model takes strings) disables geolocation.
    ip = context.get("ip")
    if ip == 0 or ip == "0":
        return 0
    return ip or None


def _created_date(value: Any) -> str | None:
    # Strings are ISO-8601; numbers are epoch milliseconds, as JavaScript's Date takes them.
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return profile_date(datetime.fromtimestamp(value / 1000, UTC))
        except (OverflowError, OSError, ValueError):
            return None
    parsed = parse_date(value)
    return None if parsed is None else profile_date(parsed)


def _pop_special_properties(props: dict[str, Any]) -> tuple[Any, Any, Any]:
    # Remove every key obj-case would match to username, searchEngine or referrer; return the
    # first value of each.
    found: dict[str, Any] = {}
    for key in [k for k in props if normalize_key(k) in _SPECIAL_PROPERTIES]:
        value = props.pop(key)
        found.setdefault(normalize_key(key), value)
    return found.get("username"), found.get("searchengine"), found.get("referrer")


def _stringify(props: Mapping[str, Any]) -> dict[str, Any]:
    # Drop None values; objects become compact JSON text (Mixpanel does not nest them).
    return {
        key: compact_json(value) if isinstance(value, dict) else value
        for key, value in props.items()
        if value is not None
    }


def _dumps(value: Any) -> bytes:
    return pydantic_core.to_json(value)
