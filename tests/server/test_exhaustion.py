"""The collector under resource attacks, run as its own process so its descriptors and memory
can be limited and measured: hundreds of half-sent requests, hundreds of unread event streams.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("uvicorn")

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")

SERVE = """
import sys
from aioanalytics._server import bind, create_app, run, url_of
sock = bind("127.0.0.1", 0)
print(url_of(sock), flush=True)
run(create_app(), sock, log_level="critical")
"""


@contextlib.contextmanager
def collector_process(*, max_files: int | None = None) -> Iterator[tuple[str, int]]:
    """Run ``aioanalytics serve``'s code path in a child process; yield its URL and pid."""

    def limit() -> None:
        if max_files is not None:
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (max_files, hard))

    process = subprocess.Popen(
        [sys.executable, "-c", SERVE],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=limit,  # noqa: PLW1509 - only setrlimit, before exec
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        with httpx.Client(base_url=url, trust_env=False, timeout=30) as http:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    http.get("/api/counts")
                    break
                time.sleep(0.05)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def port_of(url: str) -> int:
    return int(url.rpartition(":")[2])


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def connect(port: int, *, receive_buffer: int | None = None) -> socket.socket:
    sock = socket.socket()
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", port))
    return sock


SLOWLORIS = 600


def test_half_sent_requests_cannot_exhaust_the_descriptors() -> None:
    """600 connections that send half a request head, against a 256-descriptor limit.

    Each connection the collector accepts costs it a descriptor; without a head deadline and
    a connection cap they ran out, accept() failed, and nobody was answered any more.
    """
    with collector_process(max_files=256) as (url, pid), contextlib.ExitStack() as stack:
        port = port_of(url)
        for _ in range(SLOWLORIS):
            try:
                sock = stack.enter_context(connect(port))
                sock.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
            except OSError:  # closed to make room, or refused: either way not holding a slot
                continue
        auth = {"Authorization": "Basic " + base64.b64encode(b"key:").decode()}
        batch = {"batch": [{"type": "track", "userId": "u", "event": "Still Here"}]}
        with httpx.Client(base_url=url, trust_env=False, timeout=20) as http:
            assert http.get("/api/counts").status_code == 200
            assert http.post("/v1/batch", json=batch, headers=auth).status_code == 200
            config = http.get("/api/config").json()
        assert config["connections"]["maxConnections"] == 256 - 32 - 2 * 64
        assert config["connections"]["evicted"] > 0
        assert open_descriptors(pid) < 256


STREAMS = 300


def test_unread_event_streams_are_capped_and_bounded_in_memory() -> None:
    """300 pages open the event stream and never read it while 20 MB of events arrive.

    Before the caps, each unread stream held its own serialized backlog (about 1.7 MB each).
    """
    auth = {"Authorization": "Basic " + base64.b64encode(b"key:").decode()}
    blob = "x" * 1000
    with collector_process() as (url, pid), contextlib.ExitStack() as stack:
        port = port_of(url)
        with httpx.Client(base_url=url, trust_env=False, timeout=60) as http:
            warm = [{"type": "track", "userId": "u", "event": "Warm", "properties": {"b": blob}}]
            http.post("/v1/batch", json={"batch": warm * 400}, headers=auth)
            baseline = memory_kib(pid, "VmRSS")
            request = f"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
            streams = []
            for _ in range(STREAMS):
                sock = stack.enter_context(connect(port, receive_buffer=4096))
                sock.sendall(request)
                streams.append(sock)
            for _ in range(50):
                batch = [
                    {"type": "track", "userId": f"u{n}", "event": "Load", "properties": {"b": blob}}
                    for n in range(400)
                ]
                response = http.post("/v1/batch", json={"batch": batch}, headers=auth)
                assert response.status_code == 200
            config = http.get("/api/config").json()
        peak = memory_kib(pid, "VmHWM")
    growth_mib = (peak - baseline) / 1024
    streams_seen = config["streams"]
    assert streams_seen["open"] + streams_seen["refused"] == STREAMS, streams_seen
    assert streams_seen["open"] <= 32
    assert streams_seen["dropped"] > 0  # the unread streams fell behind and lost their backlog
    assert config["requests"]["rejected"] == 0
    # 32 streams of at most 1 MiB queued and 64 KiB in flight each, plus the batches' own work.
    assert growth_mib < 150, (baseline, peak, json.dumps(streams_seen))
