"""OpenTelemetry's SDK as an application would set it up, recording into memory.

The library records on OpenTelemetry's global providers, as libraries should,
and those can be set only once per process: the first test here sets them
for the session. Spans are kept only while a test of this directory runs (the
processor is armed by the `otel` fixture), so tests that run later in the same
session leave nothing behind; counters and histograms are read as deltas, so
each test sees its own requests only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aoai_fallbacks.testing import FakeClock


class _ArmedProcessor(SimpleSpanProcessor):
    """Exports a span only while a test of this directory runs."""

    armed = False

    def on_end(self, span: ReadableSpan) -> None:
        if self.armed:
            super().on_end(span)


@dataclass
class Recorded:
    """What the SDK recorded during one test."""

    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def metrics(self) -> dict[str, list[Any]]:
        """Each instrument's data points since the last call (counters: the increase)."""
        data = self.reader.get_metrics_data()
        found: dict[str, list[Any]] = {}
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found.setdefault(metric.name, []).extend(metric.data.data_points)
        return found


_SESSION: tuple[_ArmedProcessor, InMemorySpanExporter, InMemoryMetricReader] | None = None


def _session() -> tuple[_ArmedProcessor, InMemorySpanExporter, InMemoryMetricReader]:
    global _SESSION
    if _SESSION is None:
        exporter = InMemorySpanExporter()
        processor = _ArmedProcessor(exporter)
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(processor)
        reader = InMemoryMetricReader(
            preferred_temporality={
                Counter: AggregationTemporality.DELTA,
                Histogram: AggregationTemporality.DELTA,
            }
        )
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        _SESSION = processor, exporter, reader
    return _SESSION


@pytest.fixture
def otel() -> Iterator[Recorded]:
    """The session's SDK, emptied: spans and metric changes from this test on."""
    processor, exporter, reader = _session()
    exporter.clear()
    reader.get_metrics_data()  # what earlier tests counted is read, and so forgotten
    processor.armed = True
    try:
        yield Recorded(exporter, reader)
    finally:
        processor.armed = False
        exporter.clear()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
