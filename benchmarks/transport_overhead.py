"""The balancing transport's own CPU cost per request, without running the whole benchmark.

The same measurement `aoai-fallbacks bench` publishes
(`aoai_fallbacks._cli.bench.overhead.measure_overhead`: openai SDK calls over a
transport that answers from memory, the balancer's own CPU time measured
where it is spent), for quick checks while working on the request path. Run:

    python benchmarks/transport_overhead.py [--calls 2000] [--rounds 5] [--otel off|api|sdk]

`--otel` says what OpenTelemetry the process has (see `aoai_fallbacks._telemetry`):
``off``, never imported (as without the ``otel`` extra); ``api``, imported but no
provider set; ``sdk``, the SDK's tracer and meter providers set, every span
exported at once in the caller's thread (to an exporter that drops it) and
every measurement aggregated, so their whole cost lands in the figure.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from aoai_fallbacks._cli.bench.overhead import measure_overhead


def configure(otel: str) -> None:
    """Give this process the OpenTelemetry `otel` names (see the module docstring)."""
    if otel == "off":
        return
    from opentelemetry import metrics, trace

    if otel == "api":
        return
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import (
        SimpleSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class Drop(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracing = TracerProvider()
    tracing.add_span_processor(SimpleSpanProcessor(Drop()))
    trace.set_tracer_provider(tracing)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2_000, help="calls per round and side")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--otel", choices=["off", "api", "sdk"], default="off")
    args = parser.parse_args()
    configure(args.otel)
    overhead = measure_overhead(args.calls, rounds=args.rounds)
    print(f"{'direct SDK call':<28}{overhead.direct_us:>10.1f} µs/request")
    print(f"{'through BalancingTransport':<28}{overhead.balanced_us:>10.1f} µs/request")
    print(f"{'balancing overhead':<28}{overhead.added_us:>10.1f} µs/request")


if __name__ == "__main__":
    main()
