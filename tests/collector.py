"""A Segment-compatible HTTP collector for tests: real sockets on 127.0.0.1, scripted answers.

Theory of operation: a background thread runs an asyncio loop serving HTTP/1.1 with keep-alive
on an ephemeral port. Each request to an endpoint is read whole (Content-Length or chunked),
gunzipped when ``Content-Encoding: gzip`` says so, parsed as JSON, and recorded as a
:class:`Request` once it is finished. The answer is the first of:

1. the next :class:`Action` of the FIFO script (``script()``), taken when the headers arrive;
2. what the hook (``set_hook()``) returns for the decoded request, unless ``None``;
3. the seeded fault mix (``set_faults()``), drawn once per request in arrival order;
4. ``200 {"success": true}``.

A body that cannot be decoded always gets a 400, as Segment answers malformed JSON
(segment-http-api.md §6). A drop with ``read_body=False`` from the script or the fault mix
closes the connection right after the headers, so its body is never fully received.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import itertools
import json
import random
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Self

__all__ = ["ENDPOINTS", "Action", "Collector", "Headers", "Hook", "Request"]

#: The paths that take messages (segment-http-api.md §1); other paths get a 404.
ENDPOINTS = frozenset(
    f"/v1/{name}" for name in ("batch", "identify", "track", "page", "screen", "group", "alias")
)
_REASONS = {status.value: status.phrase for status in HTTPStatus}


class Headers(Mapping[str, str]):
    """Read-only request headers with case-insensitive names; repeats are joined by ", "."""

    def __init__(self, pairs: Sequence[tuple[str, str]] = ()) -> None:
        self._items: dict[str, str] = {}
        for name, value in pairs:
            key = name.lower()
            self._items[key] = f"{self._items[key]}, {value}" if key in self._items else value

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


@dataclass(frozen=True)
class Action:
    """How to answer one request.

    Args:
        status: the status code.
        headers: extra response headers.
        body: bytes are sent as they are, anything else as JSON; ``None`` sends
            ``{"success": <status is 2xx>}``.
        retry_after: seconds, sent as a ``Retry-After`` header.
        delay: seconds to wait before answering or dropping; if the client hangs up
            meanwhile, the wait ends and nothing is written.
        drop: close the connection without answering.
        read_body: with ``drop``, ``False`` closes before reading the body (honoured from the
            script and the fault mix only, since the hook needs the body).
    """

    status: int = 200
    headers: Mapping[str, str] | None = None
    body: Any = None
    retry_after: float | None = None
    delay: float = 0.0
    drop: bool = False
    read_body: bool = True

    def encode(self, keep_alive: bool) -> bytes:
        """Return the whole HTTP/1.1 response."""
        body = self.body
        if not isinstance(body, bytes):
            ok = 200 <= self.status < 300
            body = json.dumps({"success": ok} if body is None else body).encode()
        headers = {"Content-Type": "application/json", **(self.headers or {})}
        if self.retry_after is not None:
            headers["Retry-After"] = f"{self.retry_after:g}"
        headers["Content-Length"] = str(len(body))
        headers["Connection"] = "keep-alive" if keep_alive else "close"
        lines = [
            f"HTTP/1.1 {self.status} {_REASONS.get(self.status, 'Unknown')}",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class Request:
    """One request as the collector saw it; recorded when finished and not changed after."""

    connection: int  #: 1 for the first connection accepted, 2 for the next, ...
    method: str
    path: str
    headers: Headers
    arrived: float  #: ``time.monotonic()`` when the request line was read
    raw_size: int = 0  #: body bytes received, as sent
    size: int = 0  #: body bytes after gunzip
    body: bytes = field(default=b"", repr=False)  #: the body after gunzip
    json: Any = None
    error: str | None = None  #: why the body could not be decoded
    body_complete: bool = False  #: the whole body was received
    status: int | None = None  #: the status answered, or ``None`` when nothing was sent
    dropped: bool = False  #: closed on purpose without an answer
    client_gone: bool = False  #: the client hung up before it could be answered
    answered: float | None = None  #: ``time.monotonic()`` when the answer was sent

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The messages carried: the items of ``batch``, or the body of a single call."""
        if not isinstance(self.json, dict) or self.path not in ENDPOINTS:
            return []
        if self.path != "/v1/batch":
            return [self.json]
        batch = self.json.get("batch")
        return [m for m in batch if isinstance(m, dict)] if isinstance(batch, list) else []

    @property
    def message_ids(self) -> list[str]:
        """The ``messageId`` of each message that has a string one."""
        return [m["messageId"] for m in self.messages if isinstance(m.get("messageId"), str)]

    @property
    def acknowledged(self) -> bool:
        """Whether the answer was a 2xx."""
        return self.status is not None and 200 <= self.status < 300


#: Chooses the answer from a decoded request; ``None`` leaves it to the fault mix.
Hook = Callable[[Request], Action | None]


class Collector:
    """A Segment-compatible collector on ``127.0.0.1``, served from a background thread.

    Every method may be called from any thread. Usage::

        with Collector() as collector:
            collector.script(Action(500), Action(429, retry_after=0))
            ...  # POST batches to f"{collector.url}/v1/batch"
            collector.wait_for(10)
            assert collector.accepted_ids == sent_ids
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._script: deque[Action] = deque()
        self._faults: list[tuple[float, Action]] = []
        self._rng = random.Random(0)
        self._hook: Hook | None = None
        self._requests: list[Request] = []
        self._unique: set[str] = set()
        self._accepted: set[str] = set()
        self._connections = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread: threading.Thread | None = None
        self._stop: Callable[[], object] | None = None
        self.port = 0
        #: Exceptions from the hook or the server itself; a passing test leaves it empty.
        self.errors: list[BaseException] = []

    @property
    def url(self) -> str:
        """The base URL, such as ``http://127.0.0.1:54321``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        """Start serving; return once the port is bound."""
        if self._thread is not None:
            raise RuntimeError("the collector is already running")
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="tests.collector")
        self._thread.start()
        ready.wait()
        if self._stop is None:
            self._thread.join()
            self._thread = None
            raise RuntimeError("the collector failed to start") from self.errors[-1]
        return self

    def stop(self) -> None:
        """Close every connection, stop the loop and join its thread."""
        if self._thread is None:
            return
        if self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._stop()
        self._thread.join()
        self._thread = self._stop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- scripting ---------------------------------------------------------------------------

    def script(self, *actions: Action) -> None:
        """Queue actions that answer the next requests, one each, in arrival order."""
        with self._lock:
            self._script.extend(actions)

    @property
    def pending_script(self) -> int:
        """How many scripted actions still wait for a request."""
        with self._lock:
            return len(self._script)

    def set_faults(self, rules: Sequence[tuple[float, Action]], *, seed: int = 0) -> None:
        """For each ``(p, action)``, answer a request with ``action`` with probability ``p``.

        One draw from ``random.Random(seed)`` per request, in arrival order, so for a given
        seed the n-th request always meets the same fate.
        """
        if any(p < 0 for p, _ in rules) or sum(p for p, _ in rules) > 1:
            raise ValueError("probabilities must be >= 0 and add up to at most 1")
        with self._lock:
            self._faults, self._rng = list(rules), random.Random(seed)

    def set_hook(self, hook: Hook | None) -> None:
        """Answer by content: ``hook(request)`` returns an :class:`Action`, or ``None``."""
        with self._lock:
            self._hook = hook

    def reset(self) -> None:
        """Forget the recorded requests, the script, the fault mix and the hook."""
        with self._lock:
            self._script.clear()
            self._faults, self._hook, self._requests = [], None, []
            self._unique, self._accepted = set(), set()

    # -- what was received -------------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        """Every finished request, in the order they finished."""
        with self._lock:
            return list(self._requests)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Every message received in a decodable body, whatever the answer, repeats included."""
        return [m for r in self.requests for m in r.messages]

    @property
    def message_ids(self) -> list[str]:
        """The ``messageId`` of every received message, repeats included."""
        return [i for r in self.requests for i in r.message_ids]

    @property
    def unique_ids(self) -> set[str]:
        """The distinct ``messageId`` values received."""
        with self._lock:
            return set(self._unique)

    @property
    def accepted_messages(self) -> list[dict[str, Any]]:
        """The messages of requests answered 2xx: what a real collector would keep."""
        return [m for r in self.requests if r.acknowledged for m in r.messages]

    @property
    def accepted_ids(self) -> set[str]:
        """The distinct ``messageId`` values of requests answered 2xx."""
        with self._lock:
            return set(self._accepted)

    @property
    def duplicate_ids(self) -> dict[str, int]:
        """How many times each ``messageId`` received more than once was received."""
        return {i: n for i, n in Counter(self.message_ids).items() if n > 1}

    def unexpected_duplicates(self) -> set[str]:
        """The ``messageId`` values that arrived again after a 2xx had acknowledged them.

        Copies sent after a 5xx, a 429, a drop or a client timeout are legitimate retries; a
        copy sent after the client was told "accepted" is not.
        """
        requests, acked = self.requests, dict[str, float]()
        for r in requests:
            if r.acknowledged and r.answered is not None:
                for i in r.message_ids:
                    acked[i] = min(acked.get(i, r.answered), r.answered)
        return {i for r in requests for i in r.message_ids if r.arrived > acked.get(i, r.arrived)}

    def wait_for(self, count: int, timeout: float = 5.0, *, accepted: bool = True) -> None:
        """Block until ``count`` distinct messageIds were accepted (with ``accepted=False``:
        received); raise :class:`TimeoutError` after ``timeout`` seconds."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._reached(count, accepted), timeout):
                raise TimeoutError(self._progress(count, accepted))

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> None:
        """Block until ``count`` requests are finished; raise :class:`TimeoutError` otherwise."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._requests) >= count, timeout):
                raise TimeoutError(f"{len(self._requests)} of {count} requests finished")

    async def wait_for_async(self, count: int, *, accepted: bool = True) -> None:
        """:meth:`wait_for` for async tests; bound it with ``anyio.fail_after()``."""
        await self._until(lambda: self._reached(count, accepted))

    async def wait_for_requests_async(self, count: int) -> None:
        """:meth:`wait_for_requests` for async tests; bound it with ``anyio.fail_after()``."""
        await self._until(lambda: len(self._requests) >= count)

    async def _until(self, done: Callable[[], bool]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            event = asyncio.Event()
            with self._lock:
                if done():
                    return
                self._waiters.append((loop, event))
            await event.wait()

    def _reached(self, count: int, accepted: bool) -> bool:
        return len(self._accepted if accepted else self._unique) >= count

    def _progress(self, count: int, accepted: bool) -> str:
        ids, what = (self._accepted, "accepted") if accepted else (self._unique, "received")
        return f"{len(ids)} of {count} messageIds {what} in {len(self._requests)} requests"

    def _finish(self, request: Request) -> None:
        """Record a finished request and wake whoever waits."""
        with self._changed:
            self._requests.append(request)
            self._unique.update(request.message_ids)
            if request.acknowledged:
                self._accepted.update(request.message_ids)
            self._changed.notify_all()
            for loop, event in self._waiters:
                with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                    loop.call_soon_threadsafe(event.set)
            self._waiters.clear()

    # -- the server --------------------------------------------------------------------------

    def _run(self, ready: threading.Event) -> None:
        try:
            asyncio.run(self._serve(ready))
        except BaseException as exc:  # noqa: BLE001 - reported through self.errors
            self.errors.append(exc)
        finally:
            ready.set()

    async def _serve(self, ready: threading.Event) -> None:
        loop, stopping = asyncio.get_running_loop(), asyncio.Event()
        server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._stop = functools.partial(loop.call_soon_threadsafe, stopping.set)
        ready.set()
        try:
            await stopping.wait()
        finally:
            server.close()
            await asyncio.sleep(0)  # connections accepted just now register themselves
            while self._tasks:
                for task in self._tasks:
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 1)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        connection = next(self._connections)
        try:
            while await self._exchange(connection, reader, writer):
                pass
        except (ConnectionError, ValueError, asyncio.IncompleteReadError):
            pass  # a broken or malformed request: its record, if any, is already made
        except Exception as exc:  # noqa: BLE001 - a collector bug must fail the test
            self.errors.append(exc)
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _exchange(
        self, connection: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Serve one request; return whether the connection stays open."""
        line = await reader.readline()
        if not line.strip():
            return bool(line)  # EOF, or an empty line between requests (RFC 9112 §2.2)
        method, target, version = line.decode("latin-1").split()
        pairs = []
        while (header := await reader.readline()).strip():
            name, _, value = header.decode("latin-1").partition(":")
            pairs.append((name.strip(), value.strip()))
        headers = Headers(pairs)
        request = Request(connection, method, target.split("?")[0], headers, time.monotonic())
        keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        routed = request.path in ENDPOINTS and method == "POST"
        scripted, drawn = self._choose() if routed else (None, None)
        early = scripted or drawn
        if early is not None and early.drop and not early.read_body:
            request.dropped = True
            self._finish(request)
            return False
        try:
            raw = await self._read_body(reader, request)
        finally:
            if not request.body_complete:
                self._finish(request)
        self._decode(request, raw)
        if not routed:
            action = Action(404 if request.path not in ENDPOINTS else 405)
        elif request.error is not None or request.json is None:
            message = request.error or "empty body"
            action = Action(400, body={"success": False, "message": message})
        else:
            action = scripted or self._ask_hook(request) or drawn or Action()
        return await self._answer(request, action, reader, writer, keep_alive)

    def _choose(self) -> tuple[Action | None, Action | None]:
        """Take the next scripted action and draw from the fault mix."""
        with self._lock:
            scripted = self._script.popleft() if self._script else None
            roll = self._rng.random() if self._faults else 1.0
            for p, action in self._faults:
                if roll < p:
                    return scripted, action
                roll -= p
        return scripted, None

    def _ask_hook(self, request: Request) -> Action | None:
        with self._lock:
            hook = self._hook
        try:
            return hook(request) if hook is not None else None
        except Exception as exc:  # noqa: BLE001 - answered with a 500 and kept for the test
            self.errors.append(exc)
            return Action(500, body={"success": False, "message": f"hook failed: {exc!r}"})

    @staticmethod
    async def _read_body(reader: asyncio.StreamReader, request: Request) -> bytes:
        """Read the body (Content-Length or chunked), counting the bytes that arrived."""
        if "chunked" in request.headers.get("transfer-encoding", "").lower():
            chunks = []
            while size := int((await reader.readline()).split(b";")[0], 16):
                chunks.append(await reader.readexactly(size))
                request.raw_size += size
                await reader.readexactly(2)
            while (await reader.readline()).strip():
                pass  # trailers
            raw = b"".join(chunks)
        else:
            try:
                raw = await reader.readexactly(int(request.headers.get("content-length", "0")))
            except asyncio.IncompleteReadError as exc:
                request.raw_size = len(exc.partial)
                raise
        request.raw_size, request.body_complete = len(raw), True
        return raw

    @staticmethod
    def _decode(request: Request, raw: bytes) -> None:
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        try:
            if encoding == "gzip":
                raw = gzip.decompress(raw)
            elif encoding != "identity":
                raise ValueError(f"unsupported Content-Encoding {encoding!r}")
            request.body, request.size = raw, len(raw)
            request.json = json.loads(raw) if raw else None
        except (OSError, EOFError, ValueError, zlib.error) as exc:
            request.error = f"{type(exc).__name__}: {exc}"

    async def _answer(
        self,
        request: Request,
        action: Action,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        keep_alive: bool,
    ) -> bool:
        """Carry out ``action``, record the request, and return whether to keep the connection."""
        if action.delay > 0:
            # A hang-up shows only to a reader; a request pipelined meanwhile is not supported.
            try:
                early: bytes | None = await asyncio.wait_for(reader.read(1), action.delay)
            except TimeoutError:
                early = None
            except ConnectionError:
                early = b""
            request.client_gone, keep_alive = early == b"", keep_alive and not early
        if not request.client_gone and action.drop:
            request.dropped = True
        elif not request.client_gone:
            request.status, request.answered = action.status, time.monotonic()
        self._finish(request)  # first, so a client holding the answer finds the record
        if request.status is None:
            return False
        writer.write(action.encode(keep_alive))
        await writer.drain()
        return keep_alive
