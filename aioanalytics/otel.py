"""OpenTelemetry metrics and traces for a client (the ``otel`` extra).

Usage::

    from aioanalytics.otel import instrument

    async with Analytics("WRITE_KEY") as analytics:
        instrument(analytics)  # the global meter and tracer providers, or pass your own

Exported, with the client's ``stats`` read when the meter provider collects (nothing is
added to ``track()``):

- counters ``aioanalytics.messages.enqueued``, ``.delivered``, ``.failed``, ``.dropped``,
  ``.rejected`` (messages), ``aioanalytics.requests`` and ``aioanalytics.requests.retried``
  (HTTP requests), ``aioanalytics.sent`` (request bytes, after gzip);
- gauges ``aioanalytics.queue.depth`` (entries waiting) and ``aioanalytics.spool.size``
  (bytes on disk; 0 without a spool);
- histograms ``aioanalytics.request.duration`` (seconds) and ``aioanalytics.batch.size``
  (messages) per HTTP request, by destination and status code (or ``error.type``);

and a span ``aioanalytics.batch`` (kind CLIENT) per HTTP request, with the destination, the
message count, the body size and the status code (or ``error.type``). To reach Prometheus,
give the meter provider the ``opentelemetry-exporter-prometheus`` reader (see the docs).

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

try:
    from opentelemetry import metrics, trace
    from opentelemetry.metrics import CallbackOptions, Observation
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - the extra is installed in the tests
    raise ImportError(
        "aioanalytics.otel needs OpenTelemetry: pip install 'aioanalytics[otel]'"
    ) from exc

from ._exceptions import ConfigError
from ._transports.base import Request, Response
from ._version import __version__

if TYPE_CHECKING:
    from ._client import Analytics

__all__ = ["instrument"]

_SCOPE = "aioanalytics"

#: Stats counters exported, by field: (instrument name, unit, description).
_COUNTERS = {
    "enqueued": ("aioanalytics.messages.enqueued", "{message}", "Messages accepted by a call"),
    "delivered": ("aioanalytics.messages.delivered", "{message}", "Messages delivered"),
    "failed": ("aioanalytics.messages.failed", "{message}", "Messages that failed for good"),
    "dropped": ("aioanalytics.messages.dropped", "{message}", "Messages dropped"),
    "rejected": ("aioanalytics.messages.rejected", "{message}", "Messages refused at the call"),
    "batches": ("aioanalytics.requests", "{request}", "HTTP requests sent (each attempt)"),
    "retried": ("aioanalytics.requests.retried", "{request}", "HTTP requests that were retries"),
    "bytes_sent": ("aioanalytics.sent", "By", "Request bytes on the wire"),
}
#: Request latency buckets, seconds: a local collector answers in ~1 ms, Segment in ~50 ms.
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Batch size buckets, messages (Segment's batches hold at most a few thousand).
_SIZE_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500)


def instrument(
    analytics: Analytics,
    *,
    meter_provider: metrics.MeterProvider | None = None,
    tracer_provider: trace.TracerProvider | None = None,
    attributes: Mapping[str, str] | None = None,
) -> None:
    """Export ``analytics``'s stats as OpenTelemetry metrics and trace its batch requests.

    Args:
        analytics: the async client (opened or not).
        meter_provider: where metrics go (default: the global provider).
        tracer_provider: where spans go (default: the global provider).
        attributes: added to every metric point and span, e.g. ``{"client": "billing"}``
            to tell several clients apart.

    Raises:
        ConfigError: ``analytics`` is already instrumented.
    """
    if analytics._observer is not None:
        raise ConfigError("this Analytics client is already instrumented")
    meter = metrics.get_meter(_SCOPE, __version__, meter_provider)
    tracer = trace.get_tracer(_SCOPE, __version__, tracer_provider)
    common = dict(attributes or {})
    stats = analytics.stats
    for field, (name, unit, description) in _COUNTERS.items():
        meter.create_observable_counter(
            name, [_reader(partial(getattr, stats, field), common)], unit, description
        )
    meter.create_observable_gauge(
        "aioanalytics.queue.depth",
        [_reader(lambda: _queue_depth(analytics), common)],
        "{entry}",
        "Entries waiting in the client's queue",
    )
    meter.create_observable_gauge(
        "aioanalytics.spool.size",
        [_reader(lambda: _spool_bytes(analytics), common)],
        "By",
        "Bytes the spool holds on disk",
    )
    duration = meter.create_histogram(
        "aioanalytics.request.duration",
        "s",
        "Duration of the HTTP requests that carry batches",
        explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
    )
    size = meter.create_histogram(
        "aioanalytics.batch.size",
        "{message}",
        "Messages per HTTP request",
        explicit_bucket_boundaries_advisory=_SIZE_BUCKETS,
    )
    analytics._observer = _Observer(tracer, duration, size, common)


def _reader(
    read: Callable[[], int], attributes: Mapping[str, str]
) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def callback(options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(read(), attributes)]

    return callback


def _queue_depth(analytics: Analytics) -> int:
    return analytics._intake.qsize()


def _spool_bytes(analytics: Analytics) -> int:
    spool = analytics._spool
    return 0 if spool is None else spool.spool.used_bytes


class _Observer:
    """Times each batch request, counts its messages and wraps it in a span."""

    def __init__(
        self,
        tracer: trace.Tracer,
        duration: metrics.Histogram,
        size: metrics.Histogram,
        attributes: dict[str, str],
    ) -> None:
        self._tracer = tracer
        self._duration = duration
        self._size = size
        self._attributes = attributes

    async def observe(
        self,
        send: Callable[[Request], Awaitable[Response]],
        request: Request,
        *,
        destination: str,
        messages: int,
    ) -> Response:
        attributes: dict[str, Any] = {**self._attributes, "aioanalytics.destination": destination}
        span_attributes = {
            **attributes,
            "aioanalytics.batch.messages": messages,
            "http.request.method": request.method,
            "http.request.body.size": len(request.content),
            "server.address": urlsplit(request.url).hostname or "",
        }
        with self._tracer.start_as_current_span(
            "aioanalytics.batch",
            kind=SpanKind.CLIENT,
            attributes=span_attributes,
            record_exception=True,
            set_status_on_exception=True,
        ) as span:
            start = time.perf_counter()
            try:
                response = await send(request)
            except Exception as exc:
                attributes["error.type"] = type(exc).__name__
                span.set_attribute("error.type", type(exc).__name__)
                self._record(start, messages, attributes)
                raise
            attributes["http.response.status_code"] = response.status_code
            if response.status_code >= 400:
                attributes["error.type"] = str(response.status_code)
                span.set_attribute("error.type", str(response.status_code))
                span.set_status(Status(StatusCode.ERROR))
            span.set_attribute("http.response.status_code", response.status_code)
            self._record(start, messages, attributes)
            return response

    def _record(self, start: float, messages: int, attributes: dict[str, Any]) -> None:
        self._duration.record(time.perf_counter() - start, attributes)
        self._size.record(messages, attributes)
