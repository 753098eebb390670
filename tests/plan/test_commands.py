"""``aioanalytics plan generate|check`` and ``aioanalytics serve --plan``, run for real."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("click")
pytest.importorskip("rich")
pytest.importorskip("yaml")

from click.testing import CliRunner

from aioanalytics import Analytics
from aioanalytics._commands import cli
from aioanalytics.plan import generate_module, load_plan

pytestmark = pytest.mark.anyio

EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "tracking_plan" / "plan.yaml"

GOOD: dict[str, Any] = {
    "type": "track",
    "event": "Order Completed",
    "userId": "u1",
    "properties": {"order_id": "o1", "revenue": 39.95},
}
RECORDED: list[dict[str, Any]] = [
    GOOD,
    {**GOOD, "properties": {"order_id": "o2", "revenue": "39.95"}},
    {**GOOD, "properties": {"order_id": "o3", "revenue": "5"}},
    {**GOOD, "properties": {"revenue": 1, "products": [{"product_id": "p", "quantity": 0}]}},
    {"type": "track", "event": "Order Complete", "userId": "u1"},
    {"type": "identify", "userId": "u1", "traits": {"email": "ada@example.com"}},
    {"type": "page", "userId": "u1", "name": "Home"},
]


def environment() -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
    }
    return {**env, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}


def aioanalytics(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aioanalytics", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment(),
        input=stdin,
        check=False,
    )


def test_generate_writes_the_module(tmp_path: Path) -> None:
    """``plan generate PLAN -o FILE`` writes the module generate_module() returns."""
    out = tmp_path / "events.py"
    result = aioanalytics("plan", "generate", str(EXAMPLE), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote {out}: 3 event(s)"
    source = f"aioanalytics plan generate {EXAMPLE} -o {out}"
    assert out.read_text() == generate_module(load_plan(EXAMPLE), source=source)
    assert f"Regenerate with: {source}" in out.read_text()


def test_generate_to_standard_output_and_check(tmp_path: Path) -> None:
    """Without -o the module goes to standard output; --check compares without writing."""
    runner = CliRunner()
    printed = runner.invoke(cli, ["plan", "generate", str(EXAMPLE)])
    assert printed.exit_code == 0
    assert printed.output.startswith('"""Typed events for the tracking plan "Shop".')
    out = tmp_path / "events.py"
    missing = runner.invoke(cli, ["plan", "generate", str(EXAMPLE), "-o", str(out), "--check"])
    assert missing.exit_code == 1
    assert "is out of date" in missing.output
    assert not out.exists()
    assert runner.invoke(cli, ["plan", "generate", str(EXAMPLE), "-o", str(out)]).exit_code == 0
    fresh = runner.invoke(cli, ["plan", "generate", str(EXAMPLE), "-o", str(out), "--check"])
    assert fresh.exit_code == 0
    assert "is up to date" in fresh.output


def test_generate_reports_unsupported_keywords(tmp_path: Path) -> None:
    """Unsupported JSON Schema is listed on standard error; --strict makes it an error."""
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"events": {"A": {"properties": {"x": {"anyOf": [{}]}}}}}))
    result = aioanalytics("plan", "generate", str(plan), "-o", str(tmp_path / "a.py"))
    assert result.returncode == 0
    assert "warning: A.properties.x: 'anyOf' is not supported: not checked" in result.stderr
    strict = aioanalytics("plan", "generate", str(plan), "--strict", "-o", str(tmp_path / "b.py"))
    assert strict.returncode == 2
    assert "1 unsupported JSON Schema keyword(s)" in strict.stderr
    assert not (tmp_path / "b.py").exists()


def test_bad_plan_is_a_usage_error(tmp_path: Path) -> None:
    """A plan that cannot be read exits 2 and says why."""
    plan = tmp_path / "plan.json"
    plan.write_text("{broken")
    for command in (["generate", str(plan)], ["check", str(plan), "-"]):
        result = aioanalytics("plan", *command)
        assert result.returncode == 2
        assert "is not valid JSON" in result.stderr


def test_check_reports_violations_per_event_and_property(tmp_path: Path) -> None:
    """``plan check PLAN FILE`` prints counts per event and property, and exits 1."""
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(m) + "\n" for m in RECORDED))
    result = aioanalytics("plan", "check", str(EXAMPLE), str(events))
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "7 message(s): 6 checked, 2 keep to the plan, 4 break it; not covered by the plan: 1 page"
    )
    rows = [" ".join(line.replace("│", " ").split()) for line in lines if "│" in line]
    assert rows == [
        "Order Completed properties.revenue Input should be a valid number 2 '39.95'",
        'Order Complete event not in the tracking plan (did you mean "Order Completed"?) 1',
        "Order Completed properties.order_id Field required 1",
        (
            "Order Completed properties.products[].quantity Input should be greater than or "
            "equal to 1 1 0"
        ),
    ]


def test_check_reads_standard_input_and_prints_json() -> None:
    """``-`` reads standard input; --json prints the report as JSON; all good exits 0."""
    result = aioanalytics(
        "plan", "check", str(EXAMPLE), "-", "--json", stdin=json.dumps(GOOD) + "\n"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["messages"], report["checked"], report["violating"]) == (1, 1, 0)
    assert report["violations"] == []


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """``aioanalytics serve --plan`` on a free port; yields its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "aioanalytics", "serve", "--port", "0", "--db", ":memory:",
         "--plan", str(EXAMPLE)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
    )  # fmt: skip
    assert process.stdout is not None
    url = None
    banner = []
    deadline = time.monotonic() + 30
    for line in process.stdout:
        banner.append(line)
        if "listening on " in line:
            url = line.split("listening on ", 1)[1].strip()
        if line.startswith("Press Ctrl-C"):
            break
        assert time.monotonic() < deadline
    assert url, process.stderr.read() if process.stderr else ""
    assert any("plan" in line and "(3 events)" in line for line in banner), banner
    with httpx.Client(trust_env=False) as client:
        while True:
            try:
                client.get(f"{url}/api/counts").raise_for_status()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
    yield url
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=15)


async def test_serve_marks_violations_and_check_reads_the_collector(served: str) -> None:
    """The collector lists each event's violations of the loaded plan (the debugger page
    marks those rows), and ``plan check PLAN URL`` reads its export."""
    async with Analytics("key", host=served, flush_interval=0.01) as analytics:
        for message in RECORDED:
            fields = {k: v for k, v in message.items() if k not in ("type", "userId")}
            call = getattr(analytics, str(message["type"]))
            await (await call(user_id="u1", **fields))
    async with httpx.AsyncClient(trust_env=False) as client:
        events = (await client.get(f"{served}/api/events")).json()["events"]
        config = (await client.get(f"{served}/api/config")).json()
    assert config["plan"] == {"name": "Shop", "events": 3}
    violations = {
        (e["event"] or e["type"], (e["message"].get("properties") or {}).get("order_id")): e[
            "violations"
        ]
        for e in events
    }
    assert violations[("Order Completed", "o1")] == []
    assert violations[("Order Completed", "o2")] == [
        "properties.revenue: Input should be a valid number (got '39.95')"
    ]
    assert violations[("Order Complete", None)] == [
        'event: not in the tracking plan (did you mean "Order Completed"?)'
    ]
    assert violations[("page", None)] == []
    result = aioanalytics("plan", "check", str(EXAMPLE), served)
    assert result.returncode == 1
    assert result.stdout.startswith("7 message(s): 6 checked, 2 keep to the plan, 4 break it")
