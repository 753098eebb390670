"""compat against segment-analytics-python's behaviour, with assertions of our own.

The upstream suite (``test_upstream_suite.py``) covers what its tests assert; these cover
what it skips as internal, what its vacuous comparisons hid, and each gap a migrating user
would hit: return values, settings, the queue bound, errors, retry classes, plain-http
hosts and proxies.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
import threading
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from aioanalytics import DeliveryError, compat
from tests.collector import Action, Collector
from tests.upstream._servers import ForwardProxy

#: Calls made with both clients: (method, args, kwargs).
CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("track", ("userId", "python test event"), {}),
    ("track", (157963456373623802,), {"event": "numeric", "anonymous_id": 1579634563}),
    ("track", (), {"anonymous_id": "anon", "event": "anonymous"}),
    (
        "track",
        (
            "userId",
            "advanced",
            {"property": "value", "price": Decimal("9.5"), "tags": ("a", "b")},
            {"ip": "192.168.0.1"},
            datetime(2014, 9, 3),
            "anonymousId",
            {"Amplitude": True},
            "messageId",
        ),
        {},
    ),
    ("identify", ("userId", {"birthdate": date(1981, 2, 2), "seen": datetime(2020, 1, 1)}), {}),
    ("identify", (None,), {"anonymous_id": "anon"}),
    ("group", ("userId", "groupId"), {}),
    ("group", ("userId", 42, {"trait": "value"}), {"timestamp": datetime(2014, 9, 3, tzinfo=UTC)}),
    ("alias", ("previousId", "userId"), {}),
    ("alias", (1, 2), {"message_id": 7}),
    ("page", ("userId",), {"name": "name"}),
    ("page", ("userId", "category", "name", {"property": "value"}), {}),
    ("screen", ("userId",), {"name": "name"}),
    (
        "screen",
        ("userId", "category", "name"),
        {"timestamp": datetime(2014, 9, 3, 10, tzinfo=timezone(timedelta(hours=2)))},
    ),
]


def _comparable(message: dict[str, Any], given_id: bool) -> dict[str, Any]:
    out = dict(message)
    out["context"] = {k: v for k, v in message["context"].items() if k != "library"}
    if not given_id:
        out.pop("messageId")
    return out


@pytest.mark.parametrize(("method", "args", "kwargs"), CALLS)
def test_returned_message_is_what_segment_returns(
    method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Every call returns the message segment-analytics-python returns for it: the same
    keys (``None`` and ``{}`` included), ids as strings, dates as given, the timestamp to
    the millisecond. Only ``context.library`` and generated ``messageId``s differ."""
    segment = pytest.importorskip("segment.analytics.client")
    theirs_ok, theirs = getattr(segment.Client("key", send=False), method)(
        *copy.deepcopy(args), **copy.deepcopy(kwargs)
    )  # deep copies: segment-analytics-python adds its library to the context it is given
    client = compat.Client("key", send=False)
    ours_ok, ours = getattr(client, method)(*args, **kwargs)
    client.join()
    assert ours_ok is theirs_ok is True
    given = "message_id" in kwargs or len(args) == 8
    if "timestamp" not in kwargs and len(args) < 5:  # now: equal to the millisecond at best
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", ours["timestamp"])
        ours.pop("timestamp")
        theirs.pop("timestamp")
    assert _comparable(ours, given) == _comparable(theirs, given)
    assert ours["context"]["library"]["name"] == "aioanalytics"


def test_dates_are_returned_as_given_and_sent_as_iso_strings(collector: Collector) -> None:
    """``identify(traits={"birthdate": date(...)})`` returns the ``date`` and sends
    ``"1981-02-02"``."""
    client = compat.Client("key", host=collector.url)
    _, message = client.identify("u", {"birthdate": date(1981, 2, 2)})
    assert message["traits"] == {"birthdate": date(1981, 2, 2)}
    client.shutdown()
    assert collector.accepted_messages[0]["traits"] == {"birthdate": "1981-02-02"}


def test_settings_read_back_from_the_client() -> None:
    """The options are attributes, as on segment-analytics-python's ``Client``."""
    client = compat.Client(
        "key", host="https://eu.example.com", gzip=True, timeout=3, debug=False,
        max_queue_size=7, upload_size=20, upload_interval=2, thread=2, sync_mode=False,
    )  # fmt: skip
    assert (client.write_key, client.host, client.gzip, client.timeout) == (
        "key", "https://eu.example.com", True, 3,
    )  # fmt: skip
    assert (client.debug, client.sync_mode, client.send) == (False, False, True)
    assert (client.upload_size, client.upload_interval, client.thread) == (20, 2, 2)
    assert client.queue.maxsize == 7
    assert client.queue.empty()
    assert client.log.name == "aioanalytics"
    assert compat.Client("key").timeout == 15  # segment's default
    client.join()


def test_client_keeps_working_after_join_and_shutdown(collector: Collector) -> None:
    """After ``join()`` or ``shutdown()`` the next call starts a new background thread."""
    client = compat.Client("key", host=collector.url)
    client.track("u", "Before")
    client.join()
    assert client.track("u", "After Join")[0]
    client.shutdown()
    assert client.track("u", "After Shutdown")[0]
    client.flush()
    events = [m["event"] for m in collector.accepted_messages]
    assert events == ["Before", "After Join", "After Shutdown"]
    client.join()


def test_max_queue_size_bounds_messages_not_yet_delivered(collector: Collector) -> None:
    """With ``max_queue_size=1`` and a stalled server, one call of ten is accepted, as with
    segment-analytics-python; once it is delivered, calls are accepted again."""
    release = threading.Event()
    collector.set_hook(lambda request: None if release.wait(10) else Action(500))
    client = compat.Client("key", host=collector.url, max_queue_size=1, upload_interval=0.01)
    outcomes = [client.track("u", f"Flood {i}")[0] for i in range(10)]
    assert outcomes == [True] + [False] * 9
    assert client.queue.full()
    release.set()
    client.flush()
    assert client.queue.empty()
    assert client.track("u", "Room Again")[0]
    client.shutdown()
    assert [m["event"] for m in collector.accepted_messages] == ["Flood 0", "Room Again"]


def test_on_error_receives_api_error_with_status(collector: Collector) -> None:
    """``on_error`` gets an ``APIError`` (a ``DeliveryError``) with segment's ``status``,
    ``code`` and ``message``; ``sync_mode`` raises it."""
    errors: list[tuple[Exception, list[dict[str, Any]]]] = []
    collector.script(Action(400, body={"code": "invalid", "message": "bad event"}))
    client = compat.Client("key", host=collector.url, on_error=lambda e, b: errors.append((e, b)))
    client.track("u", "Rejected")
    client.flush()
    [(error, batch)] = errors
    assert isinstance(error, compat.APIError)
    assert isinstance(error, DeliveryError)
    assert (error.status, error.code, error.message) == (400, "invalid", "bad event")
    assert [m["event"] for m in batch] == ["Rejected"]
    client.join()
    collector.script(Action(403))
    sync = compat.Client("key", host=collector.url, sync_mode=True)
    with pytest.raises(compat.APIError) as raised:
        sync.track("u", "Forbidden")
    assert raised.value.status == 403
    sync.join()


@pytest.mark.parametrize(
    ("status", "retried"),
    [(410, True), (460, True), (408, True), (503, True), (501, False), (505, False),
     (511, False), (404, False)],
)  # fmt: skip
def test_retry_classes_are_segments(collector: Collector, status: int, retried: bool) -> None:
    """As segment-analytics-python: 410 and 460 are retried, 501, 505 and (without OAuth)
    511 are not; other 5xx and 408 are, other 4xx are not."""
    errors: list[Exception] = []
    collector.script(Action(status))
    client = compat.Client(
        "key", host=collector.url, max_retries=1, on_error=lambda e, b: errors.append(e)
    )
    client.track("u", "Classified")
    client.shutdown()
    assert [r.status for r in collector.requests] == ([status, 200] if retried else [status])
    assert [getattr(e, "status", None) for e in errors] == ([] if retried else [status])


def test_max_retries_bounds_the_attempts(collector: Collector) -> None:
    """``max_retries=2``: three attempts, then ``on_error`` once."""
    collector.set_hook(lambda request: Action(500))
    errors: list[Exception] = []
    client = compat.Client(
        "key", host=collector.url, max_retries=2, on_error=lambda e, b: errors.append(e)
    )
    client.track("u", "Failing")
    client.shutdown()
    assert len(collector.requests) == 3
    assert [getattr(e, "status", None) for e in errors] == [500]


def test_shutdown_delivers_everything_and_empties_the_queue(collector: Collector) -> None:
    """What upstream ``test_shutdown`` checks through segment's threads: after
    ``shutdown()`` every message was delivered and the queue is empty."""
    client = compat.Client("key", host=collector.url)
    for _ in range(1000):
        client.identify("userId", {"trait": "value"})
    client.shutdown()
    assert client.queue.empty()
    assert len(collector.accepted_messages) == 1000


@pytest.mark.parametrize("scheme", [True, False])
def test_plain_http_host_through_a_proxy(collector: Collector, scheme: bool) -> None:
    """A plain-http host that is not loopback works with ``allow_insecure_http=True``, here
    through ``proxies=`` (requests-style, with or without a scheme) to a local proxy."""
    with ForwardProxy(collector.url) as proxy:
        address = proxy.url if scheme else proxy.url.removeprefix("http://")
        client = compat.Client(
            "key",
            host="http://analytics.internal",
            allow_insecure_http=True,
            proxies={"http": address},
        )
        client.track("u", "Proxied")
        client.shutdown()
    assert proxy.seen == [("http://analytics.internal/v1/batch", "analytics.internal")]
    assert [m["event"] for m in collector.accepted_messages] == ["Proxied"]


FORK_SCRIPT = """
import os, sys, warnings
from aioanalytics import compat

warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork() with threads running
client = compat.Client("key", host=os.environ["HOST"], upload_interval=60)
client.track("parent", "Before Fork")  # pending in the parent when it forks
pid = os.fork()
if pid == 0:
    client.track("child", "In Child")
    client.flush()  # waits for the child's own message only
    os._exit(0 if client.queue.empty() else 3)
_, status = os.waitpid(pid, 0)
client.shutdown()
sys.exit(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork()")
def test_flush_in_a_forked_child_waits_for_its_own_messages(collector: Collector) -> None:
    """A child's ``flush()`` does not wait for what its parent had pending at ``fork()``."""
    result = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT],
        env={**os.environ, "HOST": collector.url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(m["event"] for m in collector.accepted_messages) == ["Before Fork", "In Child"]
