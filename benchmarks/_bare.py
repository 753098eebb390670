"""The bare baseline: the least work a Python process can do to deliver Segment events.

Per call it builds the message dict, stamps a uuid4 and an ISO-8601 timestamp, serializes
it once (``pydantic_core.to_json``), and appends the bytes to the open batch. Full batches
(as the SDK closes them: before 475,000 bytes of body or at 2,500 messages, or whatever is
open every 0.5 s) are joined into a
``{"batch": [...], "sentAt": ...}`` body, gzipped at level 1 like the SDK's default, and
posted with one shared ``httpx.AsyncClient`` by four sender tasks. Failed posts are retried
(honouring ``Retry-After``), and a bounded queue of ready batches gives backpressure, so the
baseline is lossless too. There is no validation, no delivery handle, no stats and no size
checks: that is the point.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import uuid
from datetime import UTC, datetime
from typing import Any, Self

import httpx

# A Rust serializer, like orjson, but without orjson 3.13's habit of keeping about 4 KB of
# heap alive per small result, which would inflate this baseline's RSS tenfold.
from pydantic_core import __version__ as _pydantic_core_version
from pydantic_core import to_json as _encode

SERIALIZER = f"pydantic_core.to_json {_pydantic_core_version}"

_LIBRARY = {"library": {"name": "bare-baseline", "version": "0"}}


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


class BareSender:
    """A minimal batching sender; see the module docstring."""

    def __init__(
        self,
        write_key: str,
        *,
        host: str,
        flush_at: int = 2500,
        flush_bytes: int = 475_000,
        flush_interval: float = 0.5,
        concurrency: int = 4,
        gzip_level: int | None = 1,
    ) -> None:
        self._url = host.rstrip("/") + "/v1/batch"
        token = base64.b64encode(f"{write_key}:".encode()).decode()
        self._headers = {
            "Authorization": f"Basic {token}",
            "Content-Type": "application/json",
            "User-Agent": "bare-baseline/0",
        }
        if gzip_level is not None:
            self._headers["Content-Encoding"] = "gzip"
        self._gzip_level = gzip_level
        self._flush_at = flush_at
        # Room for the envelope and sentAt, and a comma per record.
        self._flush_bytes = flush_bytes - 64
        self._size = 0
        self._flush_interval = flush_interval
        self._concurrency = concurrency
        self._buf: list[bytes] = []
        # Full batches waiting for a sender: the backpressure, as a queue limit is the SDK's.
        self._ready: asyncio.Queue[list[bytes]] = asyncio.Queue(2 * concurrency)
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        self.delivered = 0
        self.attempts = 0

    async def __aenter__(self) -> Self:
        self._client = httpx.AsyncClient(
            timeout=15.0,
            limits=httpx.Limits(max_connections=self._concurrency),
            trust_env=False,
        )
        self._tasks = [asyncio.create_task(self._send_loop()) for _ in range(self._concurrency)]
        self._tasks.append(asyncio.create_task(self._timer()))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.flush()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    async def track(self, *, user_id: str, event: str, properties: dict[str, Any]) -> None:
        """Build, serialize and batch one track message."""
        message = {
            "type": "track",
            "messageId": str(uuid.uuid4()),
            "timestamp": _now_iso(),
            "userId": user_id,
            "event": event,
            "properties": properties,
            "context": _LIBRARY,
        }
        record = _encode(message)
        size = self._size + len(record) + 1
        if size > self._flush_bytes and self._buf:
            batch, self._buf = self._buf, []
            size = len(record) + 1
            await self._ready.put(batch)
        self._buf.append(record)
        self._size = size
        if len(self._buf) >= self._flush_at:
            batch, self._buf = self._buf, []
            self._size = 0
            await self._ready.put(batch)

    async def flush(self) -> None:
        """Hand over the open batch and wait until every batch is delivered."""
        if self._buf:
            batch, self._buf = self._buf, []
            self._size = 0
            await self._ready.put(batch)
        await self._ready.join()

    async def _timer(self) -> None:
        while True:
            await asyncio.sleep(self._flush_interval)
            if self._buf:
                batch, self._buf = self._buf, []
                self._size = 0
                await self._ready.put(batch)

    async def _send_loop(self) -> None:
        assert self._client is not None
        client = self._client
        while True:
            batch = await self._ready.get()
            try:
                await self._post(client, batch)
            finally:
                self._ready.task_done()

    async def _post(self, client: httpx.AsyncClient, batch: list[bytes]) -> None:
        payload = b'{"batch":[' + b",".join(batch) + b'],"sentAt":"'
        delay = 0.1
        while True:
            body = payload + _now_iso().encode() + b'"}'
            if self._gzip_level is not None:
                body = gzip.compress(body, compresslevel=self._gzip_level, mtime=0)
            self.attempts += 1
            try:
                response = await client.post(self._url, content=body, headers=self._headers)
            except httpx.TransportError:
                wait = delay
            else:
                if response.status_code < 300:
                    self.delivered += len(batch)
                    return
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    return
                wait = float(response.headers.get("Retry-After", delay))
            await asyncio.sleep(wait)
            delay = min(delay * 2, 2.0)
