"""The collector's web app: the Segment HTTP API in, a query API and the debugger page out.

Theory of operation: every request first passes a Host check: the collector answers only
requests addressed to the address it is bound to or to a loopback name (``localhost``,
``127.0.0.1``, ``[::1]``), and ``421`` to any other, so that a web page whose DNS name was
rebound to 127.0.0.1 cannot read the events through the visitor's browser.

A ``POST /v1/*`` request then goes through five gates, in this order, and
stops at the first that refuses it; only a request that passes all five touches the store.

1. Fault injection (:mod:`._server.faults`): added latency, then maybe a failure status or a
   connection closed without an answer. It comes first so that a failed request stores
   nothing and the client's retry is what brings the messages in.
2. Authentication: HTTP Basic with the write key as the user name (Segment HTTP API docs,
   "Authentication"), or a ``writeKey`` field in the body when there is no ``Authorization``
   header. Any non-empty key passes unless keys were configured; those are compared in
   constant time.
3. Size: the body as sent is read up to the limit and no further, within ``body_timeout``
   seconds (a ``408`` and a closed connection past it), and a gzip body is inflated with a
   bounded ``zlib.decompressobj`` so that a small bomb is refused, never expanded.
4. JSON: malformed JSON, or a body of the wrong shape, is a 400, as Segment answers. Every
   valid JSON number is accepted and stored as written (:mod:`._server._json`), and a lone
   surrogate escape becomes U+FFFD rather than failing the batch.
5. Validation: each message must fit in 32 KiB and parse with the SDK's own models
   (:func:`aioanalytics.parse_message`); the 400 names the first field at fault.

Decoding and validation run in a worker thread, as does the SQLite write, so the event loop
stays free to serve the debugger page while a large batch is checked. The write key is used
for the auth decision and then dropped: it is never stored, streamed or answered back.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import itertools
import os
import random
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from aioanalytics import Message, parse_message
from aioanalytics._validation import describe_error, join

from ._json import dumps, loads
from .faults import FaultKind, Faults
from .store import NewEvent, Store
from .stream import EventHub

if TYPE_CHECKING:
    from aioanalytics.plan import TrackingPlan

    from .runner import ConnectionGuard

__all__ = [
    "BODY_TIMEOUT",
    "LOOPBACK_NAMES",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_MESSAGES",
    "MAX_MESSAGE_BYTES",
    "MESSAGE_TYPES",
    "create_app",
]

MAX_MESSAGE_BYTES = 32 << 10
"""One message, serialized: 32 KiB (Segment HTTP API docs; analytics-python's MAX_MSG_SIZE)."""

MAX_BATCH_BYTES = 500 << 10
"""One ``/v1/batch`` body, compressed or not: 500 KB (Segment HTTP API docs, "Max request size")."""

MAX_BATCH_MESSAGES = 2500
"""Messages in one batch. Segment silently drops the excess; the collector refuses it."""

MESSAGE_TYPES = ("identify", "track", "page", "screen", "group", "alias")
"""The single-message endpoints, ``/v1/<type>``, one per call of the spec."""

BODY_TIMEOUT = 30.0
"""Seconds a ``/v1/*`` request has to deliver its whole body once its head has arrived."""

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
"""Host names always answered, whatever address the collector is bound to."""

_MAX_ERRORS = 20
_MAX_QUERY_DIGITS = 15  # limit and offset: far past any table, well inside SQLite's 64 bits
_EXPORT_PAGE = 1000  # lines per chunk of GET /api/export


class _JSON(JSONResponse):
    """A JSON answer that writes any number the collector accepted, as it was written."""

    def render(self, content: Any) -> bytes:
        return dumps(content).encode()


class PayloadError(Exception):
    """A request the collector refuses, with the status and JSON body to answer with."""

    def __init__(self, status: int, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or [message]

    def response(self, headers: Mapping[str, str] | None = None) -> JSONResponse:
        """Return the JSON answer: ``{"error": first, "errors": [all...]}``."""
        body = {"error": self.message, "errors": self.errors}
        return _JSON(body, status_code=self.status, headers=headers)


@dataclass(slots=True)
class CollectorState:
    """What the request handlers share: the store, the live-event hub and the settings."""

    store: Store
    hub: EventHub
    faults: Faults
    write_keys: tuple[bytes, ...]
    rng: random.Random
    owns_store: bool
    #: A tracking plan: the events the query API and the stream return carry its violations.
    plan: TrackingPlan | None = None
    body_timeout: float = BODY_TIMEOUT
    allowed_hosts: frozenset[str] = LOOPBACK_NAMES
    ingested: dict[str, int] = field(
        default_factory=lambda: {"requests": 0, "faulted": 0, "rejected": 0, "timedOut": 0}
    )
    misdirected: int = 0
    """Requests answered 421 for a Host header naming neither this collector nor loopback."""
    connections: ConnectionGuard | None = None
    """The connection bounds of the server running the app (set by :mod:`.runner`)."""


def create_app(
    *,
    store: Store | str | os.PathLike[str] = ":memory:",
    write_keys: Iterable[str] = (),
    faults: Faults | None = None,
    seed: int | None = None,
    hub: EventHub | None = None,
    plan: TrackingPlan | None = None,
    body_timeout: float = BODY_TIMEOUT,
    allowed_hosts: Iterable[str] = (),
) -> Starlette:
    """Build the collector: the Segment HTTP API, the query API and the debugger page.

    Usage::

        app = create_app(store="events.db", write_keys=["KEY"], faults=Faults(fail_rate=0.1))
        uvicorn.run(app, host="127.0.0.1", port=8000)

    Args:
        store: A :class:`Store`, or the path of its SQLite file (``":memory:"`` for none);
            a store the app opened itself is closed when the app shuts down.
        write_keys: The write keys to accept; empty accepts any non-empty key.
        faults: The faults to inject on ``/v1/*`` requests; none by default.
        seed: Seed for the fault-injection draws, for a repeatable run.
        hub: The hub that streams stored events to debugger pages (and caps their number).
        body_timeout: Seconds a ``/v1/*`` request has to send its whole body; past them it
            is answered ``408`` and its connection closed.
        allowed_hosts: Host names to answer besides the bound address and ``localhost``,
            ``127.0.0.1`` and ``::1`` (e.g. a name this machine has on the network);
            requests naming any other host get ``421``.
        plan: A :class:`~aioanalytics.plan.TrackingPlan`: each event the query API and the
            stream return then lists how it breaks the plan under ``violations``.

    Returns:
        The Starlette application. ``app.state.collector`` holds its
        :class:`CollectorState`.
    """
    owns_store = not isinstance(store, Store)
    state = CollectorState(
        store=Store(store) if not isinstance(store, Store) else store,
        hub=hub or EventHub(),
        faults=faults or Faults(),
        write_keys=tuple(key.encode() for key in write_keys),
        rng=random.Random(seed),
        owns_store=owns_store,
        plan=plan,
        body_timeout=body_timeout,
        allowed_hosts=LOOPBACK_NAMES | {host.lower() for host in allowed_hosts},
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            state.hub.close()
            if state.owns_store:
                state.store.close()

    page = _PageFiles()
    routes = [
        Route("/v1/batch", _Ingest(state, "batch"), methods=["POST"]),
        *(Route(f"/v1/{kind}", _Ingest(state, kind), methods=["POST"]) for kind in MESSAGE_TYPES),
        Route("/", page.endpoint("index.html"), methods=["GET"]),
        Route("/static/app.js", page.endpoint("app.js"), methods=["GET"]),
        Route("/static/app.css", page.endpoint("app.css"), methods=["GET"]),
        Route("/favicon.svg", page.endpoint("favicon.svg"), methods=["GET"]),
        Route("/favicon.ico", page.endpoint("favicon.svg"), methods=["GET"]),
        Route("/api/events", _events_endpoint(state), methods=["GET"]),
        Route("/api/counts", _counts_endpoint(state), methods=["GET"]),
        Route("/api/export", _export_endpoint(state), methods=["GET"]),
        Route("/api/stream", state.hub, methods=["GET"]),
        Route("/api/config", _config_endpoint(state), methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.collector = state
    app.add_middleware(_HostCheck, state=state)
    return app


class _HostCheck:
    """Answer ``421`` to a request whose Host names neither this collector nor loopback.

    DNS rebinding points a name the attacker controls at 127.0.0.1, so the victim's browser
    sends ``Host: attacker.example:PORT``; refusing unknown names stops it. An IP literal
    cannot be rebound, so on a wildcard address (``0.0.0.0``, ``::``) any IP is answered.
    A request without a Host header (HTTP/1.0) comes from no browser and is answered too.
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Any], state: CollectorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._allowed(scope):
            self.state.misdirected += 1
            error = PayloadError(421, "misdirected request: unknown Host header")
            await error.response()(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        header = next((value for name, value in scope["headers"] if name == b"host"), None)
        if header is None:
            return True
        host = _host_name(header.decode("latin-1"))
        if host in self.state.allowed_hosts:
            return True
        server = scope.get("server")
        bound = str(server[0]).lower() if server else ""
        if host == bound:
            return True
        return bound in ("0.0.0.0", "::") and _is_ip(host)


def _host_name(header: str) -> str:
    """Return the host of a Host header, lower-cased, without port or IPv6 brackets."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if ":" in header else header


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# -- ingestion ------------------------------------------------------------------------------


class _Ingest:
    """The ASGI app behind one ``/v1/*`` endpoint (``kind`` is ``"batch"`` or a type).

    A plain ASGI app rather than a request/response function, because dropping the
    connection means answering nothing at all.
    """

    def __init__(self, state: CollectorState, kind: str) -> None:
        self.state = state
        self.kind = kind

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        state.ingested["requests"] += 1
        if state.faults.enabled:
            fault = state.faults.decide(state.rng)
            if fault.latency:
                await anyio.sleep(fault.latency)
            if fault.kind is not FaultKind.NONE:
                state.ingested["faulted"] += 1
            if fault.kind is FaultKind.DROP:
                await _drop_connection(receive)
                return
            if fault.kind is FaultKind.FAIL:
                headers = {}
                if state.faults.fail_status == 429:
                    headers["Retry-After"] = state.faults.retry_after_header()
                error = PayloadError(state.faults.fail_status, "fault injected by the collector")
                await error.response(headers)(scope, receive, send)
                return
        request = Request(scope, receive)
        try:
            response = await self._accept(request)
        except PayloadError as exc:
            state.ingested["rejected"] += 1
            headers = {}
            if exc.status == 401:
                headers["WWW-Authenticate"] = 'Basic realm="aioanalytics collector"'
            if exc.status == 408:
                state.ingested["timedOut"] += 1
                headers["Connection"] = "close"  # the rest of the body is not worth waiting for
            response = exc.response(headers)
        await response(scope, receive, send)

    async def _accept(self, request: Request) -> Response:
        state = self.state
        header_key = _basic_auth_key(request.headers.get("authorization"))
        if header_key is not None:
            self._check_key(header_key)
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            raise PayloadError(400, "Content-Type must be application/json")
        limit = MAX_BATCH_BYTES if self.kind == "batch" else MAX_MESSAGE_BYTES
        body = await _read_body(request, limit, state.body_timeout)
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        data = await anyio.to_thread.run_sync(_decode_json, body, encoding, limit)
        body_key = data.pop("writeKey", None) if isinstance(data, dict) else None
        if header_key is None:
            if not isinstance(body_key, str):
                raise PayloadError(401, "missing write key: use HTTP Basic auth")
            self._check_key(body_key)
        events = await anyio.to_thread.run_sync(_validate, data, self.kind)
        result = await anyio.to_thread.run_sync(state.store.add, events)
        state.hub.publish(_with_violations(state, event.to_json()) for event in result.stored)
        body_out = {"success": True, "stored": len(result.stored), "duplicates": result.duplicates}
        return _JSON(body_out)

    def _check_key(self, key: str) -> None:
        if not key:
            raise PayloadError(401, "missing write key")
        keys = self.state.write_keys
        if not keys:
            return
        candidate = key.encode()
        # Compare against every key, so the time taken does not tell which one nearly matched.
        matched = False
        for known in keys:
            matched |= hmac.compare_digest(candidate, known)
        if not matched:
            raise PayloadError(401, "unknown write key")


def _basic_auth_key(header: str | None) -> str | None:
    """Return the user name of a Basic ``Authorization`` header: the write key.

    Segment accepts the key with or without the trailing colon (Segment HTTP API docs,
    "Authentication").
    """
    if header is None:
        return None
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "basic":
        raise PayloadError(401, "the Authorization header must use the Basic scheme")
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise PayloadError(401, "malformed Basic credentials") from exc
    return decoded.partition(":")[0]


async def _read_body(request: Request, limit: int, seconds: float) -> bytes:
    """Read the body as sent, refusing it past ``limit`` bytes or ``seconds`` seconds."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadError(400, f"payload too large: {declared} bytes, over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    with anyio.move_on_after(seconds) as deadline:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadError(400, f"payload too large: over the {limit}-byte limit")
            chunks.append(chunk)
    if deadline.cancelled_caught:
        raise PayloadError(408, f"request body not received within {seconds:g} seconds")
    return b"".join(chunks)


def _gunzip(body: bytes, limit: int) -> bytes:
    """Inflate a gzip body to at most ``limit`` bytes; past that, refuse it.

    ``max_length`` bounds what each call may produce, so a bomb costs ``limit`` bytes of
    memory at most. Concatenated gzip members are valid gzip and are inflated in turn.
    """
    out = bytearray()
    data = body
    while True:
        inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
        try:
            out += inflater.decompress(data, limit + 1 - len(out))
        except zlib.error as exc:
            raise PayloadError(400, f"malformed gzip body: {exc}") from exc
        if len(out) > limit:
            raise PayloadError(400, f"payload too large: over {limit} bytes once decompressed")
        if not inflater.eof:
            raise PayloadError(400, "malformed gzip body: truncated")
        data = inflater.unused_data
        if not data:
            return bytes(out)


def _decode_json(body: bytes, encoding: str, limit: int) -> Any:
    if encoding == "gzip":
        body = _gunzip(body, limit)
    elif encoding not in ("", "identity"):
        raise PayloadError(400, f"unsupported Content-Encoding {encoding!r}: use gzip or none")
    try:
        return loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(400, f"malformed JSON: {exc}") from exc
    except RecursionError as exc:  # nesting deeper than the parser can follow
        raise PayloadError(400, "malformed JSON: nested too deeply") from exc


def _validate(data: Any, kind: str) -> list[NewEvent]:
    """Check the shape, the per-message size and each message against the SDK's models."""
    if not isinstance(data, dict):
        raise PayloadError(400, "the body must be a JSON object")
    if kind == "batch":
        items = data.get("batch")
        if not isinstance(items, list):
            raise PayloadError(400, "batch: must be a list of messages")
        if len(items) > MAX_BATCH_MESSAGES:
            raise PayloadError(
                400, f"batch: {len(items)} messages, over the limit of {MAX_BATCH_MESSAGES}"
            )
        prefixes = [f"batch[{index}]" for index in range(len(items))]
        items = [_merge_envelope(item, data) for item in items]
    else:
        item = dict(data)
        # A single call's body may carry sentAt; it belongs to the request, as on a batch.
        item.pop("sentAt", None)
        if item.setdefault("type", kind) != kind:
            raise PayloadError(400, f"type: must be {kind!r} at /v1/{kind}")
        items = [item]
        prefixes = [""]

    events: list[NewEvent] = []
    errors: list[str] = []
    for prefix, item in zip(prefixes, items, strict=True):
        if not isinstance(item, dict):
            errors.append(join(prefix, "", "must be a JSON object"))
            continue
        size = len(dumps(item).encode())
        if size > MAX_MESSAGE_BYTES:
            errors.append(
                join(
                    prefix, "", f"message is {size} bytes, over the {MAX_MESSAGE_BYTES}-byte limit"
                )
            )
            continue
        try:
            message = parse_message(item)
        except ValidationError as exc:
            errors.append(describe_error(exc, item, prefix=prefix))
            continue
        events.append(_new_event(message, item))
    if errors:
        raise PayloadError(400, errors[0], errors[:_MAX_ERRORS])
    return events


def _merge_envelope(item: Any, envelope: Mapping[str, Any]) -> Any:
    """Merge the batch's ``context`` and ``integrations`` into an item; the item's keys win."""
    if not isinstance(item, dict):
        return item
    merged = dict(item)
    for key in ("context", "integrations"):
        shared = envelope.get(key)
        if isinstance(shared, dict):
            own = merged.get(key)
            merged[key] = {**shared, **own} if isinstance(own, dict) else own or dict(shared)
    return merged


def _new_event(message: Message, item: Mapping[str, Any]) -> NewEvent:
    wire = dict(item)
    message_id = str(getattr(message, "message_id", None) or wire.get("messageId"))
    wire["messageId"] = message_id
    # Segment stamps a message sent without a timestamp when it arrives; so did the model.
    timestamp = wire.get("timestamp")
    if not isinstance(timestamp, str):
        timestamp = message.timestamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return NewEvent(
        message_id=message_id,
        type=str(message.type),
        event=getattr(message, "event", None),
        name=getattr(message, "name", None),
        user_id=getattr(message, "user_id", None),
        anonymous_id=getattr(message, "anonymous_id", None),
        timestamp=timestamp,
        message=wire,
    )


async def _drop_connection(receive: Receive) -> None:
    """Close the connection without an answer, as a crashed proxy would.

    ASGI has no "abort"; uvicorn's ``receive`` is a method of the request cycle, which holds
    the transport. Under another server, fail the request instead of faking a close.
    """
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    abort: Callable[[], None] | None = getattr(transport, "abort", None)
    if abort is None:
        raise ConnectionAbortedError("connection dropped by fault injection")
    abort()
    while (await receive())["type"] != "http.disconnect":
        pass


# -- query API and page ---------------------------------------------------------------------


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if raw.startswith("-") and raw[1:].isascii() and raw[1:].isdigit():
        raise PayloadError(400, f"{name}: must not be negative")
    if not (raw.isascii() and raw.isdigit()):
        raise PayloadError(400, f"{name}: must be an integer")
    if len(raw.lstrip("0")) > _MAX_QUERY_DIGITS:
        raise PayloadError(400, f"{name}: must be under 10**{_MAX_QUERY_DIGITS}")
    return int(raw)


@dataclass(frozen=True, slots=True)
class _Filters:
    type: str | None
    event: str | None
    user: str | None

    @classmethod
    def of(cls, request: Request) -> _Filters:
        params = request.query_params
        return cls(
            params.get("type") or None, params.get("event") or None, params.get("user") or None
        )


Endpoint = Callable[[Request], Any]


def _events_endpoint(state: CollectorState) -> Endpoint:
    async def events(request: Request) -> Response:
        try:
            limit = _int_param(request, "limit", 50)
            offset = _int_param(request, "offset", 0)
        except PayloadError as exc:
            return exc.response()
        filters = _Filters.of(request)

        def query() -> dict[str, Any]:
            rows, total = state.store.events(
                type=filters.type,
                event=filters.event,
                user=filters.user,
                limit=limit,
                offset=offset,
            )
            return {
                "events": [_with_violations(state, row.to_json()) for row in rows],
                "total": total,
                "limit": limit,
                "offset": offset,
            }

        return _JSON(await anyio.to_thread.run_sync(query))

    return events


def _with_violations(state: CollectorState, event: dict[str, Any]) -> dict[str, Any]:
    """Add how the event breaks the loaded tracking plan, if one is loaded."""
    if state.plan is not None:
        event["violations"] = [str(v) for v in state.plan.check(event["message"])]
    return event


def _counts_endpoint(state: CollectorState) -> Endpoint:
    async def counts(request: Request) -> Response:
        result = await anyio.to_thread.run_sync(state.store.counts)
        return _JSON(result.to_json())

    return counts


def _export_endpoint(state: CollectorState) -> Endpoint:
    async def export(request: Request) -> Response:
        filters = _Filters.of(request)
        lines = state.store.export(type=filters.type, event=filters.event, user=filters.user)
        return StreamingResponse(
            _pages(lines),
            media_type="application/x-ndjson",
            headers={"Content-Disposition": 'attachment; filename="aioanalytics-events.jsonl"'},
        )

    return export


async def _pages(lines: Iterator[str]) -> AsyncIterator[bytes]:
    """Read ``lines`` a page at a time in a worker thread, and yield each page as it is read.

    One thread hop per page rather than per line: Starlette would read a plain iterator a
    line at a time, through a worker thread each.
    """

    def page() -> bytes:
        return "".join(itertools.islice(lines, _EXPORT_PAGE)).encode()

    while chunk := await anyio.to_thread.run_sync(page):
        yield chunk


def _config_endpoint(state: CollectorState) -> Endpoint:
    async def config(request: Request) -> Response:
        faults = state.faults
        hub = state.hub
        connections = state.connections
        return _JSON(
            {
                # How many keys are accepted, never which.
                "auth": {"anyKey": not state.write_keys, "keys": len(state.write_keys)},
                "faults": {
                    "failRate": faults.fail_rate,
                    "failStatus": faults.fail_status,
                    "retryAfter": faults.retry_after,
                    "dropRate": faults.drop_rate,
                    "latency": faults.latency,
                },
                "limits": {
                    "messageBytes": MAX_MESSAGE_BYTES,
                    "batchBytes": MAX_BATCH_BYTES,
                    "batchMessages": MAX_BATCH_MESSAGES,
                    "bodyTimeout": state.body_timeout,
                    "maxStreams": hub.max_streams,
                    "streamSendTimeout": hub.send_timeout,
                },
                "requests": {**state.ingested, "misdirected": state.misdirected},
                "streams": {"open": hub.subscribers, **hub.stats},
                "connections": connections.to_json() if connections is not None else None,
                "plan": None
                if state.plan is None
                else {"name": state.plan.name, "events": len(state.plan.events)},
            }
        )

    return config


_CONTENT_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}

# The page loads only its own files, so no injected markup can run script or send data away.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
        " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class _PageFiles:
    """The debugger page's files, read once from the package (no build step)."""

    def __init__(self) -> None:
        folder = resources.files("aioanalytics._server").joinpath("static")
        self.files = {name: folder.joinpath(name).read_bytes() for name in _CONTENT_TYPES}

    def endpoint(self, name: str) -> Endpoint:
        content = self.files[name]

        async def serve(request: Request) -> Response:
            return Response(content, media_type=_CONTENT_TYPES[name], headers=_PAGE_HEADERS)

        return serve
