"""The collector's bounds, over real sockets on 127.0.0.1: what it accepts, and what it refuses.

JSON the browser and the SDK can write (lone surrogates, every number), query parameters out
of range, Host headers naming another site, slow or stalled clients, and pages that open event
streams and never read them.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest

from aioanalytics._server import NewEvent, Store, create_app, running
from aioanalytics._server.runner import ConnectionGuard
from aioanalytics._server.stream import EventHub

from .conftest import LiveCollector, StartCollector

pytestmark = pytest.mark.anyio

AUTH = ("test-key", "")
JSON_HEADERS = {"Content-Type": "application/json"}


def address(url: str) -> tuple[str, int]:
    host, _, port = url.removeprefix("http://").rpartition(":")
    return host.strip("[]"), int(port)


async def post_raw(collector: LiveCollector, body: bytes) -> httpx.Response:
    async with collector.http() as http:
        return await http.post("/v1/batch", content=body, headers=JSON_HEADERS, auth=AUTH)


# -- what JSON writers emit -----------------------------------------------------------------


async def test_lone_surrogate_is_stored_as_a_replacement_character(
    live_collector: LiveCollector,
) -> None:
    """``JSON.stringify("\\ud83d")`` is valid JSON: the batch is stored, with U+FFFD for it."""
    body = (
        b'{"batch":['
        b'{"type":"track","userId":"u1","event":"Cut \\ud83d","messageId":"m1",'
        b'"properties":{"half \\uDE00":"\\ud83d\\ude00 \\ud83d"}},'
        b'{"type":"track","userId":"u2","event":"Fine","messageId":"m2"}]}'
    )
    response = await post_raw(live_collector, body)
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 2
    async with live_collector.http() as http:
        page = (await http.get("/api/events")).json()
        export = (await http.get("/api/export")).text
    cut = next(e for e in page["events"] if e["messageId"] == "m1")
    assert cut["event"] == "Cut \ufffd"
    assert cut["message"]["properties"] == {"half \ufffd": "\U0001f600 \ufffd"}
    assert [json.loads(line)["messageId"] for line in export.splitlines()] == ["m1", "m2"]
    assert "\ufffd" in export.splitlines()[0]


NUMBERS = [
    "1e-7",
    "1e-07",
    "1E+7",
    "1e7",
    "-0.0",
    "0.1",
    "1e-400",  # underflows to 0.0, as any double reader does
    "1e400",  # past a double: kept as written, not turned into Infinity
    "-2.5E+308",
    "9" * 4301,  # past Python's int-to-string limit
    "-" + "1" * 10_000,
    "12345678901234567890123456789",
]


@pytest.mark.parametrize("number", NUMBERS, ids=lambda n: n if len(n) < 30 else f"{len(n)}-digit")
async def test_every_json_number_is_accepted_and_kept(
    live_collector: LiveCollector, number: str
) -> None:
    """Any number the grammar allows is stored, queried, streamed and exported, not refused."""
    message = (
        '{"type":"track","userId":"u","event":"Measured","messageId":"n1",'
        f'"properties":{{"value":{number},"list":[{number}]}},"context":{{"n":{number}}}}}'
    )
    response = await post_raw(live_collector, f'{{"batch":[{message}]}}'.encode())
    assert response.status_code == 200, response.text[:300]
    async with live_collector.http() as http:
        events = await http.get("/api/events")
        export = await http.get("/api/export")
    assert events.status_code == 200
    assert export.status_code == 200
    expected = Decimal(number)
    # What fits a double is compared as a double (1e-400 reads as 0.0 everywhere).
    same = (lambda a: float(a) == float(expected)) if math.isfinite(float(expected)) else None
    for text in (events.text, export.text):
        found = json.loads(text, parse_float=Decimal, parse_int=Decimal)
        stored = found["events"][0]["message"] if "events" in found else found
        for value in (stored["properties"]["value"], stored["properties"]["list"][0]):
            assert same(value) if same else Decimal(value) == expected
        assert same(stored["context"]["n"]) if same else stored["context"]["n"] == expected
        if "e" not in number.lower() and "." not in number:
            assert number in text  # integers come back digit for digit


async def test_every_json_number_is_accepted_on_single_calls(live_collector: LiveCollector) -> None:
    big = "7" * 5000
    body = f'{{"userId":"u","event":"Big","properties":{{"n":{big},"f":1e-07}}}}'
    async with live_collector.http() as http:
        response = await http.post(
            "/v1/track", content=body.encode(), headers=JSON_HEADERS, auth=AUTH
        )
        assert response.status_code == 200, response.text[:300]
        assert big in (await http.get("/api/export")).text


async def test_nan_and_infinity_are_still_refused(live_collector: LiveCollector) -> None:
    for constant in ("NaN", "Infinity", "-Infinity"):
        body = f'{{"batch":[{{"type":"track","userId":"u","event":"e","x":{constant}}}]}}'
        response = await post_raw(live_collector, body.encode())
        assert response.status_code == 400
        assert constant in response.json()["error"]
    assert live_collector.store.counts().total == 0


# -- query parameters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("offset=1e20", "offset: must be an integer"),
        ("offset=100000000000000000000", "offset: must be under 10**15"),
        ("offset=9223372036854775808", "offset: must be under 10**15"),
        ("limit=100000000000000000000", "limit: must be under 10**15"),
        ("offset=-1", "offset: must not be negative"),
        ("offset=1_000", "offset: must be an integer"),
        ("offset=%EF%BC%95", "offset: must be an integer"),  # a full-width digit
    ],
)
async def test_out_of_range_query_parameters_get_400(
    live_collector: LiveCollector, query: str, error: str
) -> None:
    async with live_collector.http() as http:
        response = await http.get(f"/api/events?{query}")
    assert response.status_code == 400
    assert response.json()["error"] == error


async def test_large_valid_offsets_answer_an_empty_page(live_collector: LiveCollector) -> None:
    async with live_collector.http() as http:
        response = await http.get("/api/events?offset=999999999999999&limit=000000000000000005")
    assert response.status_code == 200
    assert response.json() == {"events": [], "total": 0, "limit": 5, "offset": 999999999999999}


# -- Host header (DNS rebinding) ------------------------------------------------------------


async def test_requests_naming_another_host_get_421(start_collector: StartCollector) -> None:
    """A page on a rebound name reaches 127.0.0.1 with its own Host; it gets nothing back."""
    collector = await start_collector()
    port = address(collector.url)[1]
    batch = {"batch": [{"type": "track", "userId": "u", "event": "e", "messageId": "m"}]}
    async with collector.http() as http:
        for host in (f"attacker.example:{port}", "attacker.example", f"localhost.:{port}", "[::2]"):
            for method, path in [("GET", "/api/events"), ("GET", "/api/stream"), ("GET", "/")]:
                response = await http.request(method, path, headers={"Host": host})
                assert response.status_code == 421, (host, path)
            response = await http.post("/v1/batch", json=batch, auth=AUTH, headers={"Host": host})
            assert response.status_code == 421
            assert "Host" in response.json()["error"]
        for host in (
            f"127.0.0.1:{port}",
            f"localhost:{port}",
            f"LocalHost:{port}",
            f"[::1]:{port}",
        ):
            response = await http.get("/api/counts", headers={"Host": host})
            assert response.status_code == 200, host
        config = (await http.get("/api/config")).json()
    assert config["requests"]["misdirected"] == 16
    assert collector.store.counts().total == 0


async def test_allowed_hosts_adds_names(start_collector: StartCollector) -> None:
    collector = await start_collector(allowed_hosts=["Dev-Box.lan"])
    async with collector.http() as http:
        assert (
            await http.get("/api/counts", headers={"Host": "dev-box.lan:80"})
        ).status_code == 200
        assert (await http.get("/api/counts", headers={"Host": "other.lan"})).status_code == 421


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")
async def test_a_collector_on_ipv6_loopback_answers_its_address() -> None:
    async with (
        running(create_app(), host="::1") as url,
        httpx.AsyncClient(base_url=url, trust_env=False) as http,
    ):
        assert url.startswith("http://[::1]:")
        assert (await http.get("/api/counts")).status_code == 200
        assert (await http.get("/api/counts", headers={"Host": "a.example"})).status_code == 421


# -- slow and stalled clients ---------------------------------------------------------------


@contextlib.contextmanager
def raw_connection(url: str) -> Iterator[socket.socket]:
    sock = socket.create_connection(address(url), timeout=30)
    try:
        yield sock
    finally:
        sock.close()


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


async def test_a_body_that_stops_coming_gets_408_and_a_closed_connection(
    start_collector: StartCollector,
) -> None:
    collector = await start_collector(body_timeout=0.3)
    host = collector.url.removeprefix("http://")
    head = (
        f"POST /v1/batch HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        "Authorization: Basic dGVzdC1rZXk6\r\nContent-Length: 1000\r\n\r\n"
    )
    with raw_connection(collector.url) as sock:
        sock.sendall(head.encode() + b'{"batch": [')
        answer = await anyio.to_thread.run_sync(read_until_closed, sock)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in answer.lower()
    assert b"request body not received within 0.3 seconds" in answer
    async with collector.http() as http:
        config = (await http.get("/api/config")).json()
    assert config["requests"]["timedOut"] == 1


async def test_a_request_head_that_stops_coming_is_closed() -> None:
    """Half a request head, then nothing: the connection is closed after the head deadline."""
    guard = ConnectionGuard(header_timeout=0.3)
    async with running(create_app(), guard=guard) as url:
        with raw_connection(url) as idle, raw_connection(url) as partial:
            partial.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-")
            assert await anyio.to_thread.run_sync(read_until_closed, partial) == b""
            assert await anyio.to_thread.run_sync(read_until_closed, idle) == b""
        # A keep-alive connection gets the same deadline for its next head.
        with raw_connection(url) as reused:
            reused.sendall(b"GET /api/counts HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /api/co")
            answer = await anyio.to_thread.run_sync(read_until_closed, reused)
            assert answer.startswith(b"HTTP/1.1 200 ")
        async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
            config = (await http.get("/api/config")).json()
    assert config["connections"]["timedOut"] == 3
    assert config["connections"]["headerTimeout"] == 0.3


async def test_past_the_connection_cap_the_oldest_waiting_connection_makes_room() -> None:
    guard = ConnectionGuard(max_connections=20)
    async with running(create_app(), guard=guard) as url:
        with contextlib.ExitStack() as stack:
            stalled = [stack.enter_context(raw_connection(url)) for _ in range(60)]
            for sock in stalled:
                sock.sendall(b"GET / HTTP/1.1\r\n")
            async with httpx.AsyncClient(base_url=url, trust_env=False, timeout=10) as http:
                response = await http.get("/api/config")
            assert response.status_code == 200
            # The first ones were closed to make room for the later ones.
            stalled[0].settimeout(10)
            assert await anyio.to_thread.run_sync(read_until_closed, stalled[0]) == b""
    assert guard.evicted >= 40
    assert guard.waiting == {}


# -- event streams --------------------------------------------------------------------------


async def test_event_streams_are_capped(start_collector: StartCollector) -> None:
    collector = await start_collector(hub=EventHub(max_streams=3))
    async with collector.http() as http, contextlib.AsyncExitStack() as stack:
        for _ in range(3):
            response = await stack.enter_async_context(http.stream("GET", "/api/stream"))
            assert response.status_code == 200
        refused = await http.get("/api/stream")
        assert refused.status_code == 503
        assert "at most 3" in refused.json()["error"]
        config = (await http.get("/api/config")).json()
    assert config["streams"]["open"] == 3
    assert config["streams"]["refused"] == 1
    assert config["limits"]["maxStreams"] == 3


async def test_a_page_that_stops_reading_is_disconnected(start_collector: StartCollector) -> None:
    """Its stream is closed once a chunk waits untaken past the send timeout; it is counted."""
    hub = EventHub(send_timeout=0.5)
    collector = await start_collector(hub=hub)
    host = collector.url.removeprefix("http://")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(30)
    sock.connect(address(collector.url))
    try:
        sock.sendall(f"GET /api/stream HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        for _ in range(1000):
            if hub.subscribers:
                break
            await anyio.sleep(0.01)
        assert hub.subscribers == 1
        payload = {"blob": "x" * 2000}
        with anyio.fail_after(60):
            while hub.stats["slow"] == 0:
                hub.publish([{"id": n, "message": payload} for n in range(200)])
                await anyio.sleep(0.05)
        assert hub.subscribers == 0
        received = await anyio.to_thread.run_sync(read_until_closed, sock)
        assert received.startswith(b"HTTP/1.1 200 ")  # then cut off
    finally:
        sock.close()
    assert hub.stats["slow"] == 1


async def test_favicon_is_served(live_collector: LiveCollector) -> None:
    async with live_collector.http() as http:
        for path in ("/favicon.ico", "/favicon.svg"):
            response = await http.get(path)
            assert response.status_code == 200
            assert response.headers["content-type"] == "image/svg+xml"
            assert response.content.startswith(b"<svg")


# -- export ---------------------------------------------------------------------------------


async def test_export_reads_the_store_a_page_at_a_time(
    start_collector: StartCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 5,000-row export takes a handful of worker-thread hops, not one per row."""
    store = Store(":memory:")
    rows = 5000
    store.add(
        [
            NewEvent(message_id=f"m{n}", type="track", event="e", message={"messageId": f"m{n}"})
            for n in range(rows)
        ]
    )
    collector = await start_collector(store=store)
    hops = 0
    run_sync = anyio.to_thread.run_sync

    async def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal hops
        hops += 1
        return await run_sync(*args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    async with collector.http() as http:
        export = await http.get("/api/export")
    monkeypatch.undo()
    store.close()
    lines = export.text.splitlines()
    assert [json.loads(line)["messageId"] for line in lines] == [f"m{n}" for n in range(rows)]
    assert hops <= 10, hops


async def test_on_a_wildcard_address_any_ip_is_answered_but_no_other_name() -> None:
    """Bound to 0.0.0.0, the LAN address is answered; a name (rebindable) still is not."""
    store = Store(":memory:")  # ASGITransport runs no lifespan: the test closes the store
    transport = httpx.ASGITransport(app=create_app(store=store))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://0.0.0.0:8000") as http:
            for host, status in [
                ("192.168.1.5:8000", 200),
                ("[fe80::1]:8000", 200),
                ("0.0.0.0:8000", 200),
                ("devbox.lan:8000", 421),
                ("192.168.1.5.nip.io:8000", 421),
            ]:
                response = await http.get("/api/counts", headers={"Host": host})
                assert response.status_code == status, host
    finally:
        store.close()


async def test_past_the_cap_with_every_request_in_progress_a_new_connection_is_closed() -> None:
    guard = ConnectionGuard(max_connections=2)
    app = create_app(body_timeout=30)
    async with running(app, guard=guard) as url:
        host = url.removeprefix("http://")
        head = (
            f"POST /v1/batch HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            "Authorization: Basic dGVzdC1rZXk6\r\nContent-Length: 100\r\n\r\n{"
        ).encode()
        with raw_connection(url) as first, raw_connection(url) as second:
            first.sendall(head)
            second.sendall(head)  # both heads in: requests in progress, not evictable
            for _ in range(1000):
                if app.state.collector.ingested["requests"] == 2:
                    break
                await anyio.sleep(0.01)
            assert app.state.collector.ingested["requests"] == 2  # both reading their bodies
            assert guard.waiting == {}
            with raw_connection(url) as third:
                assert await anyio.to_thread.run_sync(read_until_closed, third) == b""
            assert guard.refused == 1, guard
            assert guard.evicted == 0
