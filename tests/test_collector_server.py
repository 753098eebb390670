"""The local test collector, exercised with httpx over real sockets."""

from __future__ import annotations

import functools
import gzip
import json
import threading
import time
from typing import Any

import anyio
import httpx
import pytest

from tests.collector import Action, Collector, Request


def batch(*ids: str, **properties: Any) -> dict[str, Any]:
    """A /v1/batch body with one track message per id."""
    messages = [{"type": "track", "messageId": i, "properties": properties} for i in ids]
    return {"batch": messages, "sentAt": "2024-03-15T11:59:30.123Z"}


@pytest.fixture
def client(collector: Collector):
    with httpx.Client(base_url=collector.url, trust_env=False) as client:
        yield client


def test_records_a_batch(collector: Collector, client: httpx.Client) -> None:
    """A batch is answered 200 and recorded with its headers, sizes, JSON and arrival time."""
    before = time.monotonic()
    response = client.post("/v1/batch", json=batch("m1", "m2"), auth=("key", ""))
    assert (response.status_code, response.json()) == (200, {"success": True})
    [request] = collector.requests
    assert (request.method, request.path, request.status) == ("POST", "/v1/batch", 200)
    assert request.headers["CONTENT-TYPE"] == request.headers["content-type"] == "application/json"
    assert request.headers["Authorization"].startswith("Basic ")
    assert request.raw_size == request.size == len(response.request.content)
    assert request.json == batch("m1", "m2") and request.body_complete and request.acknowledged
    assert before <= request.arrived <= request.answered <= time.monotonic()  # type: ignore[operator]
    assert collector.message_ids == ["m1", "m2"] and collector.accepted_ids == {"m1", "m2"}
    assert collector.messages == collector.accepted_messages == batch("m1", "m2")["batch"]


def test_decodes_gzip(collector: Collector, client: httpx.Client) -> None:
    """A gzip body is decoded; both the wire size and the decoded size are recorded."""
    body = json.dumps(batch(*(f"m{i}" for i in range(50)))).encode()
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    assert client.post("/v1/batch", content=gzip.compress(body), headers=headers).is_success
    [request] = collector.requests
    assert (request.raw_size, request.size) == (len(gzip.compress(body)), len(body))
    assert request.raw_size < request.size and len(collector.unique_ids) == 50


def test_chunked_body(collector: Collector, client: httpx.Client) -> None:
    """A chunked request body is reassembled."""
    parts = [b'{"batch": [', b'{"messageId": "c1"}', b"]}"]
    assert client.post("/v1/batch", content=iter(parts)).is_success
    assert collector.message_ids == ["c1"]


def test_single_call_endpoints_and_unknown_paths(
    collector: Collector, client: httpx.Client
) -> None:
    """/v1/track carries one message; other paths and methods get 404/405 and use no script."""
    collector.script(Action(503))
    assert client.post("/v2/nowhere", json={"messageId": "x"}).status_code == 404
    assert client.get("/v1/batch").status_code == 405
    assert client.post("/v1/track", json={"messageId": "t1", "event": "E"}).status_code == 503
    assert collector.message_ids == ["t1"] and collector.pending_script == 0


@pytest.mark.parametrize(
    ("content", "encoding"),
    [(b"{not json", None), (b"not gzip", "gzip"), (b"{}", "br"), (b"", None)],
)
def test_undecodable_body_gets_400(
    collector: Collector, client: httpx.Client, content: bytes, encoding: str | None
) -> None:
    """Malformed JSON, broken gzip or an unknown encoding is answered 400 with the reason."""
    headers = {"Content-Encoding": encoding} if encoding else {}
    response = client.post("/v1/batch", content=content, headers=headers)
    assert response.status_code == 400 and response.json()["success"] is False
    assert response.json()["message"] and collector.messages == []


def test_scripted_answers_in_order(collector: Collector, client: httpx.Client) -> None:
    """Scripted actions answer the next requests in order, then the default 200 resumes."""
    collector.script(
        Action(500),
        Action(429, retry_after=0, headers={"X-RateLimit-Reset": "0"}),
        Action(400, body={"success": False, "message": "bad"}),
        Action(202, body=b"raw"),
    )
    responses = [client.post("/v1/batch", json=batch(f"m{i}")) for i in range(5)]
    assert [r.status_code for r in responses] == [500, 429, 400, 202, 200]
    assert responses[1].headers["Retry-After"] == "0"
    assert responses[1].headers["X-RateLimit-Reset"] == "0"
    assert responses[2].json() == {"success": False, "message": "bad"}
    assert responses[3].content == b"raw" and responses[0].json() == {"success": False}
    assert collector.unique_ids == {f"m{i}" for i in range(5)}
    assert collector.accepted_ids == {"m3", "m4"} and collector.pending_script == 0


def test_drop_after_reading_the_body(collector: Collector, client: httpx.Client) -> None:
    """A drop closes the connection unanswered; the body was received but not accepted."""
    collector.script(Action(drop=True))
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/v1/batch", json=batch("m1"))
    assert client.post("/v1/batch", json=batch("m1")).is_success
    dropped, retried = collector.requests
    assert dropped.dropped and dropped.body_complete and dropped.status is None
    assert dropped.connection != retried.connection
    assert collector.duplicate_ids == {"m1": 2} and collector.unexpected_duplicates() == set()


def test_drop_before_the_body(collector: Collector, client: httpx.Client) -> None:
    """A drop with read_body=False closes after the headers, leaving the body unread."""
    collector.script(Action(drop=True, read_body=False))
    with pytest.raises(httpx.TransportError):
        client.post("/v1/batch", json=batch(*(f"m{i}" for i in range(5000))))
    [request] = collector.requests
    assert request.dropped and not request.body_complete and request.messages == []


def test_delay_answers_late(collector: Collector, client: httpx.Client) -> None:
    """A delayed answer arrives after the delay."""
    collector.script(Action(delay=0.2))
    started = time.monotonic()
    assert client.post("/v1/batch", json=batch("m1")).is_success
    assert time.monotonic() - started >= 0.2


def test_delay_past_the_client_timeout(collector: Collector, client: httpx.Client) -> None:
    """A client that times out during a delay is recorded as gone and never acknowledged."""
    collector.script(Action(delay=30))
    with pytest.raises(httpx.ReadTimeout):
        client.post("/v1/batch", json=batch("m1"), timeout=0.1)
    collector.wait_for_requests(1, timeout=2)
    [request] = collector.requests
    assert request.client_gone and request.status is None and collector.accepted_ids == set()


def _fates(seed: int, requests: int = 60) -> list[int | None]:
    rules = [(0.2, Action(500)), (0.1, Action(429, retry_after=0)), (0.05, Action(drop=True))]
    fates: list[int | None] = []
    with Collector() as collector, httpx.Client(base_url=collector.url, trust_env=False) as c:
        collector.set_faults(rules, seed=seed)
        for i in range(requests):
            try:
                fates.append(c.post("/v1/batch", json=batch(f"m{i}")).status_code)
            except httpx.RemoteProtocolError:
                fates.append(None)
    assert [r.status for r in collector.requests] == fates
    return fates


def test_fault_mix_is_deterministic_per_seed() -> None:
    """The same seed gives the same sequence of answers; the mix contains every fault."""
    fates = _fates(seed=7)
    assert fates == _fates(seed=7) and fates != _fates(seed=8)
    assert {500, 429, 200, None} <= set(fates)


def test_fault_mix_rejects_bad_probabilities(collector: Collector) -> None:
    """Probabilities must be non-negative and add up to at most 1."""
    with pytest.raises(ValueError, match="probabilities"):
        collector.set_faults([(0.7, Action(500)), (0.4, Action(503))])


def test_hook_answers_by_content(collector: Collector, client: httpx.Client) -> None:
    """A hook rejects a poison message with 400 and a large body with 413; script beats hook."""

    def hook(request: Request) -> Action | None:
        if any("poison" in m.get("properties", {}) for m in request.messages):
            return Action(400)
        return Action(413) if request.size > 2_000 else None

    collector.set_hook(hook)
    collector.set_faults([(1.0, Action(503))])
    assert client.post("/v1/batch", json=batch("p1", poison=True)).status_code == 400
    assert client.post("/v1/batch", json=batch(*(f"m{i}" for i in range(50)))).status_code == 413
    assert client.post("/v1/batch", json=batch("ok")).status_code == 503
    collector.script(Action(201))
    assert client.post("/v1/batch", json=batch("p2", poison=True)).status_code == 201


def test_failing_hook_answers_500(collector: Collector, client: httpx.Client) -> None:
    """A hook that raises gets a 500 answer and leaves its exception in ``errors``."""
    collector.set_hook(lambda request: 1 / 0)  # type: ignore[arg-type, return-value]
    assert client.post("/v1/batch", json=batch("m1")).status_code == 500
    assert [type(e) for e in collector.errors] == [ZeroDivisionError]
    collector.errors.clear()


def test_unexpected_duplicates(collector: Collector, client: httpx.Client) -> None:
    """A copy sent after a 2xx is unexpected; a copy sent after a 500 is a legitimate retry."""
    collector.script(Action(500))
    for ids in (["a", "b"], ["a", "b"], ["b", "c"]):
        client.post("/v1/batch", json=batch(*ids))
    assert collector.duplicate_ids == {"a": 2, "b": 3}
    assert collector.unexpected_duplicates() == {"b"}


def test_keep_alive_reuses_one_connection(collector: Collector, client: httpx.Client) -> None:
    """Sequential requests from one httpx client share one connection, even after errors."""
    collector.script(Action(500), Action(429, retry_after=1))
    for i in range(5):
        client.post("/v1/batch", json=batch(f"m{i}"))
    assert {r.connection for r in collector.requests} == {1}


def test_connection_close_is_honoured(collector: Collector, client: httpx.Client) -> None:
    """A request asking for Connection: close is answered, then its connection is closed."""
    for _ in range(2):
        response = client.post("/v1/batch", json=batch("m"), headers={"Connection": "close"})
        assert response.headers["Connection"] == "close"
    assert [r.connection for r in collector.requests] == [1, 2]


def test_wait_for_blocks_until_enough_messages(collector: Collector, client: httpx.Client) -> None:
    """wait_for returns once enough distinct ids are accepted and times out otherwise."""
    collector.script(Action(500))

    def send() -> None:
        with httpx.Client(base_url=collector.url, trust_env=False) as other:
            for ids in (["a", "b"], ["a", "b"], ["c"]):
                time.sleep(0.02)
                other.post("/v1/batch", json=batch(*ids))

    sender = threading.Thread(target=send)
    sender.start()
    collector.wait_for(2, accepted=False)
    collector.wait_for(3)
    sender.join()
    with pytest.raises(TimeoutError, match="3 of 4 messageIds accepted in 3 requests"):
        collector.wait_for(4, timeout=0.05)
    with pytest.raises(TimeoutError, match="3 of 9 requests"):
        collector.wait_for_requests(9, timeout=0.05)


def test_reset_forgets_everything(collector: Collector, client: httpx.Client) -> None:
    """reset() clears the records, the script, the fault mix and the hook."""
    collector.script(Action(500), Action(500))
    collector.set_hook(lambda request: Action(400))
    client.post("/v1/batch", json=batch("m1"))
    collector.reset()
    assert collector.requests == [] and collector.unique_ids == set()
    assert collector.pending_script == 0
    assert client.post("/v1/batch", json=batch("m2")).status_code == 200


def test_stop_closes_idle_connections_and_joins() -> None:
    """Stopping with an idle keep-alive connection open returns promptly and leaves no thread."""
    collector = Collector().start()
    with httpx.Client(base_url=collector.url, trust_env=False) as client:
        assert client.post("/v1/batch", json=batch("m1")).is_success
        started = time.monotonic()
        collector.stop()
        assert time.monotonic() - started < 1
        with pytest.raises(httpx.TransportError):
            client.post("/v1/batch", json=batch("m2"))
    collector.stop()
    assert "tests.collector" not in {t.name for t in threading.enumerate()}
    assert collector.errors == []


def test_start_twice_is_an_error(collector: Collector) -> None:
    """A running collector refuses a second start."""
    with pytest.raises(RuntimeError, match="already running"):
        collector.start()


async def test_async_client_and_wait(collector: Collector) -> None:
    """An async client is served concurrently; wait_for_async returns once all arrived."""
    async with httpx.AsyncClient(base_url=collector.url, trust_env=False) as client:
        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(functools.partial(client.post, "/v1/batch", json=batch(f"m{i}")))
        with anyio.fail_after(2):
            await collector.wait_for_async(20)
            await collector.wait_for_requests_async(20)
    assert collector.accepted_ids == {f"m{i}" for i in range(20)}


async def test_async_wait_waits(collector: Collector) -> None:
    """wait_for_async wakes up when a request lands later and is bounded by fail_after."""
    async with (
        httpx.AsyncClient(base_url=collector.url, trust_env=False) as client,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(collector.wait_for_async, 1)
        await anyio.sleep(0.02)
        await client.post("/v1/batch", json=batch("m1"))
    with pytest.raises(TimeoutError), anyio.fail_after(0.05):
        await collector.wait_for_async(2)


async def test_async_keep_alive_and_timeout(collector: Collector) -> None:
    """An async client reuses its connection and sees a delay past its timeout as ReadTimeout."""
    collector.script(Action(), Action(delay=5))
    async with httpx.AsyncClient(base_url=collector.url, trust_env=False, timeout=0.1) as client:
        assert (await client.post("/v1/batch", json=batch("m1"))).is_success
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/v1/batch", json=batch("m2"))
        assert (await client.post("/v1/batch", json=batch("m2"))).is_success
    with anyio.fail_after(2):
        await collector.wait_for_requests_async(3)
    first, timed_out, retried = sorted(collector.requests, key=lambda r: r.arrived)
    assert first.connection == timed_out.connection != retried.connection
    assert timed_out.client_gone and collector.unexpected_duplicates() == set()
