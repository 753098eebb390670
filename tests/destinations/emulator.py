"""A recording emulator of a destination's HTTP API, on 127.0.0.1, with scripted faults.

Theory of operation: a ``ThreadingHTTPServer`` on an ephemeral port answers every request
(HTTP/1.1, keep-alive) and records it decoded: the body is gunzipped when
``Content-Encoding: gzip`` says so, then read as JSON, or as a form whose ``data`` field is
JSON text or base64 of JSON (the encodings Mixpanel has accepted over the years). The answer is
the first of:

1. the next scripted :class:`Answer` for the request's path (``script(path, ...)``);
2. the next scripted :class:`Answer` for any path (``script(None, ...)``);
3. what the emulator's ``respond`` function says (the API's success answer, or its refusal
   of a request without credentials).

Stopping closes every open connection, so no socket outlives the emulator.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

__all__ = ["Answer", "Emulator", "Recorded"]


@dataclass(frozen=True)
class Answer:
    """How to answer one request: ``body`` is sent as JSON (``bytes`` as they are);
    ``drop`` closes the connection without answering; ``delay`` waits first (seconds)."""

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    drop: bool = False
    delay: float = 0.0


@dataclass(frozen=True)
class Recorded:
    """One request as the emulator decoded it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  #: lower-case names
    encoding: str  #: "json", "form", "form-base64" or "empty"
    body: Any  #: the JSON payload (for forms: the ``data`` field, decoded)
    form: dict[str, str]  #: the other form fields
    auth: tuple[str, str] | None  #: HTTP Basic user and password
    status: int | None  #: what was answered; ``None`` when dropped
    arrived: float  #: ``time.monotonic()``

    @property
    def records(self) -> list[Any]:
        """The records carried: the items of a JSON array body, else the body itself."""
        return list(self.body) if isinstance(self.body, list) else [self.body]


Respond = Callable[[Recorded], Answer]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    emulator: Emulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.emulator._opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.emulator._closed(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        arrived = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        emulator = self.server.emulator
        recorded = _decode(self.command, self.path, dict(self.headers.items()), raw, arrived)
        answer = emulator._answer(recorded)
        if answer.delay:
            emulator._stopping.wait(answer.delay)
        if answer.drop:
            emulator._record(recorded, None)
            self.close_connection = True
            return
        body = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
        emulator._record(recorded, answer.status)  # before the client can see the answer
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()


def _decode(
    method: str, target: str, headers: dict[str, str], raw: bytes, arrived: float
) -> Recorded:
    lower = {name.lower(): value for name, value in headers.items()}
    parts = urlsplit(target)
    query = dict(parse_qsl(parts.query))
    if lower.get("content-encoding") == "gzip":
        raw = gzip.decompress(raw)
    form: dict[str, str] = {}
    if lower.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = dict(parse_qsl(raw.decode()))
        encoding, body = _decode_data(form.pop("data", ""))
    elif "data" in query:
        encoding, body = _decode_data(query.pop("data"))
    elif raw:
        encoding, body = "json", json.loads(raw)
    else:
        encoding, body = "empty", None
    auth = None
    scheme, _, token = lower.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        user, _, password = base64.b64decode(token).decode().partition(":")
        auth = (user, password)
    return Recorded(method, parts.path, query, lower, encoding, body, form, auth, None, arrived)


def _decode_data(text: str) -> tuple[str, Any]:
    try:
        return "form", json.loads(text)
    except ValueError:
        pass
    try:
        return "form-base64", json.loads(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        return "form", text


class Emulator:
    """An HTTP API on 127.0.0.1 that records what it gets; ``url`` is its base URL.

    ``respond`` gives the answer to a request nothing was scripted for.
    """

    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self._lock = threading.Lock()
        self._scripts: dict[str | None, deque[Answer]] = {}
        self._requests: list[Recorded] = []
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.emulator = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()
        self._server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + 5
        while self._connections and time.monotonic() < deadline:
            time.sleep(0.005)
        self._server.server_close()
        self._thread.join()

    def script(self, path: str | None, *answers: Answer) -> None:
        """Answer the next requests to ``path`` (``None``: to any path) with ``answers``."""
        with self._lock:
            self._scripts.setdefault(path, deque()).extend(answers)

    @property
    def requests(self) -> list[Recorded]:
        """Every request answered or dropped so far, in the order they were answered."""
        with self._lock:
            return list(self._requests)

    def to(self, path: str) -> list[Recorded]:
        """The finished requests to ``path``."""
        return [request for request in self.requests if request.path == path]

    def bodies(self, path: str) -> list[Any]:
        """The decoded bodies of the requests to ``path`` that got a 2xx answer."""
        return [r.body for r in self.to(path) if r.status is not None and 200 <= r.status < 300]

    def _answer(self, recorded: Recorded) -> Answer:
        with self._lock:
            for key in (recorded.path, None):
                queue = self._scripts.get(key)
                if queue:
                    return queue.popleft()
        return self.respond(recorded)

    def _record(self, recorded: Recorded, status: int | None) -> None:
        finished = Recorded(**{**recorded.__dict__, "status": status})
        with self._lock:
            self._requests.append(finished)

    def _opened(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)
