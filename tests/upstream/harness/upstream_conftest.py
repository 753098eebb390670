"""conftest.py for segment-analytics-python's own tests, run against aioanalytics.compat.

- Traffic: ``https://api.segment.io`` is rewritten, at httpx's transport layer, to a local
  collector on 127.0.0.1; a request to any other host that is not loopback is refused
  (counted as ``blocked``), so nothing ever leaves the machine.
- Strict assertions: upstream ``TestClient`` names its ``on_error`` hook ``fail``, which
  overrides ``unittest``'s own, so a failed comparison only set a flag. Here ``fail`` records
  ``on_error`` calls and raises for failed comparisons, except for the two documented
  differences in ``TOLERATED`` (recorded, and reported).
- Tests of segment's internals are skipped, each with its reason (``INTERNAL``); whole
  modules that import segment's internals are listed test by test from their source.
- At the end, ``result.json`` gets the counts the outer test checks.
"""

from __future__ import annotations

import ast
import json
import re
import sys
import unittest
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.collector import Collector

HERE = Path(__file__).parent
REDIRECTED = {"api.segment.io"}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

#: Differences from what the upstream assertions expect, each with its reason.
TOLERATED = {
    # segment-analytics-python 2.4.0 itself returns "2014-09-03T00:00:00.000+00:00": its own
    # tests expect the format of earlier releases, and pass only because of the `fail` hook.
    "timestamp": re.compile(
        r"^'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00' != '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00'$"
    ),
    # compat sends (and returns) context.library = aioanalytics, as docs/migration.md says.
    "library": re.compile(
        r"^\{'name': 'aioanalytics', 'version': '[^']+'\} != \{'name': 'analytics-python'"
    ),
}

#: Upstream tests of segment's internals: test id -> why it is skipped.
INTERNAL = {
    "test_client.py::TestClient::test_user_defined_upload_size": (
        "patches segment.analytics.consumer.post, segment's internal sender "
        "(batch sizes are checked against the collector in tests/test_migration.py)"
    ),
    "test_client.py::TestClient::test_user_defined_timeout": (
        "reads the timeout of segment's consumer threads (Client.consumers); "
        "Client.timeout is checked in test_parity.py"
    ),
    "test_client.py::TestClient::test_default_timeout_15": (
        "reads the timeout of segment's consumer threads (Client.consumers); "
        "Client.timeout is checked in test_parity.py"
    ),
    "test_client.py::TestClient::test_proxies": (
        "patches requests' session, segment's HTTP library; proxies are checked through a "
        "local proxy in test_parity.py"
    ),
    "test_client.py::TestClient::test_shutdown": (
        "checks that segment's consumer threads (Client.consumers) stopped; test_parity.py "
        "checks that shutdown() delivers everything and empties the queue"
    ),
    "test_client.py::TestClient::test_synchronous": (
        "checks that segment's Client.consumers is empty in sync_mode; tests/test_migration.py "
        "checks that sync_mode delivers before returning"
    ),
    "test_init.py::TestInit::test_max_retries": (
        "reads the retries of segment's consumer threads; test_parity.py counts the attempts"
    ),
}

#: Upstream modules that import segment's internals: module -> why each test is skipped.
INTERNAL_MODULES = {
    "test_consumer.py": (
        "segment's consumer thread (segment.analytics.consumer); its public behaviours "
        "(retry classes in test_parity.py, None durations refused in tests/test_migration.py)"
    ),
    "test_request.py": "segment's request module (segment.analytics.request, over requests)",
    "test_utils.py": "segment's utils module (segment.analytics.utils)",
    "test_oauth.py": (
        "segment's OauthManager and mocks of requests; OAuth is checked against a local "
        "token server in tests/upstream/test_oauth.py"
    ),
}

#: Upstream tests run with a setting adapted: test id -> (setting, value, why).
ADAPTED = {
    "test_init.py::TestInit::test_host": (
        "allow_insecure_http",
        True,
        "plain http:// to a host that is not loopback is refused unless allow_insecure_http",
    ),
}

collector = Collector().start()
blocked: list[str] = []
tolerated: list[dict[str, str]] = []
_handle = httpx.AsyncHTTPTransport.handle_async_request


async def _redirect(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
    host = request.url.host
    if host in REDIRECTED:
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=collector.port)
    elif host not in LOOPBACK:
        blocked.append(str(request.url))
        raise httpx.ConnectError(f"{host} is neither redirected nor loopback", request=request)
    return await _handle(self, request)


httpx.AsyncHTTPTransport.handle_async_request = _redirect  # type: ignore[method-assign]


def _strict_fail(case: unittest.TestCase) -> Any:
    def fail(error: Any = None, batch: Any = None) -> None:
        if isinstance(error, Exception) or batch is not None:  # called as on_error
            case.failed = True  # type: ignore[attr-defined]
            return
        message = str(error)
        for name, pattern in TOLERATED.items():
            if pattern.match(message.partition("\n")[0]):
                tolerated.append({"test": case.id(), "difference": name, "message": message})
                return
        unittest.TestCase.fail(case, message)

    return fail


@pytest.fixture(autouse=True)
def _harness(request: pytest.FixtureRequest) -> Iterator[None]:
    test_id = request.node.nodeid
    if test_id in INTERNAL:
        pytest.skip(f"internal: {INTERNAL[test_id]}")
    from aioanalytics import compat

    saved = None
    if test_id in ADAPTED:
        name, value, _ = ADAPTED[test_id]
        saved = (name, getattr(compat, name))
        setattr(compat, name, value)
    case = request.instance
    if isinstance(case, unittest.TestCase) and "fail" in type(case).__dict__:
        case.fail = _strict_fail(case)  # type: ignore[method-assign]
    yield
    if saved is not None:
        setattr(compat, *saved)


class _Internal(pytest.Item):
    def __init__(self, *, reason: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reason = reason

    def runtest(self) -> None:
        pytest.skip(f"internal: {self.reason}")

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, self.name


class _InternalModule(pytest.File):
    def collect(self) -> Iterator[_Internal]:
        reason = INTERNAL_MODULES[self.path.name.removesuffix(".internal")]
        for node in ast.parse(self.path.read_text()).body:
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name.startswith("test"):
                        name = f"{node.name}::{item.name}"
                        yield _Internal.from_parent(self, name=name, reason=reason)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix == ".internal":
        return _InternalModule.from_parent(parent, path=file_path)
    return None


def pytest_sessionfinish(session: pytest.Session) -> None:
    from aioanalytics import sync

    sync._state.close_all()  # deliver what the tests' clients still hold, while we listen
    collector.stop()
    (HERE / "result.json").write_text(
        json.dumps(
            {
                "accepted": len(collector.accepted_messages),
                "requests": len(collector.requests),
                "blocked": blocked,
                "tolerated": tolerated,
                "adapted": {k: v[2] for k, v in ADAPTED.items()},
                "python": sys.version,
            },
            indent=2,
        )
    )
