"""A client opened before ``os.fork()`` refuses to work in the child, and keeps working in
the parent; the child lets go of the parent's spool without touching it."""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from aioanalytics import Analytics, ClientClosedError, EventLoopError, MemoryTransport, SpoolError
from aioanalytics._spool import Spool

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork()")


def in_child(check: Callable[[], int]) -> int:
    """Run ``check`` in a forked child; return its exit status (the child never returns)."""
    with warnings.catch_warnings():
        # Python 3.12+ warns about forking a process that runs threads (the test runner
        # may); the child here touches no lock another thread could hold.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, reported by its exit status
        status = 99
        try:
            status = check()
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def child_outcome(coroutine_factory: Callable[[], object]) -> int:
    """0 if the coroutine raises the fork's EventLoopError on a fresh loop in the child, 1 if
    it succeeds, 2 for any other error, 3 for another EventLoopError."""

    def check() -> int:
        loop = asyncio.new_event_loop()  # the parent's loop belongs to the parent
        try:
            loop.run_until_complete(coroutine_factory())  # type: ignore[arg-type]
        except EventLoopError as exc:
            return 0 if "fork" in str(exc) else 3
        except BaseException:  # noqa: BLE001 - any other outcome is the failure
            return 2
        finally:
            loop.close()
        return 1

    return in_child(check)


def test_calls_in_the_child_raise_event_loop_error(tmp_path: Path) -> None:
    """track(), flush() and aclose() on an inherited client raise EventLoopError in the
    child; the parent's client still delivers."""
    transport = MemoryTransport()
    loop = asyncio.new_event_loop()
    analytics = Analytics("key", transport=transport, flush_interval=0.01, spool=tmp_path)
    try:
        loop.run_until_complete(analytics.open())
        assert child_outcome(lambda: analytics.track(user_id="u", event="in child")) == 0
        assert child_outcome(analytics.flush) == 0
        assert child_outcome(analytics.aclose) == 0

        async def parent() -> None:
            await (await analytics.track(user_id="u", event="in parent"))

        loop.run_until_complete(parent())
    finally:
        loop.run_until_complete(analytics.aclose())
        loop.close()
    assert [m["event"] for m in transport.messages] == ["in parent"]


def test_a_client_closed_before_the_fork_says_closed() -> None:
    """A closed client stays a ClientClosedError in the child, as in the parent."""
    loop = asyncio.new_event_loop()
    analytics = Analytics("key", transport=MemoryTransport())
    try:
        loop.run_until_complete(analytics.open())
        loop.run_until_complete(analytics.aclose())
    finally:
        loop.close()

    def check() -> int:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(analytics.track(user_id="u", event="e"))
        except ClientClosedError:
            return 0
        except BaseException:  # noqa: BLE001 - any other outcome is the failure
            return 2
        finally:
            loop.close()
        return 1

    assert in_child(check) == 0


def test_a_child_does_not_keep_the_spool_locked(tmp_path: Path) -> None:
    """A child forked while a spooled client is open (and never using it) does not hold the
    spool's lock: once the parent closes its client, a new one opens the directory at once,
    while the child still lives."""
    loop = asyncio.new_event_loop()
    analytics = Analytics("key", transport=MemoryTransport(), spool=tmp_path)
    ready_read, ready_write = os.pipe()  # the child is up (its fork handlers have run)
    go_read, go_write = os.pipe()  # the parent is done: the child may leave
    try:
        loop.run_until_complete(analytics.open())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # pragma: no cover - the child waits for the parent, then leaves
            try:
                os.close(go_write)
                os.write(ready_write, b"r")
                os.read(go_read, 1)
            finally:
                os._exit(0)
        os.close(ready_write)
        assert os.read(ready_read, 1) == b"r"  # or EOF (b""): the child died
        loop.run_until_complete(analytics.aclose())
        again = Analytics("key", transport=MemoryTransport(), spool=tmp_path)
        loop.run_until_complete(again.open())  # the child is alive: it holds a copy of all fds
        loop.run_until_complete(again.aclose())
    finally:
        os.close(go_write)  # the child reads EOF and exits
        loop.run_until_complete(analytics.aclose())
        loop.close()
        for fd in (ready_read, go_read):
            os.close(fd)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_child_leaves_the_parents_spool_alone(tmp_path: Path) -> None:
    """The child's copy of an open spool refuses to write and closing it neither removes
    the parent's files nor releases the parent's lock."""
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.recover()
    seqs = [spool.stage(b"Segment/batch", b'{"messageId":"m%d"}' % i) for i in range(10)]
    spool.write(spool.take(sync=True))
    before = {p.name: p.read_bytes() for p in tmp_path.glob("*.seg")}

    def check() -> int:
        spool.ack(seqs)
        try:
            spool.write(spool.take(sync=True))
        except SpoolError:
            pass
        else:
            return 1
        spool.close(spool.take(sync=True))  # nothing live: would remove every segment
        return 0

    assert in_child(check) == 0
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.seg")} == before
    with pytest.raises(SpoolError, match="in use"):  # the parent still holds the lock
        Spool(tmp_path, max_bytes=1 << 20).recover()
    more = spool.stage(b"Segment/batch", b'{"messageId":"after"}')
    spool.write(spool.take(sync=True))  # and goes on
    spool.close()
    recovery = Spool(tmp_path, max_bytes=1 << 20).recover()
    assert [r.seq for r in recovery.records] == [*seqs, more]
