"""OpenTelemetry: the client's stats as metrics and a span per batch request.

``pip install 'aioanalytics[otel]' opentelemetry-sdk``. Here the SDK's in-memory reader and
a console exporter stand in for a real backend; for Prometheus, give the meter provider
``opentelemetry.exporter.prometheus.PrometheusMetricReader()`` and serve the registry with
``prometheus_client.start_http_server(9464)`` (see docs/web.md).
"""

from __future__ import annotations

import asyncio
import logging
import os

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aioanalytics import Analytics
from aioanalytics.otel import instrument

HOST = os.environ.get("AIOANALYTICS_HOST", "http://127.0.0.1:8000")
WRITE_KEY = os.environ.get("SEGMENT_WRITE_KEY", "example-write-key")

logger = logging.getLogger("otel_metrics")


async def main() -> None:
    reader = InMemoryMetricReader()
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    meter_provider = MeterProvider(metric_readers=[reader])

    async with Analytics(WRITE_KEY, host=HOST, flush_at=10) as analytics:
        instrument(analytics, meter_provider=meter_provider, tracer_provider=tracer_provider)
        for n in range(25):
            await analytics.track(user_id=f"user-{n % 5}", event="Report Exported")
        await analytics.flush()

        data = reader.get_metrics_data()
        assert data is not None
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        shown = getattr(point, "value", None)
                        if shown is None:  # a histogram
                            shown = f"count={point.count} sum={point.sum:.4g}"
                        logger.info("%s %s %s", metric.name, dict(point.attributes), shown)
    for span in spans.get_finished_spans():
        logger.info("span %s %s", span.name, dict(span.attributes or {}))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())
