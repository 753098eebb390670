"""The blocking facade, ``aioanalytics.sync``: threads, futures, exit-time flush and fork."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pydantic
import pytest

from aioanalytics import (
    Analytics as AsyncAnalytics,
)
from aioanalytics import (
    ClientClosedError,
    ConfigError,
    DeliveryError,
    DeliveryResult,
    MemoryTransport,
    Request,
    Response,
    Track,
)
from aioanalytics.sync import Analytics, AnalyticsOptions
from tests._exit_timing import MAIN_DONE, assert_waited_once, exit_timings, unreachable_hosts
from tests.collector import Action, Collector


def _engine_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "aioanalytics-sync"]


@pytest.fixture(autouse=True)
def _no_engine_left_behind() -> Iterator[None]:
    before = set(_engine_threads())
    yield
    assert set(_engine_threads()) <= before, "a test left an event loop thread running"


class SlowTransport:
    """Answers 200, each request after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    async def send(self, request: Request) -> Response:
        import anyio

        await anyio.sleep(self.delay)
        return Response(200)

    async def aclose(self) -> None:
        pass


def run_script(source: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_eight_threads_at_once_lose_nothing(collector: Collector) -> None:
    """Messages sent from 8 threads at once all arrive, once each, and every future resolves."""
    futures: list[Future[DeliveryResult]] = []
    sent: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker(n: int) -> None:
        start.wait()
        for i in range(150):
            future = analytics.track(user_id=f"user-{n}", event="Thread Event", properties={"i": i})
            with lock:
                futures.append(future)

    with Analytics("key", host=collector.url, flush_at=50, flush_interval=0.05) as analytics:
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        results = [future.result(timeout=10) for future in futures]
        sent = [result.message_id for result in results]
    assert len(sent) == 1200
    assert collector.accepted_ids == set(sent)
    assert not collector.unexpected_duplicates()
    assert {result.destinations["Segment"] for result in results} == {"delivered"}
    assert analytics.stats.delivered == 1200


def test_future_raises_delivery_error_when_rejected(collector: Collector) -> None:
    """A rejected message's future raises ``DeliveryError`` with the status code."""
    collector.script(Action(400, body={"success": False}))
    with Analytics("key", host=collector.url, flush_interval=0) as analytics:
        future = analytics.track(user_id="u", event="Rejected")
        error = future.exception(timeout=10)
    assert isinstance(error, DeliveryError)
    assert error.status_code == 400


def test_invalid_call_raises_in_the_calling_thread() -> None:
    """Bad input raises ``ValidationError`` at the call, naming the field; nothing is queued."""
    with Analytics("key", transport=MemoryTransport()) as analytics:
        with pytest.raises(pydantic.ValidationError, match="event"):
            analytics.track(user_id="u", event="")
        assert analytics.stats.enqueued == 0


def test_every_call_and_enqueue_reach_the_wire() -> None:
    """The six calls and ``enqueue`` send the same messages as the async client."""
    transport = MemoryTransport()
    with Analytics("key", transport=transport, flush_interval=0) as analytics:
        analytics.identify(user_id="u", traits={"email": "a@example.com"})
        analytics.track(user_id="u", event="Signed Up", properties={"plan": "pro"})
        analytics.page(user_id="u", name="Home", category="Docs")
        analytics.screen(user_id="u", name="Welcome")
        analytics.group(user_id="u", group_id="g", traits={"name": "Acme"})
        analytics.alias(user_id="u", previous_id="a")
        analytics.enqueue(Track(user_id="u", event="Prebuilt")).result(timeout=10)
        analytics.flush()
    kinds = [(m["type"], m.get("event")) for m in transport.messages]
    assert kinds == [
        ("identify", None),
        ("track", "Signed Up"),
        ("page", None),
        ("screen", None),
        ("group", None),
        ("alias", None),
        ("track", "Prebuilt"),
    ]


def test_send_false_resolves_futures_at_once() -> None:
    """With ``send=False`` each future is already resolved as skipped."""
    with Analytics("key", transport=MemoryTransport(), send=False) as analytics:
        future = analytics.track(user_id="u", event="Skipped")
        assert future.done()
        assert future.result().destinations == {"Segment": "skipped"}


def test_flush_waits_for_delivery_and_times_out() -> None:
    """``flush()`` blocks until delivered; with a timeout that passes it raises."""
    with Analytics(
        "key", transport=SlowTransport(0.3), flush_interval=0, shutdown_timeout=5
    ) as analytics:
        future = analytics.track(user_id="u", event="Slow")
        with pytest.raises(TimeoutError):
            analytics.flush(timeout=0.01)
        analytics.flush()
        assert future.done()


def test_close_is_idempotent_and_later_calls_raise() -> None:
    """After ``close()`` the thread is gone, calls raise ``ClientClosedError``, close is safe."""
    analytics = Analytics("key", transport=MemoryTransport())
    assert "idle" in repr(analytics)
    analytics.flush()  # nothing was sent: returns at once, starts nothing
    assert not _engine_threads()
    analytics.track(user_id="u", event="Once")
    assert "running" in repr(analytics)
    analytics.close()
    analytics.close()
    assert "closed" in repr(analytics)
    with pytest.raises(ClientClosedError):
        analytics.track(user_id="u", event="Late")
    with pytest.raises(ClientClosedError):
        analytics.flush()


def test_close_fails_what_cannot_be_delivered_in_time() -> None:
    """Messages still in flight when ``shutdown_timeout`` expires fail with ClientClosedError."""
    analytics = Analytics(
        "key", transport=SlowTransport(30), flush_interval=0, shutdown_timeout=0.1
    )
    future = analytics.track(user_id="u", event="Stuck")
    analytics.close()
    assert isinstance(future.exception(timeout=5), ClientClosedError)


def test_close_from_the_clients_own_thread_is_refused(collector: Collector) -> None:
    """``close()`` from a callback on the client's thread raises instead of deadlocking."""
    collector.script(Action(400))
    errors: list[BaseException] = []

    def on_error(error: Exception, messages: list[dict[str, Any]]) -> None:
        try:
            analytics.close()
        except RuntimeError as exc:
            errors.append(exc)

    analytics = Analytics("key", host=collector.url, flush_interval=0, on_error=on_error)
    analytics.track(user_id="u", event="Rejected").exception(timeout=10)
    analytics.close()
    assert len(errors) == 1
    assert "own event loop" in str(errors[0])


def test_options_are_validated_at_construction() -> None:
    """A bad option raises ``ConfigError`` in the constructor, before any thread starts."""
    with pytest.raises(ConfigError):
        Analytics("key", flush_at=0)
    assert not _engine_threads()


def test_options_mirror_the_async_client() -> None:
    """``AnalyticsOptions`` names exactly the async client's keyword options."""
    parameters = inspect.signature(AsyncAnalytics.__init__).parameters
    keyword_only = {n for n, p in parameters.items() if p.kind is p.KEYWORD_ONLY}
    assert set(AnalyticsOptions.__annotations__) == keyword_only


def test_close_from_another_thread_while_calls_race() -> None:
    """Calls racing a close either succeed or raise ``ClientClosedError``; none hangs."""
    analytics = Analytics("key", transport=MemoryTransport(), flush_interval=0)
    outcomes: list[str] = []
    started = threading.Event()

    def spam() -> None:
        for _ in range(2000):
            try:
                analytics.track(user_id="u", event="Race")
            except ClientClosedError:
                outcomes.append("closed")
                return
            started.set()
        outcomes.append("done")

    thread = threading.Thread(target=spam)
    thread.start()
    started.wait(5)
    analytics.close()
    thread.join(10)
    assert not thread.is_alive()
    assert outcomes in (["closed"], ["done"])


EXIT_SCRIPT = """
    import os, threading, time
    from aioanalytics.sync import Analytics

    analytics = Analytics("key", host=os.environ["HOST"], flush_interval=60)
    for i in range(20):
        analytics.track(user_id="u", event="Before Exit", message_id=f"main-{i}")

    def late():
        time.sleep(0.2)  # still running when the main thread ends
        analytics.track(user_id="u", event="From A Thread", message_id="thread-1")

    threading.Thread(target=late).start()
    # no flush(), no close(): the exit hooks deliver everything
"""


def test_script_that_exits_without_closing_still_delivers(
    collector: Collector, tmp_path: Path
) -> None:
    """A script that never flushes or closes delivers everything at exit, threads' too."""
    result = run_script(EXIT_SCRIPT, tmp_path, HOST=collector.url)
    assert result.returncode == 0, result.stderr
    expected = {f"main-{i}" for i in range(20)} | {"thread-1"}
    assert collector.accepted_ids == expected


LARGE_AT_EXIT_SCRIPT = """
    import os, threading, time
    from aioanalytics.sync import Analytics

    analytics = Analytics("key", host=os.environ["HOST"], flush_interval=60, shutdown_timeout=5)
    analytics.track(user_id="u", event="Start", message_id="start")

    def late():
        time.sleep(0.2)  # sends once the main thread has ended: only the last hook delivers
        for i in range(60):  # a batch over 32 KiB: gzipped off the event loop
            analytics.track(
                user_id="u", event="Large", properties={"blob": "x" * 1000}, message_id=f"l{i}"
            )

    threading.Thread(target=late).start()
"""


def test_large_batch_from_a_thread_outliving_main_is_delivered(
    collector: Collector, tmp_path: Path
) -> None:
    """A large batch queued after the main thread ended is still delivered at exit.

    Python 3.12+ refuses new threads inside ``atexit`` hooks, so nothing on that path may
    need one (such as compressing a large body in a worker thread).
    """
    result = run_script(LARGE_AT_EXIT_SCRIPT, tmp_path, HOST=collector.url)
    assert result.returncode == 0, result.stderr
    assert collector.accepted_ids == {"start"} | {f"l{i}" for i in range(60)}, result.stderr


FORK_SCRIPT = """
    import os, warnings
    from aioanalytics.sync import Analytics

    warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork() with threads running
    analytics = Analytics("key", host=os.environ["HOST"], flush_interval=60)
    analytics.track(user_id="parent", event="Before Fork", message_id="parent-1")
    pid = os.fork()
    if pid == 0:
        analytics.track(user_id="child", event="In Child", message_id="child-1")
        analytics.flush()  # os._exit() skips the exit hooks
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    analytics.track(user_id="parent", event="After Fork", message_id="parent-2")
    raise SystemExit(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork()")
def test_fork_child_sends_its_own_and_nothing_twice(collector: Collector, tmp_path: Path) -> None:
    """After fork() the child starts its own engine; the parent's queue is sent once."""
    result = run_script(FORK_SCRIPT, tmp_path, HOST=collector.url)
    assert result.returncode == 0, result.stderr
    assert sorted(collector.message_ids) == ["child-1", "parent-1", "parent-2"]


def test_stats_are_the_live_counters() -> None:
    """``stats`` reports the engine's counters."""
    with Analytics("key", transport=MemoryTransport(), flush_interval=0) as analytics:
        analytics.track(user_id="u", event="Counted").result(timeout=10)
        stats: Any = analytics.stats
        assert stats.enqueued == 1
        assert stats.delivered == 1


EXIT_BOUND_SCRIPT = f"""
    import os
    from aioanalytics.sync import Analytics

    analytics = Analytics("key", host=os.environ["HOST"], shutdown_timeout={{timeout}})
    analytics.track(user_id="u", event="Never Delivered")
    print({MAIN_DONE!r}, flush=True)
"""


def test_exit_with_the_host_unreachable_waits_shutdown_timeout_once(tmp_path: Path) -> None:
    """Exiting waits at most ``shutdown_timeout`` in all, not once per exit hook.

    The flush when the main thread ends and the close at interpreter exit share one budget.
    Against a refused port (retries) and a server that never answers (a request in flight),
    exit takes about ``shutdown_timeout``; the bound checked is 1.5 times it, which waiting
    twice breaks. The message that could not be delivered is reported, not dropped.
    """
    timeout = 4.0
    with unreachable_hosts() as hosts:
        timings = exit_timings(EXIT_BOUND_SCRIPT.format(timeout=timeout), hosts, tmp_path)
    assert_waited_once(timings, timeout)


POOL_AFTER_MAIN_SCRIPT = """
    import logging, os, time
    from concurrent.futures import ThreadPoolExecutor
    from aioanalytics.sync import Analytics

    logging.basicConfig(format="LOG %(levelname)s %(message)s")
    analytics = Analytics("key", host=os.environ["HOST"])
    pool = ThreadPoolExecutor(4)

    def work(i):
        time.sleep(0.3)  # the main thread has ended by now
        try:
            analytics.track(user_id="u", event="From The Pool", message_id=f"p{i}")
        except Exception as exc:
            print(f"RAISED p{i} {type(exc).__module__}.{type(exc).__qualname__}", flush=True)
            raise

    for i in range(8):
        pool.submit(work, i)
"""


def test_first_call_from_a_pool_after_main_ended_delivers_or_raises_and_logs(
    collector: Collector, tmp_path: Path
) -> None:
    """Calls from a thread pool that outlives the main thread are delivered, or each one
    raises a library error that is also logged: never lost in silence.

    Python 3.12 refuses to start the client's event loop thread once the main thread has
    ended (3.11 and 3.13 deliver); this runs under the interpreter running the tests.
    """
    result = run_script(POOL_AFTER_MAIN_SCRIPT, tmp_path, HOST=collector.url)
    assert result.returncode == 0, result.stderr
    raised = set(re.findall(r"RAISED (p\d) aioanalytics\.ClientClosedError", result.stdout))
    logged = re.findall(r"LOG ERROR message not sent: .*could not start", result.stderr)
    assert collector.accepted_ids | raised == {f"p{i}" for i in range(8)}, result
    assert not collector.accepted_ids & raised
    assert len(logged) == len(raised), result.stderr
