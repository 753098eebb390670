"""Reading one HTTP request into a :class:`~aioanalytics._context.RequestContext`.

Theory of operation: every framework adapter reduces its request to the same few facts (the
peer address, the scheme, the target's raw path and query, and the handful of headers named
in :data:`HEADERS`, lower-cased, repeats joined by ``", "``) and hands them to
:func:`read_request`. Everything about HTTP semantics is decided here, once, and tested
with data alone:

- ``ip``: the TCP peer. Forwarding headers (``Forwarded``, RFC 7239, else
  ``X-Forwarded-For``) are believed only when the peer is a trusted proxy, and then only
  back through the chain of trusted hops: the first untrusted address from the right is the
  client. A hop that is not an address (``unknown``, an obfuscated ``_id``) ends the chain
  without an ip, rather than pinning a proxy's location on the visitor.
- ``page``: ``url``, ``path``, ``search`` (with its ``?``), ``referrer``, as analytics.js
  fills them; host and scheme come from ``X-Forwarded-Host``/``-Proto`` or ``Forwarded``
  only behind a trusted proxy.
- ``locale``: the preferred tag of ``Accept-Language`` (highest ``q``, first on ties).
- ``requestId``: the configured header when it looks like an id, else a new uuid4.
- ids: the ``ajs_user_id`` / ``ajs_anonymous_id`` cookies, as analytics.js writes them
  (URL-encoded JSON strings, or bare).

Header values are the client's to choose: each field is cut to :data:`MAX_FIELD`
characters, so that no request can push a message over Segment's 32 KiB limit.
"""

from __future__ import annotations

import ipaddress
import json
import re
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias
from urllib.parse import unquote

from .. import ConfigError
from .._context import RequestContext

__all__ = ["HEADERS", "MAX_FIELD", "ContextOptions", "Deferred", "read_request"]

#: Longest value kept for a header-derived field (``userAgent``, ``page.url``, ...).
MAX_FIELD = 2048
#: Longest cookie id kept; longer ones are ignored (analytics.js ids are 36 characters).
MAX_ID = 256

_Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Request ids taken from the request's header must look like one.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,200}")
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*")
_FORWARDED_PAIR = re.compile(r'\s*([A-Za-z]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*)\s*')


@dataclass(frozen=True, slots=True)
class ContextOptions:
    """What the web integrations read from each request, and whom they trust.

    Each field of ``context`` can be turned off (``ip=False``, ...); ``cookies=False`` stops
    reading the visitor's ids from the analytics.js cookies. ``anonymize_ip=True`` keeps
    only the network part of the ip (``/24`` of IPv4, ``/48`` of IPv6), as Google Analytics'
    IP anonymization does. ``trusted_proxies`` lists the addresses or networks (``"10.0.0.0/8"``,
    ``"::1"``; ``"*"`` trusts every peer) whose forwarding headers are believed; by default
    none is, and ``ip`` is the TCP peer's address.

    Usage::

        ContextOptions(trusted_proxies=["10.0.0.0/8"], anonymize_ip=True, cookies=False)

    Raises:
        ConfigError: a trusted proxy is not an address or network.

    .. versionadded:: 0.1.0
    """

    ip: bool = True
    user_agent: bool = True
    page: bool = True
    locale: bool = True
    request_id: bool = True
    cookies: bool = True
    anonymize_ip: bool = False
    trusted_proxies: Collection[str] = ()
    request_id_header: str = "x-request-id"
    anonymous_id_cookie: str = "ajs_anonymous_id"
    user_id_cookie: str = "ajs_user_id"
    _networks: tuple[_Network, ...] = field(init=False, repr=False, compare=False)
    _trust_all: bool = field(init=False, repr=False, compare=False)
    _headers: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.trusted_proxies, str):
            raise ConfigError("trusted_proxies must be a list of addresses, not one string")
        networks = []
        for proxy in self.trusted_proxies:
            if proxy == "*":
                continue
            try:
                networks.append(ipaddress.ip_network(proxy, strict=False))
            except ValueError as exc:
                raise ConfigError(f"trusted_proxies: {proxy!r} is not an address") from exc
        object.__setattr__(self, "trusted_proxies", tuple(self.trusted_proxies))
        object.__setattr__(self, "request_id_header", self.request_id_header.lower())
        object.__setattr__(self, "_networks", tuple(networks))
        object.__setattr__(self, "_trust_all", "*" in self.trusted_proxies)
        object.__setattr__(self, "_headers", HEADERS | {self.request_id_header})

    def trusts(self, address: _Address) -> bool:
        """Whether ``address`` is a trusted proxy."""
        return self._trust_all or any(address in network for network in self._networks)

    def headers(self) -> frozenset[str]:
        """The (lower-case) header names :func:`read_request` may look at."""
        return self._headers


#: The headers read, by lower-case name.
HEADERS = frozenset(
    {
        "accept-language",
        "cookie",
        "forwarded",
        "host",
        "referer",
        "user-agent",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
    }
)


def read_request(
    options: ContextOptions,
    *,
    peer: str | None,
    scheme: str,
    host: str | None,
    path: str,
    query: str,
    headers: Mapping[str, str],
) -> RequestContext:
    """The request context of one request.

    Args:
        options: what to read and whom to trust.
        peer: the TCP peer's address (``None`` over a Unix socket).
        scheme: ``"http"`` or ``"https"`` as the server saw it.
        host: the server's host (and port) to use when the request has no ``Host`` header.
        path: the target's path, percent-encoded as sent.
        query: the query string without its ``?`` (``""`` for none).
        headers: lower-case names to values, repeats joined by ``", "``; only the names in
            ``options.headers()`` matter.
    """
    context: dict[str, Any] = {}
    peer_address = _address(peer)
    trusted = peer_address is not None and options.trusts(peer_address)
    if options.ip:
        client = _client_ip(options, peer_address, trusted, headers)
        if client is not None:
            context["ip"] = _anonymize(client) if options.anonymize_ip else str(client)
    if options.user_agent and (agent := headers.get("user-agent")):
        context["userAgent"] = agent[:MAX_FIELD]
    if options.page:
        context["page"] = _page(scheme, host, path, query, trusted, headers)
    if options.locale and (language := headers.get("accept-language")):
        locale = preferred_locale(language)
        if locale is not None:
            context["locale"] = locale
    if options.request_id:
        given = headers.get(options.request_id_header, "").strip()
        context["requestId"] = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    user_id = anonymous_id = None
    if options.cookies and (cookie := headers.get("cookie")):
        jar = _cookies(cookie, (options.user_id_cookie, options.anonymous_id_cookie))
        user_id = _cookie_id(jar.get(options.user_id_cookie))
        anonymous_id = _cookie_id(jar.get(options.anonymous_id_cookie))
    return RequestContext(context, user_id=user_id, anonymous_id=anonymous_id)


class Deferred:
    """A request whose context is read when a call first needs it, then kept.

    The adapters bind one per request: a request that sends nothing never has its headers
    parsed. ``read`` must only read the request (it may run on another thread: the sync
    facade's loop).
    """

    __slots__ = ("_read", "_resolved")

    def __init__(self, read: Callable[[], RequestContext]) -> None:
        self._read = read
        self._resolved: RequestContext | None = None

    def resolve(self) -> RequestContext:
        """The request's context, read on the first call."""
        resolved = self._resolved
        if resolved is None:
            resolved = self._resolved = self._read()
        return resolved


# -- ip ------------------------------------------------------------------------------------


def _address(value: str | None) -> _Address | None:
    if not value:
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _client_ip(
    options: ContextOptions,
    peer: _Address | None,
    trusted: bool,
    headers: Mapping[str, str],
) -> _Address | None:
    if not trusted:
        return peer
    client = peer
    for hop in reversed(_forwarded_for(headers)):
        client = _address(_strip_port(hop))
        if client is None or not options.trusts(client):
            return client
    return client


def _forwarded_for(headers: Mapping[str, str]) -> list[str]:
    """The client chain the proxies recorded, nearest last (``Forwarded`` first)."""
    forwarded = headers.get("forwarded")
    if forwarded:
        return [element.get("for", "") for element in _forwarded_elements(forwarded)]
    chain = headers.get("x-forwarded-for")
    if chain:
        return [hop.strip() for hop in chain.split(",")]
    return []


def _forwarded_elements(value: str) -> list[dict[str, str]]:
    """``Forwarded: for=a;proto=https, for="[::1]:80"`` -> one dict per element (RFC 7239)."""
    elements: list[dict[str, str]] = []
    current: dict[str, str] = {}
    position = 0
    while position < len(value):
        match = _FORWARDED_PAIR.match(value, position)
        if match is None or not match.group(0):
            separator = value[position]
            if separator == ",":
                elements.append(current)
                current = {}
            position += 1
            continue
        name, raw = match.group(1).lower(), match.group(2)
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        current.setdefault(name, raw)
        position = match.end()
    elements.append(current)
    return [element for element in elements if element]


def _strip_port(hop: str) -> str:
    if hop.startswith("["):  # "[2001:db8::1]:4711"
        return hop[1 : hop.find("]")] if "]" in hop else ""
    if hop.count(":") == 1:  # "192.0.2.1:4711"
        return hop.partition(":")[0]
    return hop


def _anonymize(address: _Address) -> str:
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


# -- page, locale, cookies -------------------------------------------------------------------


def _page(
    scheme: str,
    host: str | None,
    path: str,
    query: str,
    trusted: bool,
    headers: Mapping[str, str],
) -> dict[str, str]:
    host = headers.get("host") or host or "localhost"
    if trusted:  # the nearest proxy's word on what the browser asked for
        forwarded = _forwarded_elements(headers.get("forwarded", ""))
        nearest = forwarded[-1] if forwarded else {}
        scheme = nearest.get("proto") or _last(headers.get("x-forwarded-proto")) or scheme
        host = nearest.get("host") or _last(headers.get("x-forwarded-host")) or host
    scheme = {"ws": "http", "wss": "https"}.get(scheme.lower(), scheme.lower())
    search = f"?{query}" if query else ""
    page = {
        "path": (path or "/")[:MAX_FIELD],
        "search": search[:MAX_FIELD],
        "url": f"{scheme}://{host}{path or '/'}{search}"[:MAX_FIELD],
    }
    referrer = headers.get("referer")
    if referrer:
        page["referrer"] = referrer[:MAX_FIELD]
    return page


def _last(value: str | None) -> str | None:
    if not value:
        return None
    return value.rpartition(",")[2].strip() or None


def preferred_locale(value: str) -> str | None:
    """The preferred language tag of an ``Accept-Language`` value (``None`` for none).

    ``"fr-CH, fr;q=0.9, en;q=0.8"`` -> ``"fr-CH"``; ``*`` and ``q=0`` never win.
    """
    best: str | None = None
    best_q = 0.0
    for item in value.split(","):
        tag, _, params = item.partition(";")
        tag = tag.strip()
        if not _LANGUAGE_TAG.fullmatch(tag):
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, number = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(number)
                except ValueError:
                    q = 0.0
        if q > best_q:
            best, best_q = tag, q
    return best


def _cookies(header: str, names: tuple[str, ...]) -> dict[str, str]:
    """The named cookies of a ``Cookie`` header (the first of each name wins)."""
    jar: dict[str, str] = {}
    for pair in header.split(";"):
        name, sep, value = pair.partition("=")
        name = name.strip()
        if sep and name in names and name not in jar:
            jar[name] = value.strip()
    return jar


def _cookie_id(raw: str | None) -> str | None:
    """An id as analytics.js stores it: ``%22abc%22`` (URL-encoded JSON), ``"abc"`` or ``abc``."""
    if not raw:
        return None
    value = unquote(raw)
    if value.startswith('"'):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    elif value == "null":
        return None
    if type(value) is not str or not 0 < len(value) <= MAX_ID or not value.isprintable():
        return None
    return value
