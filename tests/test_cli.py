"""The ``aioanalytics`` command, run for real (``python -m aioanalytics``) in subprocesses.

A module-wide collector is itself started with ``aioanalytics serve`` in a subprocess; the
tests read back what it stored through its query API. Each test uses its own user ids.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("click")
pytest.importorskip("rich")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from click.testing import CliRunner

from aioanalytics._commands import cli

KEY = "cli-test-key"
COMMANDS = ["track", "identify", "page", "screen", "group", "alias", "import", "serve", "demo"]


def environment(**extra: str) -> dict[str, str]:
    """The test's environment, minus proxies and Segment settings, with a wide plain terminal."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
        and name not in ("SEGMENT_WRITE_KEY", "AIOANALYTICS_HOST")
    }
    env.update({"COLUMNS": "160", "NO_COLOR": "1", "TERM": "dumb", **extra})
    return env


def aioanalytics(
    *args: str, timeout: float = 30, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m aioanalytics ARGS`` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "aioanalytics", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment(**env),
        cwd=cwd,
        check=False,
    )


@contextmanager
def serving(*args: str, cwd: Path | None = None, **env: str) -> Iterator[str]:
    """Run ``aioanalytics serve ARGS`` until the block ends (then Ctrl-C); yield its URL.

    The URL is read from the banner, so ARGS should pick a free port (``--port 0``). On the
    way out the command must stop cleanly, with status 0.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "aioanalytics", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(**env),
        cwd=cwd,
    )
    try:
        assert process.stdout is not None
        url = None
        deadline = time.monotonic() + 20
        for line in process.stdout:
            if "listening on " in line:
                url = line.split("listening on ", 1)[1].strip()
                break
            assert time.monotonic() < deadline
        assert url, process.stderr.read() if process.stderr else ""
        with httpx.Client(trust_env=False) as client:
            while True:  # the banner comes before the socket is served
                try:
                    client.get(f"{url}/api/counts").raise_for_status()
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert "collector stopped" in out


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``aioanalytics serve`` on a free port, accepting only KEY; yields its URL."""
    db = tmp_path_factory.mktemp("collector") / "cli.db"
    with serving("--port", "0", "--db", str(db), "--write-key", KEY) as url:
        yield url
    assert db.exists()


def stored(url: str, **params: Any) -> list[dict[str, Any]]:
    """The collector's stored events matching ``params``, newest first."""
    with httpx.Client(trust_env=False) as client:
        response = client.get(f"{url}/api/events", params={"limit": 1000, **params})
        response.raise_for_status()
        events: list[dict[str, Any]] = response.json()["events"]
        return events


# -- single calls ---------------------------------------------------------------------------


SINGLE_CALLS = {
    "track": ["--event", "Order Completed", "--properties", '{"revenue": 42.5}'],
    "identify": ["--anonymous-id", "anon-1", "--traits", '{"plan": "pro"}'],
    "page": ["--name", "Pricing", "--category", "Docs", "--properties", '{"url": "https://x/"}'],
    "screen": ["--name", "Dashboard"],
    "group": ["--group-id", "acct-1", "--traits", '{"name": "Acme"}'],
    "alias": ["--previous-id", "anon-1"],
}


@pytest.mark.parametrize("kind", list(SINGLE_CALLS))
def test_single_call_is_delivered_and_stored(server: str, kind: str) -> None:
    """Each single-call command sends one message, waits for it, and exits 0."""
    user = f"single-{kind}"
    result = aioanalytics(
        kind,
        "--host", server,
        "--write-key", KEY,
        "--user-id", user,
        "--timestamp", "2024-03-15T11:59:30.123",
        "--context", '{"ip": "203.0.113.9"}',
        "--message-id", f"msg-{kind}",
        *SINGLE_CALLS[kind],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"delivered {kind} msg-{kind}"
    (event,) = stored(server, user=user)
    message = event["message"]
    assert (event["type"], event["messageId"]) == (kind, f"msg-{kind}")
    assert message["timestamp"] == "2024-03-15T11:59:30.123Z"  # no offset: taken as UTC
    assert message["context"]["ip"] == "203.0.113.9"
    if kind == "track":
        assert message["properties"] == {"revenue": 42.5}
    if kind == "page":
        assert (message["name"], message["category"]) == ("Pricing", "Docs")
    if kind == "alias":
        assert message["previousId"] == "anon-1"


def test_write_key_and_host_from_the_environment(server: str) -> None:
    """SEGMENT_WRITE_KEY and AIOANALYTICS_HOST stand in for --write-key and --host."""
    result = aioanalytics(
        "track", "--user-id", "env-user", "--event", "From Env",
        SEGMENT_WRITE_KEY=KEY, AIOANALYTICS_HOST=server,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [e["event"] for e in stored(server, user="env-user")] == ["From Env"]


def test_failures_exit_non_zero_with_the_reason(server: str) -> None:
    """A refused key or an unreachable host exits 1 and says why; bad usage exits 2."""
    refused = aioanalytics(
        "track", "--host", server, "--write-key", "wrong", "--user-id", "u", "--event", "E"
    )
    assert refused.returncode == 1
    assert "not delivered" in refused.stderr
    assert "401" in refused.stderr
    assert "wrong" not in refused.stderr + refused.stdout  # the key is never printed

    unreachable = aioanalytics(
        "identify", "--host", f"http://127.0.0.1:{unused_port()}",
        "--write-key", KEY, "--user-id", "u", "--max-retries", "0",
    )  # fmt: skip
    assert unreachable.returncode == 1
    assert "not delivered" in unreachable.stderr

    usage = aioanalytics("track", "--host", server, "--write-key", KEY, "--user-id", "u")
    assert usage.returncode == 2
    assert "Missing option '--event'" in usage.stderr


def unused_port() -> int:
    """A port of 127.0.0.1 where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_each_failure_is_printed_once(tmp_path: Path) -> None:
    """The command reports a failed delivery once; the SDK's log does not repeat it."""
    host = f"http://127.0.0.1:{unused_port()}"
    common = ["--host", host, "--write-key", KEY, "--max-retries", "0"]
    sent = aioanalytics("track", *common, "--user-id", "u", "--event", "E")
    assert sent.returncode == 1
    assert sent.stderr.count("retries exhausted") == 1, sent.stderr
    assert sent.stderr.startswith("error: track not delivered: ")

    path = tmp_path / "three.jsonl"
    path.write_text(
        "".join(
            json.dumps({"type": "track", "userId": "u", "event": f"E{i}"}) + "\n" for i in "123"
        )
    )
    imported = aioanalytics("import", str(path), *common)
    assert imported.returncode == 1
    assert imported.stderr.count("retries exhausted") == 3, imported.stderr  # one per line
    for number in (1, 2, 3):
        assert f"line {number}: " in imported.stderr


def test_verbose_shows_the_sdk_log() -> None:
    """-v shows the SDK's retries as they happen; the command's own report still follows."""
    host = f"http://127.0.0.1:{unused_port()}"
    result = aioanalytics(
        "identify", "--host", host, "--write-key", KEY, "--user-id", "u", "--max-retries", "1",
        "-v",
    )  # fmt: skip
    assert result.returncode == 1
    assert "retry 1 in" in result.stderr
    assert "error: identify not delivered: " in result.stderr


def test_verbose_in_process_leaves_logging_as_it_was() -> None:
    """The log handlers a command adds are gone once it returns."""
    logger = logging.getLogger("aioanalytics")
    before = (list(logger.handlers), logger.level)
    host = f"http://127.0.0.1:{unused_port()}"
    result = CliRunner().invoke(
        cli, ["alias", "--host", host, "--write-key", KEY, "--previous-id", "a", "--user-id", "u",
              "--max-retries", "0", "-vv"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert (list(logger.handlers), logger.level) == before


@pytest.mark.parametrize(
    ("host", "error"),
    [
        (
            "http://10.1.2.3:8000",
            (
                "--host 'http://10.1.2.3:8000': plain http:// is only allowed to loopback hosts; "
                "pass --allow-insecure-http to send"
            ),
        ),
        ("127.0.0.1:8000", "--host must be an http(s) URL, got '127.0.0.1:8000'"),
    ],
)
def test_configuration_errors_name_the_flags(host: str, error: str) -> None:
    """A refused option is explained with the command's flags, not the Python arguments."""
    result = CliRunner().invoke(
        cli, ["track", "--host", host, "--write-key", KEY, "--user-id", "u", "--event", "E"]
    )
    assert result.exit_code == 2, result.output  # refused before anything is sent
    assert error in result.output
    assert "allow_insecure_http" not in result.output


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["track", "--user-id", "u"], "Missing option '--event'"),
        (["track", "--event", "E"], "invalid track: userId or anonymousId is required"),
        (
            ["track", "--user-id", "u", "--event", "E", "--properties", "[1]"],
            "must be a JSON object",
        ),
        (["page", "--user-id", "u", "--properties", "{oops"], "not valid JSON"),
        (["page", "--user-id", "u", "--timestamp", "yesterday"], "not an ISO 8601"),
        (["group", "--user-id", "u", "--group-id", ""], "invalid group: --group-id: String"),
        (["serve", "--fail-rate", "0.7", "--drop-rate", "0.7"], "must be at most 1"),
    ],
)
def test_bad_usage_exits_2(args: list[str], error: str) -> None:
    """Bad options, or a message that fails validation, exit 2 before anything is sent."""
    result = CliRunner().invoke(cli, [*args, "--host", "http://127.0.0.1:9", "--write-key", KEY])
    if args[0] == "serve":
        result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert error in result.output


def test_write_key_is_required() -> None:
    """Without --write-key or SEGMENT_WRITE_KEY, a sending command refuses to start."""
    result = CliRunner(env={"SEGMENT_WRITE_KEY": None}).invoke(cli, ["alias", "--previous-id", "a"])
    assert result.exit_code == 2
    assert "--write-key" in result.output


# -- import ---------------------------------------------------------------------------------


def test_import_reports_bad_lines_and_stores_good_ones(server: str, tmp_path: Path) -> None:
    """Good lines are delivered; each bad line is reported by number and reason; exit 1."""
    user = "import-user"
    lines = [
        {"type": "identify", "userId": user, "anonymousId": "a9", "traits": {"plan": "pro"}},
        {
            "type": "track",
            "userId": user,
            "event": "Signed Up",
            "timestamp": "2023-01-02T03:04:05Z",
        },
        "{not json",
        {"type": "track", "userId": user},  # no event
        "",
        {"type": "page", "userId": user, "name": "Home"},
        [1, 2, 3],
        {"type": "group", "userId": user, "groupId": "g1", "color": "red"},  # unknown field
        {"type": "screen", "userId": user, "name": "Cart"},
        {"type": "alias", "userId": user, "previousId": "a9"},
        {"type": "nope", "userId": user},
    ]
    path = tmp_path / "events.jsonl"
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    )
    report = tmp_path / "failed.jsonl"
    result = aioanalytics(
        "import", str(path), "--host", server, "--write-key", KEY, "--report", str(report)
    )
    assert result.returncode == 1
    assert "5 line(s) failed" in result.stderr
    assert "line 3: invalid JSON" in result.stderr
    assert "line 4: event: Field required" in result.stderr
    assert "line 7: expected a JSON object, got list" in result.stderr
    assert "line 8: color: Extra inputs are not permitted" in result.stderr
    assert "line 11: type: " in result.stderr
    assert "delivered" in result.stdout
    failures = [json.loads(line) for line in report.read_text().splitlines()]
    assert [failure["line"] for failure in failures] == [3, 4, 7, 8, 11]
    events = stored(server, user=user)
    assert sorted(e["type"] for e in events) == ["alias", "identify", "page", "screen", "track"]
    signed_up = next(e for e in events if e["type"] == "track")
    assert signed_up["timestamp"] == "2023-01-02T03:04:05.000Z"  # historical time kept


def test_import_of_good_lines_exits_zero_and_is_idempotent(server: str, tmp_path: Path) -> None:
    """A clean file exits 0; importing it twice stores each messageId once."""
    path = tmp_path / "good.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {"type": "track", "userId": "good-user", "event": f"E{i}", "messageId": f"g{i}"}
            )
            + "\n"
            for i in range(20)
        )
    )
    for _ in range(2):
        result = aioanalytics("import", str(path), "--host", server, "--write-key", KEY)
        assert result.returncode == 0, result.stderr
    events = stored(server, user="good-user")
    assert len(events) == 20
    assert all(event["duplicates"] == 1 for event in events)


def test_import_refused_by_the_server_reports_every_line(server: str, tmp_path: Path) -> None:
    """When the collector refuses the key, every line is reported as not delivered."""
    path = tmp_path / "refused.jsonl"
    path.write_text(json.dumps({"type": "track", "userId": "r", "event": "E"}) + "\n")
    result = aioanalytics("import", str(path), "--host", server, "--write-key", "bad")
    assert result.returncode == 1
    assert "line 1: " in result.stderr
    assert "401" in result.stderr


# -- demo, help, extras ---------------------------------------------------------------------


def test_demo_reports_every_message_stored() -> None:
    """The demo sends through the SDK to an in-process collector, with faults, and loses none."""
    result = aioanalytics(
        "demo", "--messages", "400", "--users", "30", "--seed", "3",
        "--fail-rate", "0.2", "--fail-status", "429", "--retry-after", "0", "--drop-rate", "0.1",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every message stored" in result.stdout
    total = next(line for line in result.stdout.splitlines() if "total" in line)
    assert [cell.strip() for cell in total.split("│") if cell.strip()] == [
        "total",
        "400",
        "400",
        "0",
    ]
    # The collector is gone once the demo exits: no dead debugger URL, but the way to keep it.
    assert "debugger   http" not in result.stdout
    assert "aioanalytics demo --keep-open" in result.stdout


def test_demo_keep_open_serves_the_debugger_until_interrupted() -> None:
    """With --keep-open the demo's collector stays up (page and API) until Ctrl-C, then exits 0."""
    process = subprocess.Popen(
        [sys.executable, "-m", "aioanalytics", "demo", "--messages", "60", "--users", "5",
         "--keep-open"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
    )  # fmt: skip
    assert process.stdout is not None
    url = None
    for line in process.stdout:
        if line.startswith("debugger"):
            url = line.split()[1].rstrip("/")
        if "Serving until Ctrl-C" in line:
            break
    assert url is not None
    with httpx.Client(trust_env=False) as client:
        assert client.get(f"{url}/api/counts").json()["total"] == 60
        assert "aioanalytics" in client.get(f"{url}/").text
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=15)
    assert process.returncode == 0
    assert "stopped" in out


def test_help_from_the_entry_point() -> None:
    """``aioanalytics --help`` lists every command; a command's --help shows its options."""
    top = aioanalytics("--help")
    assert top.returncode == 0
    for command in COMMANDS:
        assert command in top.stdout
    imported = aioanalytics("import", "--help")
    assert imported.returncode == 0
    assert "JSON Lines" in imported.stdout
    assert "SEGMENT_WRITE_KEY" in imported.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    """Every command answers --help with its usage and an example."""
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert f"Usage: cli {command}" in result.output or "Usage:" in result.output
    assert "aioanalytics" in result.output


def test_missing_cli_extra_names_the_extra() -> None:
    """Without Click installed, the command says to install aioanalytics[cli]."""
    code = "import sys; sys.modules['click'] = None; from aioanalytics._cli import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", code, "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        env=environment(),
        check=False,
    )
    assert result.returncode == 1
    assert "pip install 'aioanalytics[cli]'" in result.stderr


# -- the building blocks, in process --------------------------------------------------------


@pytest.mark.anyio
async def test_import_lines_reports_each_bad_line(tmp_path: Path) -> None:
    """import_lines delivers the good lines and reports the others by number, in order."""
    from aioanalytics import Analytics
    from aioanalytics._bulk import import_lines
    from aioanalytics._demo import collector

    lines = [
        json.dumps({"type": "track", "userId": "u", "event": "E", "messageId": "i1"}),
        "   ",
        "[]",
        json.dumps({"type": "identify"}),
        json.dumps({"type": "page", "anonymousId": "a", "messageId": "i2"}),
        json.dumps({"type": "track", "userId": "u", "event": "x" * 40_000}),
    ]
    ticks: list[None] = []
    async with collector() as (url, store):
        async with Analytics(KEY, host=url, flush_interval=0.01) as analytics:
            report = await import_lines(analytics, lines, on_progress=lambda: ticks.append(None))
        assert store.counts().by_type == {"page": 1, "track": 1}
    assert (report.lines, report.queued, report.delivered, report.failed) == (5, 2, 2, 3)
    assert [str(failure) for failure in report.failures] == [
        "line 3: expected a JSON object, got list",
        "line 4: userId or anonymousId is required",
        f"line 6: {report.failures[2].reason}",
    ]
    assert "32768" in report.failures[2].reason
    assert len(ticks) == 5


@pytest.mark.anyio
async def test_demo_in_process_stores_every_message() -> None:
    """run_demo sends a simulated burst with every call type; the collector stores each once."""
    from aioanalytics._demo import collector, run_demo, simulate
    from aioanalytics._server import Faults

    calls = simulate(300, users=25, seed=5)
    assert {call.kind for call in calls} == {
        "identify",
        "track",
        "page",
        "screen",
        "group",
        "alias",
    }
    assert simulate(300, users=25, seed=5, now=calls[-1].kwargs["timestamp"]) == calls
    faults = Faults(fail_rate=0.2, fail_status=503, drop_rate=0.1)
    async with collector(faults=faults, seed=1) as (url, store):
        result = await run_demo(url, store, calls)
    assert result.lost == 0
    assert result.failed == 0
    assert dict(result.sent) == result.stored
    assert result.retried > 0
    assert result.throughput > 0


def test_commands_in_process(server: str, tmp_path: Path) -> None:
    """The same commands, invoked in this process, send, import and run the demo."""
    runner = CliRunner()
    common = ["--host", server, "--write-key", KEY]
    sent = runner.invoke(cli, ["screen", *common, "--user-id", "inproc", "--name", "Home"])
    assert sent.exit_code == 0, sent.output
    assert sent.output.startswith("delivered screen ")
    refused = runner.invoke(cli, ["screen", "--host", server, "--write-key", "x", "--user-id", "u"])
    assert refused.exit_code == 1
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"type": "alias", "userId": "inproc", "previousId": "p"}\n{oops}\n')
    imported = runner.invoke(cli, ["import", str(path), *common])
    assert imported.exit_code == 1
    assert "line 2: invalid JSON" in imported.output
    assert sorted(e["type"] for e in stored(server, user="inproc")) == ["alias", "screen"]
    demo = runner.invoke(cli, ["demo", "--messages", "150", "--users", "10", "--latency", "0.001"])
    assert demo.exit_code == 0, demo.output
    assert "every message stored" in demo.output
