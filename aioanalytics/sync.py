"""The blocking facade: :class:`aioanalytics.Analytics`'s calls, without ``await``.

For code that is not async: WSGI apps, Django views, Celery tasks, scripts, thread pools::

    from aioanalytics.sync import Analytics

    analytics = Analytics("WRITE_KEY")
    future = analytics.track(user_id="u1", event="Signed Up", properties={"plan": "pro"})
    future.result()  # optional: wait until Segment accepted it (a DeliveryResult), or raise

Theory of operation: the async engine runs unchanged on a background thread. On first use in
a process, a client starts an *engine*: one daemon thread running an asyncio event loop with
an anyio :class:`~anyio.from_thread.BlockingPortal` and one opened async client. Every call
hops to that loop (one thread round trip) and blocks only while the message is validated and
queued (with ``on_full="block"``, also while it waits for room), never for the network. Each
call returns a :class:`concurrent.futures.Future` that settles when the async
:class:`~aioanalytics.Delivery` does. Any number of threads may call at once.

Three rules keep it safe where sync code lives:

1. *Lazily, per process.* An engine belongs to the process that started it. After
   ``os.fork()`` the child has no loop thread, so its first call starts a fresh engine; what
   the parent had queued stays the parent's to send (nothing is sent twice). With
   ``spool``, a child cannot open its parent's directory: give each process its own.
2. *Flushed at exit.* When the main thread finishes, before Python waits for non-daemon
   threads, every engine is flushed (bounded by ``shutdown_timeout``), while the interpreter
   can still resolve host names and start threads. Once those threads have finished, an
   ``atexit`` hook closes every engine, delivering what they sent meanwhile. The two hooks
   share one budget: exit waits at most ``shutdown_timeout`` in all. A process that
   ends with ``os._exit()`` (a ``multiprocessing`` child, for one) skips both: call
   :meth:`Analytics.flush` or :meth:`Analytics.close` first. Python 3.12 starts no thread
   once the main thread has ended: a client whose first call comes after that raises
   :class:`~aioanalytics.ClientClosedError` from the call, and logs it.
3. *Bounded.* Closing waits at most ``shutdown_timeout`` for deliveries; what is left fails
   with :class:`~aioanalytics.ClientClosedError`, logged and passed to ``on_error``.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures

# Imported before our exit hook is registered, so that its own hook (which refuses new work
# for asyncio's default executor, used to resolve host names) runs after ours.
import concurrent.futures.thread
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, Self, TypedDict, Unpack

import anyio
import httpx
from anyio.from_thread import BlockingPortal

from . import Analytics as AsyncAnalytics
from . import (
    AsyncTransport,
    ClientClosedError,
    Delivery,
    DeliveryResult,
    Message,
    Plugin,
    Stats,
)
from .destinations import Destination

if TYPE_CHECKING:
    from .plan import TrackingPlan

__all__ = ["Analytics", "AnalyticsOptions"]

logger = logging.getLogger("aioanalytics")

#: After closing, how long to wait for delivery futures to settle before failing them.
_SETTLE_SECONDS = 1.0


class AnalyticsOptions(TypedDict, total=False):
    """The keyword options of :class:`aioanalytics.Analytics`, accepted here unchanged.

    See the configuration page for each option's meaning and default.
    """

    host: str
    flush_at: int
    flush_interval: float | timedelta
    max_batch_bytes: int
    max_queue_size: int
    on_full: Literal["block", "drop"]
    max_retries: int | None
    max_retry_duration: float | timedelta
    backoff_initial: float | timedelta
    backoff_max: float | timedelta
    timeout: float | timedelta
    gzip: bool
    max_concurrent_requests: int
    send: bool
    debug: bool
    on_error: Callable[[Exception, list[dict[str, Any]]], object] | None
    http_client: httpx.AsyncClient | None
    transport: AsyncTransport | None
    shutdown_timeout: float | timedelta
    destinations: Sequence[Destination]
    plugins: Sequence[Plugin]
    allow_insecure_http: bool
    spool: str | os.PathLike[str] | None
    spool_durability: Literal["fsync", "interval"]
    spool_max_bytes: int
    tracking_plan: TrackingPlan | str | os.PathLike[str] | None
    on_violation: Literal["raise", "warn", "drop"]


class Analytics:
    """A blocking client: the calls of :class:`aioanalytics.Analytics` without ``await``.

    Usage::

        analytics = Analytics("WRITE_KEY")           # at import time is fine: nothing starts
        analytics.track(user_id="u1", event="Signed Up")
        analytics.flush()                            # optional; exit flushes too

    Takes the same arguments as :class:`aioanalytics.Analytics`, validated here. The event loop
    thread starts on the first call, so creating a client before ``fork()`` (a pre-forking
    server, a Celery worker) is safe: each process starts its own.

    Each call validates its arguments in the calling thread's stack (raising
    ``pydantic.ValidationError``, :class:`~aioanalytics.MessageTooLargeError` or, with
    ``on_full="drop"``, :class:`~aioanalytics.QueueFull`) and returns a
    :class:`concurrent.futures.Future` that resolves to a :class:`~aioanalytics.DeliveryResult`
    or raises :class:`~aioanalytics.DeliveryError`. Nobody has to look at it: failures are
    logged and passed to ``on_error`` either way. Safe to use from many threads at once.

    Use it as a context manager, or call :meth:`close`, to stop it; at interpreter exit every
    client still open is flushed and closed for you.

    Raises:
        ConfigError: an option is invalid.

    .. versionadded:: 0.1.0
    """

    def __init__(self, write_key: str | None = None, **options: Unpack[AnalyticsOptions]) -> None:
        self._write_key = write_key
        self._options = options
        self._client = AsyncAnalytics(write_key, **options)  # validates the options now
        self._engine: _Engine | None = None
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running" if self._engine else "idle"
        return f"<aioanalytics.sync.Analytics {state} host={self._client.host!r}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def stats(self) -> Stats:
        """The live counters of this process's client (see :class:`~aioanalytics.Stats`)."""
        return self._client.stats

    # -- lifecycle ------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> None:
        """Block until every message sent before this call was delivered or failed.

        Args:
            timeout: seconds to wait at most; ``None`` waits as long as it takes.

        Raises:
            TimeoutError: ``timeout`` passed first (the flush goes on in the background).
            ClientClosedError: the client was closed.
        """
        if self._closed:
            raise ClientClosedError("this client is closed")
        engine = self._engine
        if engine is None or engine.pid != os.getpid():
            return  # nothing was sent from this process
        engine.flush(timeout)

    def close(self) -> None:
        """Flush, then stop the event loop thread (waiting at most ``shutdown_timeout``).

        Messages still undelivered then fail with :class:`~aioanalytics.ClientClosedError`.
        Later calls raise ``ClientClosedError``. Safe to call twice, and from any thread but
        the client's own.

        Raises:
            RuntimeError: called from the client's event loop thread (an ``on_error`` hook or
                a future's done-callback), where it would wait for itself.
        """
        engine = self._engine
        if engine is not None and engine.runs_here():
            raise RuntimeError("close() cannot be called from the client's own event loop")
        with _state.lock:
            if self._closed:
                return
            self._closed = True
            engine, self._engine = self._engine, None
            if engine is None or engine.pid != os.getpid():
                return
            _state.engines.discard(engine)
        engine.close()

    def _running(self) -> _Engine:
        engine = self._engine
        if engine is not None and engine.pid == os.getpid():
            return engine
        with _state.lock:
            if self._closed:
                raise ClientClosedError("this client is closed")
            engine = self._engine
            if engine is None or engine.pid != os.getpid():
                if engine is not None:  # started before fork(): the parent's, not ours
                    self._client = AsyncAnalytics(self._write_key, **self._options)
                engine = _Engine(self._client)
                try:
                    engine.start()
                except RuntimeError as exc:
                    raise _cannot_start(self._client, exc) from exc
                _state.add(engine)
                self._engine = engine
            return engine

    # -- the six calls ------------------------------------------------------------------

    def identify(
        self,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        traits: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: Any = None,
        integrations: Mapping[str, Any] | None = None,
        message_id: str | None = None,
    ) -> Future[DeliveryResult]:
        """Tie a user to their traits; see :meth:`aioanalytics.Analytics.identify`."""
        return self._running().submit(
            "identify",
            user_id=user_id,
            anonymous_id=anonymous_id,
            traits=traits,
            context=context,
            timestamp=timestamp,
            integrations=integrations,
            message_id=message_id,
        )

    def track(
        self,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        event: str,
        properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: Any = None,
        integrations: Mapping[str, Any] | None = None,
        message_id: str | None = None,
    ) -> Future[DeliveryResult]:
        """Record that the user did ``event``; see :meth:`aioanalytics.Analytics.track`."""
        return self._running().submit(
            "track",
            user_id=user_id,
            anonymous_id=anonymous_id,
            event=event,
            properties=properties,
            context=context,
            timestamp=timestamp,
            integrations=integrations,
            message_id=message_id,
        )

    def page(
        self,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        name: str | None = None,
        category: str | None = None,
        properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: Any = None,
        integrations: Mapping[str, Any] | None = None,
        message_id: str | None = None,
    ) -> Future[DeliveryResult]:
        """Record a web page view; see :meth:`aioanalytics.Analytics.page`."""
        return self._running().submit(
            "page",
            user_id=user_id,
            anonymous_id=anonymous_id,
            name=name,
            category=category,
            properties=properties,
            context=context,
            timestamp=timestamp,
            integrations=integrations,
            message_id=message_id,
        )

    def screen(
        self,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        name: str | None = None,
        category: str | None = None,
        properties: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: Any = None,
        integrations: Mapping[str, Any] | None = None,
        message_id: str | None = None,
    ) -> Future[DeliveryResult]:
        """Record a mobile screen view; see :meth:`aioanalytics.Analytics.screen`."""
        return self._running().submit(
            "screen",
            user_id=user_id,
            anonymous_id=anonymous_id,
            name=name,
            category=category,
            properties=properties,
            context=context,
            timestamp=timestamp,
            integrations=integrations,
            message_id=message_id,
        )

    def group(
        self,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        group_id: str,
        traits: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: Any = None,
        integrations: Mapping[str, Any] | None = None,
        message_id: str | None = None,
    ) -> Future[DeliveryResult]:
        """Associate the user with a group; see :meth:`aioanalytics.Analytics.group`."""
        return self._running().submit(
            "group",
            user_id=user_id,
            anonymous_id=anonymous_id,
            group_id=group_id,
            traits=traits,
            context=context,
            timestamp=timestamp,
            integrations=integrations,
            message_id=message_id,
        )

    def alias(
        self,
        *,
        user_id: str,
        previous_id: str,
        anonymous_id: str | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: Any = None,
        integrations: Mapping[str, Any] | None = None,
        message_id: str | None = None,
    ) -> Future[DeliveryResult]:
        """Declare ``previous_id`` to be ``user_id``; see :meth:`aioanalytics.Analytics.alias`."""
        return self._running().submit(
            "alias",
            user_id=user_id,
            previous_id=previous_id,
            anonymous_id=anonymous_id,
            context=context,
            timestamp=timestamp,
            integrations=integrations,
            message_id=message_id,
        )

    def enqueue(self, message: Message) -> Future[DeliveryResult]:
        """Queue a prebuilt message model; see :meth:`aioanalytics.Analytics.enqueue`."""
        return self._running().submit("enqueue", message)


class _Engine:
    """One daemon thread running an event loop with one opened async client and a portal.

    The portal runs the loop and carries the lifecycle calls (flush, close). The six calls
    take a shorter road: one ``call_soon_threadsafe`` that starts a task, which reports "queued"
    (or the error) to the waiting caller and then carries the delivery to its future. That is
    one thread round trip per call where ``portal.call`` makes two.
    """

    def __init__(self, client: AsyncAnalytics) -> None:
        self.client = client
        self.pid = os.getpid()
        self._portal: BlockingPortal | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started: Future[BlockingPortal] = Future()
        self._thread = threading.Thread(target=self._run, name="aioanalytics-sync", daemon=True)
        self._tasks: set[asyncio.Task[None]] = set()
        # Callers waiting for the loop to take their message: failed if the loop ends first.
        self._handoffs: set[Future[None]] = set()
        self._stopping = False
        #: Set by the exit-time flush: when the exit hooks' shared budget runs out.
        self._deadline: float | None = None

    def start(self) -> None:
        self._thread.start()
        self._portal = self._started.result()
        self._loop = self._portal.call(asyncio.get_running_loop)

    def _run(self) -> None:
        try:
            anyio.run(self._main, backend="asyncio")
        except BaseException as exc:
            if not self._started.done():
                self._started.set_exception(exc)
            else:  # pragma: no cover - the loop itself failed; nothing to hand it to
                logger.exception("the aioanalytics.sync event loop failed")

    async def _main(self) -> None:
        async with BlockingPortal() as portal:
            await self.client.open()
            try:
                self._started.set_result(portal)
                await portal.sleep_until_stopped()
            finally:
                with anyio.CancelScope(shield=True):
                    await self._aclose()

    # -- called from other threads --------------------------------------------------------

    def submit(self, method: str, *args: Any, **kwargs: Any) -> Future[DeliveryResult]:
        assert self._loop is not None
        handoff: Future[None] = Future()
        delivered: Future[DeliveryResult] = Future()
        delivered.set_running_or_notify_cancel()  # a delivery cannot be called off
        self._handoffs.add(handoff)
        try:
            if self._stopping:
                raise ClientClosedError("this client is closed")
            try:
                self._loop.call_soon_threadsafe(
                    self._start_call, method, args, kwargs, handoff, delivered
                )
            except RuntimeError as exc:  # the loop is closed
                raise ClientClosedError("this client is closed") from exc
            handoff.result()
        finally:
            self._handoffs.discard(handoff)
        return delivered

    def flush(self, timeout: float | None) -> None:
        assert self._portal is not None
        try:
            future = self._portal.start_task_soon(self.client.flush)
        except RuntimeError as exc:
            raise ClientClosedError("this client is closed") from exc
        future.result(timeout)

    def flush_at_exit(self) -> concurrent.futures.Future[None]:
        """Start the exit-time flush; from now on, closing waits only for what is left of
        ``shutdown_timeout``: the two exit hooks share one budget."""
        assert self._portal is not None
        self._deadline = time.monotonic() + self.client.shutdown_timeout
        return self._portal.start_task_soon(self._bounded_flush)

    def wait_exit_flush(self, future: concurrent.futures.Future[None]) -> None:
        """Wait for :meth:`flush_at_exit`'s flush, at most until the shared deadline."""
        assert self._deadline is not None
        try:
            future.result(max(0.0, self._deadline - time.monotonic()))
        except concurrent.futures.TimeoutError:  # pragma: no cover - the flush bounds itself
            pass

    def runs_here(self) -> bool:
        """Whether the calling thread is this engine's event loop thread."""
        return threading.current_thread() is self._thread

    def close(self) -> None:
        assert self._portal is not None
        if self._deadline is not None:
            # The exit-time flush already spent part of the budget: closing gets the rest.
            self.client.shutdown_timeout = max(0.0, self._deadline - time.monotonic())
        try:
            self._portal.call(self._aclose)
        except RuntimeError:  # the portal already stopped
            pass
        self._stopping = True
        try:
            self._portal.call(self._portal.stop)
        except RuntimeError:  # already stopped
            pass
        self._thread.join()
        for handoff in list(self._handoffs):
            if handoff.set_running_or_notify_cancel():
                handoff.set_exception(ClientClosedError("this client is closed"))

    # -- run on the event loop ------------------------------------------------------------

    def _start_call(
        self,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        handoff: Future[None],
        delivered: Future[DeliveryResult],
    ) -> None:
        if not handoff.set_running_or_notify_cancel():  # pragma: no cover - failed by close()
            return
        task = asyncio.get_running_loop().create_task(
            self._call(method, args, kwargs, handoff, delivered)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call(
        self,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        handoff: Future[None],
        delivered: Future[DeliveryResult],
    ) -> None:
        try:
            delivery: Delivery = await getattr(self.client, method)(*args, **kwargs)
        except BaseException as exc:
            handoff.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        handoff.set_result(None)
        await _settle(delivery, delivered)

    async def _bounded_flush(self) -> None:
        assert self._deadline is not None
        with anyio.move_on_after(max(0.0, self._deadline - time.monotonic())):
            await self.client.flush()

    async def _aclose(self) -> None:
        await self.client.aclose()
        # Closing settled every delivery; give the tasks a moment to pass the news on.
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=_SETTLE_SECONDS)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)


def _cannot_start(client: AsyncAnalytics, exc: RuntimeError) -> ClientClosedError:
    """The error a call raises when its client's event loop thread cannot start; logged and
    counted, since a call in a thread pool at exit has nobody looking at its result."""
    client.stats.rejected += 1
    reason = f"its event loop thread could not start ({exc})"
    if "shutdown" in str(exc):
        reason += (
            "; this Python starts no thread once the main thread has ended: make the "
            "client's first call before then"
        )
    error = ClientClosedError(f"this client cannot send: {reason}")
    logger.error("message not sent: %s", error)
    return error


async def _settle(delivery: Delivery, future: Future[DeliveryResult]) -> None:
    """Copy a delivery's outcome to a ``concurrent.futures.Future``."""
    try:
        result = await delivery
    except asyncio.CancelledError:
        future.set_exception(ClientClosedError("the client closed before this was delivered"))
        raise
    except Exception as exc:  # noqa: BLE001 - handed over to the future's owner
        future.set_exception(exc)
    else:
        future.set_result(result)


class _State:
    """The per-process registry of engines, its lock, and the exit and fork hooks."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.engines: set[_Engine] = set()
        # Engines inherited from the parent after fork(): never used again, but kept alive so
        # that garbage collection never finalizes the parent's event loop objects here.
        self.orphans: list[_Engine] = []
        self._hooked = False

    def add(self, engine: _Engine) -> None:
        """Register a started engine; install the exit hooks the first time (lock held)."""
        self.engines.add(engine)
        if self._hooked:
            return
        self._hooked = True
        atexit.register(self.close_all)
        register = getattr(threading, "_register_atexit", None)
        if register is not None:
            try:
                register(self.flush_all)
            except RuntimeError:  # pragma: no cover - the interpreter is already exiting
                pass

    def flush_all(self) -> None:
        """At the end of the main thread: flush every engine of this process, all at once."""
        started = []
        for engine in self._mine():
            try:
                started.append((engine, engine.flush_at_exit()))
            except Exception:  # pragma: no cover - reported, and exit goes on
                logger.exception("flushing at exit failed")
        for engine, future in started:
            try:
                engine.wait_exit_flush(future)
            except Exception:  # pragma: no cover - reported, and exit goes on
                logger.exception("flushing at exit failed")

    def close_all(self) -> None:
        """At interpreter exit: close every engine of this process."""
        with self.lock:
            engines = self._mine()
            self.engines.clear()
        for engine in engines:
            try:
                engine.close()
            except Exception:  # pragma: no cover - reported, and exit goes on
                logger.exception("closing at exit failed")

    def _mine(self) -> list[_Engine]:
        pid = os.getpid()
        return [engine for engine in self.engines if engine.pid == pid]

    def before_fork(self) -> None:
        self.lock.acquire()

    def after_fork_in_parent(self) -> None:
        self.lock.release()

    def after_fork_in_child(self) -> None:
        self.lock = threading.Lock()
        self.orphans.extend(self.engines)
        self.engines.clear()


_state = _State()
os.register_at_fork(
    before=_state.before_fork,
    after_in_parent=_state.after_fork_in_parent,
    after_in_child=_state.after_fork_in_child,
)
