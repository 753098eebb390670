"""A fast local collector for the benchmarks: counts messages and unique message ids.

It speaks just enough HTTP/1.1 (keep-alive, ``Content-Length`` and chunked bodies, gzip
and deflate request bodies) to accept what every SDK under test sends, on a raw asyncio
protocol so that it stays cheap next to the process being measured. Any ``POST`` outside
``/__bench/`` is data: the body is a batch envelope (``{"batch": [...]}``, Segment and
PostHog alike) or one message, and each message's id is ``messageId`` (Segment) or
``uuid`` (PostHog).

Control endpoints (never subject to faults):

- ``POST /__bench/reset`` with ``{"seed": 1, "faults": {"500": 0.05, ...}, "hold": false}``
  clears the counters, sets the fault mix and whether data requests are held unanswered.
- ``POST /__bench/release`` answers every held request and stops holding.
- ``GET /__bench/stats`` returns the counters as JSON.

Faults are drawn per data request from a seeded RNG: a status code (500, 503, 429 with
``Retry-After: 1``) or ``"drop"`` (the connection is reset after the request is read, with
no response). A faulted request counts no messages.

Run it alone with ``python -m benchmarks.collector --port 0``; it prints its port.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import signal
import zlib
from collections import Counter
from collections.abc import Callable
from typing import Any

try:
    import orjson

    _loads: Callable[[bytes], Any] = orjson.loads
    _dumps: Callable[[Any], bytes] = orjson.dumps
except ImportError:  # pragma: no cover - orjson is installed in the bench session
    _loads = json.loads

    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj).encode()


FaultMix = dict[str, float]

#: The mix named in docs/performance.md: 5% 500, 5% 503, 2% 429, 2% dropped connections.
DEFAULT_FAULTS: FaultMix = {"500": 0.05, "503": 0.05, "429": 0.02, "drop": 0.02}

_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    404: b"Not Found",
    429: b"Too Many Requests",
    500: b"Internal Server Error",
    503: b"Service Unavailable",
}
_MAX_HOLD_SECONDS = 30.0


class Request:
    """One parsed HTTP request."""

    __slots__ = ("body", "headers", "keep_alive", "method", "target")

    def __init__(
        self, method: str, target: str, headers: dict[str, str], body: bytes, keep_alive: bool
    ) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive


class State:
    """Counters and settings shared by every connection."""

    def __init__(self) -> None:
        self.held: list[tuple[CollectorProtocol, Request]] = []
        self.hold = False
        self.hold_timer: asyncio.TimerHandle | None = None
        self.reset(seed=1, faults={}, hold=False)

    def reset(self, *, seed: int, faults: FaultMix, hold: bool) -> None:
        """Clear the counters and apply new settings."""
        self.release()
        self.rng = random.Random(seed)
        self.faults = [(k, float(v)) for k, v in faults.items()]
        self.hold = hold
        if hold:
            loop = asyncio.get_running_loop()
            self.hold_timer = loop.call_later(_MAX_HOLD_SECONDS, self.release)
        self.ids: set[str] = set()
        self.messages = 0
        self.messages_without_id = 0
        self.invalid_messages = 0
        self.requests = 0
        self.accepted_requests = 0
        self.bad_requests = 0
        self.bytes_in = 0
        self.bytes_decoded = 0
        self.gzip_requests = 0
        self.faults_injected: Counter[str] = Counter()
        self.paths: Counter[str] = Counter()
        self.user_agents: Counter[str] = Counter()

    def release(self) -> None:
        """Answer every held request and stop holding."""
        self.hold = False
        if self.hold_timer is not None:
            self.hold_timer.cancel()
            self.hold_timer = None
        held, self.held = self.held, []
        for proto, request in held:
            proto.handle_data(request)

    def draw_fault(self) -> str | None:
        """Pick the fault for the next data request, or None."""
        if not self.faults:
            return None
        r = self.rng.random()
        acc = 0.0
        for name, p in self.faults:
            acc += p
            if r < acc:
                return name
        return None

    def stats(self) -> dict[str, Any]:
        """The counters as a JSON-ready dict."""
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "messages": self.messages,
            "unique": len(self.ids),
            "duplicates": self.messages - self.messages_without_id - len(self.ids),
            "messages_without_id": self.messages_without_id,
            "invalid_messages": self.invalid_messages,
            "requests": self.requests,
            "accepted_requests": self.accepted_requests,
            "bad_requests": self.bad_requests,
            "bytes_in": self.bytes_in,
            "bytes_decoded": self.bytes_decoded,
            "gzip_requests": self.gzip_requests,
            "faults": dict(self.faults_injected),
            "held": len(self.held),
            "paths": dict(self.paths),
            "user_agents": dict(self.user_agents),
            "collector_cpu_s": ru.ru_utime + ru.ru_stime,
        }

    def ingest(self, request: Request) -> int:
        """Count the messages of an accepted data request; return the HTTP status."""
        body = request.body
        encoding = request.headers.get("content-encoding", "").lower()
        try:
            if encoding == "gzip":
                self.gzip_requests += 1
                body = zlib.decompress(body, 47)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            payload = _loads(body)
        except (zlib.error, ValueError):
            self.bad_requests += 1
            return 400
        self.bytes_decoded += len(body)
        if isinstance(payload, dict) and isinstance(payload.get("batch"), list):
            items = payload["batch"]
        elif isinstance(payload, list):
            items = payload
        else:
            items = [payload]
        ids = self.ids
        for item in items:
            self.messages += 1
            if not isinstance(item, dict):
                self.invalid_messages += 1
                self.messages_without_id += 1
                continue
            mid = item.get("messageId") or item.get("uuid")
            if not isinstance(mid, str):
                self.messages_without_id += 1
                continue
            ids.add(mid)
            if "type" in item and (
                "timestamp" not in item or ("userId" not in item and "anonymousId" not in item)
            ):
                self.invalid_messages += 1
        self.accepted_requests += 1
        return 200


def _response(status: int, body: bytes, keep_alive: bool, extra: tuple[bytes, ...] = ()) -> bytes:
    head = [
        b"HTTP/1.1 %d %s" % (status, _REASONS.get(status, b"Status")),
        b"Content-Type: application/json",
        b"Content-Length: %d" % len(body),
    ]
    head.extend(extra)
    if not keep_alive:
        head.append(b"Connection: close")
    return b"\r\n".join(head) + b"\r\n\r\n" + body


_OK_BODY = b'{"success":true}'


class CollectorProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while not self.closed:
            request = self._parse()
            if request is None:
                return
            self._dispatch(request)

    def _parse(self) -> Request | None:
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        lines = bytes(buf[:end]).split(b"\r\n")
        try:
            method, target, version = lines[0].decode("latin-1").split(" ", 2)
        except ValueError:
            self._fail()
            return None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        start = end + 4
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parsed = self._parse_chunked(start)
            if parsed is None:
                return None
            body, consumed = parsed
        else:
            length = int(headers.get("content-length", "0") or 0)
            if len(buf) - start < length:
                return None
            body = bytes(buf[start : start + length])
            consumed = start + length
        del buf[:consumed]
        conn = headers.get("connection", "").lower()
        keep_alive = conn != "close" if version == "HTTP/1.1" else conn == "keep-alive"
        return Request(method, target, headers, body, keep_alive)

    def _parse_chunked(self, pos: int) -> tuple[bytes, int] | None:
        buf = self.buf
        parts: list[bytes] = []
        while True:
            line_end = buf.find(b"\r\n", pos)
            if line_end < 0:
                return None
            size = int(bytes(buf[pos:line_end]).split(b";")[0], 16)
            pos = line_end + 2
            if size == 0:
                trailer_end = buf.find(b"\r\n\r\n", pos - 2)
                if trailer_end < 0:
                    return None
                return b"".join(parts), trailer_end + 4
            if len(buf) < pos + size + 2:
                return None
            parts.append(bytes(buf[pos : pos + size]))
            pos += size + 2

    def _fail(self) -> None:
        if self.transport is not None:
            self.transport.abort()
        self.closed = True

    def _send(self, data: bytes, keep_alive: bool) -> None:
        if self.closed or self.transport is None:
            return
        self.transport.write(data)
        if not keep_alive:
            self.transport.close()
            self.closed = True

    def _dispatch(self, request: Request) -> None:
        state = self.state
        path = request.target.split("?", 1)[0]
        if path.startswith("/__bench/"):
            self._control(path, request)
            return
        if request.method != "POST":
            self._send(_response(404, b"{}", request.keep_alive), request.keep_alive)
            return
        state.requests += 1
        state.bytes_in += len(request.body)
        state.paths[path] += 1
        state.user_agents[request.headers.get("user-agent", "").split("/")[0]] += 1
        if state.hold:
            state.held.append((self, request))
            return
        self.handle_data(request)

    def handle_data(self, request: Request) -> None:
        """Answer one data request: inject a fault or count its messages."""
        state = self.state
        if self.closed:
            return
        fault = state.draw_fault()
        if fault is not None:
            state.faults_injected[fault] += 1
            if fault == "drop":
                self._fail()
                return
            status = int(fault)
            extra = (b"Retry-After: 1", b"X-RateLimit-Reset: 1") if status == 429 else ()
            body = b'{"code":"fault","message":"injected"}'
            self._send(_response(status, body, request.keep_alive, extra), request.keep_alive)
            return
        status = state.ingest(request)
        body = _OK_BODY if status == 200 else b'{"code":"bad","message":"undecodable"}'
        self._send(_response(status, body, request.keep_alive), request.keep_alive)

    def _control(self, path: str, request: Request) -> None:
        state = self.state
        if path == "/__bench/stats":
            body = _dumps(state.stats())
        elif path == "/__bench/reset":
            settings = _loads(request.body) if request.body else {}
            state.reset(
                seed=int(settings.get("seed", 1)),
                faults=dict(settings.get("faults") or {}),
                hold=bool(settings.get("hold", False)),
            )
            body = b"{}"
        elif path == "/__bench/release":
            state.release()
            body = b"{}"
        else:
            self._send(_response(404, b"{}", request.keep_alive), request.keep_alive)
            return
        self._send(_response(200, body, request.keep_alive), request.keep_alive)


async def serve(host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT; print the bound port on the first line of stdout."""
    loop = asyncio.get_running_loop()
    state = State()
    server = await loop.create_server(
        lambda: CollectorProtocol(state), host, port, backlog=1024, reuse_address=True
    )
    bound = server.sockets[0].getsockname()[1]
    print(bound, flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the collector only listens on the loopback interface")
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
