"""OpenTelemetry export: stats as metrics, a span per batch request (the SDK's in-memory
reader and exporter, the client sending to a real collector)."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from aioanalytics import Analytics, ConfigError, DeliveryError
from aioanalytics.otel import instrument
from tests.collector import Action, Collector


@pytest.fixture
def providers() -> tuple[InMemoryMetricReader, InMemorySpanExporter, dict[str, Any]]:
    reader = InMemoryMetricReader()
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[reader])
    return reader, exporter, {"meter_provider": meter_provider, "tracer_provider": tracer_provider}


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    assert data is not None
    found: dict[str, list[Any]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            assert scope.scope.name == "aioanalytics"
            for metric in scope.metrics:
                found[metric.name] = list(metric.data.data_points)
    return found


def value(found: dict[str, list[Any]], name: str) -> int:
    (point,) = found[name]
    return int(point.value)


async def test_counters_gauges_histograms_and_spans(providers: Any) -> None:
    """Every counter matches stats; histograms count each request; each request is a span."""
    reader, exporter, options = providers
    with Collector() as collector:
        collector.script(Action(status=503))  # the first request fails once: a retry
        async with Analytics(
            "key", host=collector.url, flush_at=5, backoff_initial=0.01, backoff_max=0.01
        ) as analytics:
            instrument(analytics, attributes={"client": "test"}, **options)
            deliveries = [
                await analytics.track(user_id="u", event="E", properties={"i": i})
                for i in range(10)
            ]
            for delivery in deliveries:
                await delivery
            found = points(reader)
            stats = analytics.stats
    assert value(found, "aioanalytics.messages.enqueued") == stats.enqueued == 10
    assert value(found, "aioanalytics.messages.delivered") == stats.delivered == 10
    assert value(found, "aioanalytics.messages.failed") == 0
    assert value(found, "aioanalytics.messages.dropped") == 0
    assert value(found, "aioanalytics.requests.retried") == stats.retried == 1
    assert value(found, "aioanalytics.requests") == stats.batches == 3
    assert value(found, "aioanalytics.sent") == stats.bytes_sent > 0
    assert value(found, "aioanalytics.queue.depth") == 0
    assert value(found, "aioanalytics.spool.size") == 0
    assert found["aioanalytics.messages.enqueued"][0].attributes == {"client": "test"}
    durations = {
        p.attributes["http.response.status_code"]: p for p in found["aioanalytics.request.duration"]
    }
    assert durations[200].count == 2 and durations[503].count == 1
    assert durations[503].attributes["error.type"] == "503"
    assert durations[200].attributes["aioanalytics.destination"] == "Segment"
    sizes = {p.attributes["http.response.status_code"]: p for p in found["aioanalytics.batch.size"]}
    assert sizes[200].sum == 10 and sizes[200].count == 2
    spans = exporter.get_finished_spans()
    assert len(spans) == 3
    assert all(span.name == "aioanalytics.batch" and span.kind is SpanKind.CLIENT for span in spans)
    assert sorted(span.attributes["http.response.status_code"] for span in spans) == [200, 200, 503]
    failed = next(s for s in spans if s.attributes["http.response.status_code"] == 503)
    assert failed.status.status_code is StatusCode.ERROR
    assert all(span.attributes["aioanalytics.batch.messages"] == 5 for span in spans)
    assert all(span.attributes["server.address"] == "127.0.0.1" for span in spans)


async def test_network_failures_are_spans_with_errors(providers: Any, free_tcp_port: int) -> None:
    """A refused connection is an errored span and a duration point with error.type."""
    reader, exporter, options = providers
    async with Analytics(
        "key", host=f"http://127.0.0.1:{free_tcp_port}", max_retries=0
    ) as analytics:
        instrument(analytics, **options)
        delivery = await analytics.track(user_id="u", event="E")
        with pytest.raises(DeliveryError):
            await delivery
        found = points(reader)
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "TransportError"
    (point,) = found["aioanalytics.request.duration"]
    assert point.attributes["error.type"] == "TransportError"
    assert value(found, "aioanalytics.messages.failed") == 1


async def test_spool_bytes_gauge(providers: Any, tmp_path: Any) -> None:
    """With a spool the gauge reports the bytes it holds."""
    reader, _, options = providers
    with Collector() as collector:
        collector.script(Action(status=503))
        async with Analytics(
            "key", host=collector.url, spool=tmp_path, backoff_initial=0.5, backoff_max=0.5
        ) as analytics:
            instrument(analytics, **options)
            delivery = await analytics.track(user_id="u", event="E")
            await collector.wait_for_requests_async(1)
            held = value(points(reader), "aioanalytics.spool.size")
            await delivery
    assert held > 0


async def test_instrumenting_before_open_traces_the_requests(providers: Any) -> None:
    """A client instrumented before it opens has its batch requests traced all the same."""
    reader, exporter, options = providers
    with Collector() as collector:
        analytics = Analytics("key", host=collector.url)
        instrument(analytics, **options)
        async with analytics:
            await (await analytics.track(user_id="u", event="E"))
            found = points(reader)
    (span,) = exporter.get_finished_spans()
    assert span.attributes["aioanalytics.batch.messages"] == 1
    assert span.attributes["http.response.status_code"] == 200
    assert found["aioanalytics.batch.size"][0].sum == 1


async def test_instrumenting_twice_is_an_error(providers: Any) -> None:
    """One client, one instrumentation."""
    _, _, options = providers
    analytics = Analytics("key")
    instrument(analytics, **options)
    with pytest.raises(ConfigError, match="already"):
        instrument(analytics, **options)
