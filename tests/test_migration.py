"""Migrating from segment-analytics-python: one import changes, the program keeps working.

``tests/migration/legacy_program.py`` is written for segment-analytics-python. The main test
runs it with ``import segment.analytics as analytics`` replaced by
``import aioanalytics.compat as analytics`` (and nothing else) against the test collector;
when segment-analytics-python is installed, it also runs the original and compares what
each sent.
"""

from __future__ import annotations

import difflib
import inspect
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pydantic
import pytest

from aioanalytics import ConfigError, DeliveryError
from aioanalytics import compat as analytics
from tests._exit_timing import MAIN_DONE, assert_waited_once, exit_timings, unreachable_hosts
from tests.collector import Action, Collector

ROOT = Path(__file__).parent.parent
LEGACY = Path(__file__).parent / "migration" / "legacy_program.py"
OLD_IMPORT = "import segment.analytics as analytics\n"
NEW_IMPORT = "import aioanalytics.compat as analytics\n"

#: What the program sends, normalized (see ``normalize``), in the order it sends it.
EXPECTED = [
    {"type": "identify", "userId": "user-1", "traits": {"email": "ada@example.com", "plan": "pro"}},
    {
        "type": "track",
        "userId": "user-1",
        "event": "Signed Up",
        "properties": {"plan": "pro", "seats": 3},
    },
    {
        "type": "page",
        "userId": "user-1",
        "category": "Docs",
        "name": "Quickstart",
        "properties": {"url": "https://example.com/docs/quickstart"},
    },
    {"type": "screen", "userId": "user-1", "category": "Onboarding", "name": "Welcome"},
    {
        "type": "group",
        "userId": "user-1",
        "groupId": "group-1",
        "traits": {"name": "Acme", "employees": 42},
    },
    {"type": "alias", "userId": "user-1", "previousId": "anonymous-1"},
    {
        "type": "track",
        "anonymousId": "anonymous-2",
        "event": "Viewed Pricing",
        "properties": {"tier": "team"},
        "context": {"ip": "203.0.113.7"},
        "integrations": {"All": True},
        "timestamp": "2024-03-15T11:59:30+00:00",
        "messageId": "legacy-message-1",
    },
    {"type": "track", "userId": "7", "event": "Numeric Id"},
]


def normalize(message: dict[str, Any]) -> dict[str, Any]:
    """Keep what the program chose; drop generated ids, clock times, the library and empties."""
    out = {}
    for key, value in message.items():
        if key == "context":
            value = {k: v for k, v in value.items() if k != "library"}
        if key == "messageId" and not value.startswith("legacy-"):
            continue
        if key == "timestamp":
            moment = datetime.fromisoformat(value)
            if moment.year != 2024:
                continue
            value = moment.isoformat()
        if value is None or value == {}:
            continue
        out[key] = value
    return out


def migrate(tmp_path: Path) -> Path:
    """The legacy program with its one import changed; checks nothing else changed."""
    source = LEGACY.read_text()
    assert source.count(OLD_IMPORT) == 1
    migrated = source.replace(OLD_IMPORT, NEW_IMPORT)
    changes = [
        line
        for line in difflib.unified_diff(source.splitlines(), migrated.splitlines(), lineterm="")
        if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert changes == [f"-{OLD_IMPORT.strip()}", f"+{NEW_IMPORT.strip()}"]
    path = tmp_path / "migrated_program.py"
    path.write_text(migrated)
    return path


def run_program(path: Path, collector: Collector) -> list[dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, str(path)],
        env={**os.environ, "SEGMENT_HOST": collector.url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [normalize(m) for m in collector.accepted_messages]


def test_legacy_program_runs_with_one_import_changed(collector: Collector, tmp_path: Path) -> None:
    """The legacy program, with only its import changed, runs and sends every message."""
    assert run_program(migrate(tmp_path), collector) == EXPECTED


def test_migrated_program_sends_what_the_original_sent(
    collector: Collector, tmp_path: Path
) -> None:
    """The migrated program sends the same messages segment-analytics-python sent."""
    pytest.importorskip("segment.analytics")
    original = run_program(LEGACY, collector)
    collector.reset()
    migrated = run_program(migrate(tmp_path), collector)
    assert original == migrated == EXPECTED


# -- the compat layer, in this process ----------------------------------------------------------


@pytest.fixture
def compat_settings() -> Iterator[None]:
    """Restore the module settings and the library logger after a test."""
    names = [n for n in analytics.__all__ if not callable(getattr(analytics, n))]
    saved = {name: getattr(analytics, name) for name in names}
    logger = logging.getLogger("aioanalytics")
    level, handlers = logger.level, list(logger.handlers)
    yield
    if analytics.default_client is not None:
        analytics.default_client.join()
    for name, value in saved.items():
        setattr(analytics, name, value)
    logger.setLevel(level)
    logger.handlers[:] = handlers


def test_module_settings_create_the_default_client(
    collector: Collector, compat_settings: None
) -> None:
    """Settings are read by the first call, ``flush()`` included, as before; after
    ``shutdown()`` the default client stays, and its next call starts a new thread."""
    analytics.write_key = "key"
    analytics.host = collector.url
    analytics.timeout = 1.5
    analytics.max_queue_size = 1337
    analytics.flush()  # creates the client, as segment-analytics-python's flush() did
    client = analytics.default_client
    assert client is not None
    assert "aioanalytics.compat.Client" in repr(client)
    assert (client.write_key, client.host, client.timeout) == ("key", collector.url, 1.5)
    assert (client.gzip, client.debug, client.queue.maxsize) == (False, False, 1337)
    assert client.log is logging.getLogger("aioanalytics")
    queued, message = analytics.track("u", "First", {"n": 1})
    assert queued
    assert message["event"] == "First"
    analytics.identify("u", {"plan": "pro"})
    analytics.group("u", 5, {"name": "Acme"})
    analytics.screen("u", "Onboarding", "Welcome")
    analytics.shutdown()
    assert analytics.default_client is client
    kinds = [(m["type"], m.get("groupId")) for m in collector.accepted_messages]
    assert kinds == [("track", None), ("identify", None), ("group", "5"), ("screen", None)]
    assert analytics.track("u", "After Shutdown")[0]
    analytics.join()  # delivers it: the client works after shutdown() and join()
    assert collector.accepted_messages[-1]["event"] == "After Shutdown"


def test_client_maps_upload_size_and_interval_to_batches(collector: Collector) -> None:
    """``upload_size`` is the batch size; ``upload_interval`` the wait before a partial one."""
    client = analytics.Client("key", host=collector.url, upload_size=2, upload_interval=60)
    for i in range(4):
        client.track(f"u{i}", "Batched")
    collector.wait_for(4)
    client.shutdown()
    assert [len(r.messages) for r in collector.requests] == [2, 2]


def test_sync_mode_sends_before_returning_and_raises_on_failure(collector: Collector) -> None:
    """With ``sync_mode`` a call returns once delivered, and raises if delivery failed."""
    client = analytics.Client("key", host=collector.url, sync_mode=True, max_retries=0)
    client.track("u", "Delivered")
    assert len(collector.accepted_ids) == 1
    collector.script(Action(400))
    with pytest.raises(DeliveryError):
        client.track("u", "Rejected")
    client.join()


def test_full_queue_returns_false(collector: Collector) -> None:
    """When the queue is full a call returns ``(False, message)``, as before."""
    collector.set_hook(lambda request: Action(200, delay=0.2))
    client = analytics.Client(
        "key", host=collector.url, max_queue_size=1, upload_size=1, upload_interval=0
    )
    outcomes = [client.track("u", "Flood")[0] for _ in range(40)]
    collector.set_hook(None)
    client.join()
    assert False in outcomes


def test_send_false_and_debug_logging(compat_settings: None) -> None:
    """``send=False`` validates and sends nothing; ``log_handler`` receives the debug log."""
    records: list[logging.LogRecord] = []

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    client = analytics.Client("key", send=False, debug=True, log_handler=Handler())
    queued, message = client.track("u", "Not Sent")
    assert queued
    assert message["event"] == "Not Sent"
    client.shutdown()
    assert any(r.levelno == logging.DEBUG for r in records)
    analytics.Client("key", debug=True).join()  # no handler given: one for stderr is added


def test_invalid_calls_raise_validation_errors() -> None:
    """Missing ids or event raise ``ValidationError`` where the old client asserted."""
    client = analytics.Client("key", send=False)
    with pytest.raises(pydantic.ValidationError):
        client.track(None, "No Id")
    with pytest.raises(pydantic.ValidationError):
        client.track("u", None)
    client.join()


@pytest.mark.parametrize(
    "options",
    [
        {"oauth_client_id": "id"},  # one of three OAuth options
        {"oauth_client_id": "id", "oauth_client_key": "not a key", "oauth_key_id": "kid"},
        {"thread": 0},
        {"max_retries": None},
        {"upload_interval": None},
        {"max_total_backoff_duration": None},
        {"max_rate_limit_duration": -1},
        {"host": "http://analytics.internal"},  # plain http beyond loopback: refused
    ],
)
def test_invalid_options_raise_config_error(options: dict[str, Any]) -> None:
    """Invalid options raise ``ConfigError``, a ``ValueError``, when the client is made."""
    with pytest.raises(ConfigError) as raised:
        analytics.Client("key", **options)
    assert isinstance(raised.value, ValueError)


def test_missing_write_key_raises_an_assertion_error_too() -> None:
    """No write key raises ``RequirementError``: both ``ConfigError`` and the
    ``AssertionError`` segment-analytics-python raised, for the module calls too."""
    with pytest.raises(analytics.RequirementError) as raised:
        analytics.Client()
    assert isinstance(raised.value, AssertionError)
    assert isinstance(raised.value, ConfigError)
    with pytest.raises(AssertionError):
        analytics.Client(None)


def test_client_signature_matches_segment_analytics_python() -> None:
    """``Client`` takes the arguments segment-analytics-python's does, in the same order."""
    segment = pytest.importorskip("segment.analytics")
    ours = list(inspect.signature(analytics.Client).parameters)
    theirs = list(inspect.signature(segment.Client).parameters)
    assert ours[: len(theirs)] == theirs  # then aioanalytics's own, keyword-only
    extra = list(inspect.signature(analytics.Client).parameters.values())[len(theirs) :]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in extra)
    for name in ("identify", "track", "page", "screen", "group", "alias"):
        ours = list(inspect.signature(getattr(analytics.Client, name)).parameters)
        theirs = list(inspect.signature(getattr(segment.Client, name)).parameters)
        assert ours == theirs, name


def test_migration_guide_maps_every_option_and_call() -> None:
    """docs/migration.md names every ``Client`` option, setting and call of the old API."""
    guide = (ROOT / "docs" / "migration.md").read_text()
    mentioned = set(re.findall(r"`([a-z_]+)`", guide))
    options = set(inspect.signature(analytics.Client).parameters)
    calls = {"identify", "track", "page", "screen", "group", "alias", "flush", "join", "shutdown"}
    settings = {n for n in analytics.__all__ if not callable(getattr(analytics, n))}
    assert options | calls | settings <= mentioned


COMPAT_EXIT_SCRIPT = f"""
    import os
    import aioanalytics.compat as analytics

    analytics.write_key = "key"
    analytics.host = os.environ["HOST"]
    analytics.shutdown_timeout = {{timeout}}
    analytics.track("u", "Never Delivered")
    print({MAIN_DONE!r}, flush=True)
"""


def test_exit_with_the_host_unreachable_waits_shutdown_timeout_once(tmp_path: Path) -> None:
    """A compat program that exits with its host unreachable waits ``shutdown_timeout`` in
    all (checked against 1.5 times it), not once per exit hook, and reports the failure."""
    timeout = 4.0
    with unreachable_hosts() as hosts:
        timings = exit_timings(COMPAT_EXIT_SCRIPT.format(timeout=timeout), hosts, tmp_path)
    assert_waited_once(timings, timeout)
