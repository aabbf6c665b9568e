"""Nothing is recorded, or even imported, until the application configures OpenTelemetry.

Run in a fresh interpreter: this session's other tests set the global
providers, which OpenTelemetry lets a process do only once.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.integration

SCRIPT = textwrap.dedent(
    """
    import sys

    def loaded():
        return sorted(m for m in sys.modules if m.startswith("opentelemetry"))

    before = loaded()

    from aoai_fallbacks import Balancer, _telemetry, balanced_openai_client
    from aoai_fallbacks._http import httpx
    from aoai_fallbacks.config import load_backends
    from aoai_fallbacks.emulator import DeploymentConfig, run_emulator

    def send():
        client.chat.completions.create(
            model="x", messages=[{"role": "user", "content": "hi"}], max_tokens=5
        )

    with run_emulator(1, [DeploymentConfig("gpt", tpm=1_000_000)], seed=0) as emu:
        balancer = Balancer(load_backends(emu.env(), dotenv=False))
        client = balanced_openai_client(balancer=balancer)
        request = httpx.Request("POST", "http://127.0.0.1/openai/v1/chat/completions")
        send()
        print("imported by the library:", [m for m in loaded() if m not in before])

        from opentelemetry import metrics, trace  # installed, not configured

        send()
        print("unconfigured:", _telemetry.follow(balancer, request) is _telemetry.OFF)

        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )

        exporter = InMemorySpanExporter()
        tracing = TracerProvider()
        tracing.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(tracing)
        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        send()  # configured after the import and the first requests: picked up now
        print("spans:", [span.name for span in exporter.get_finished_spans()])
        names = [m.name for r in reader.get_metrics_data().resource_metrics
                 for s in r.scope_metrics for m in s.metrics]
        print("attempts counted:", "aoai_fallbacks.attempts" in names)
    """
)


def test_nothing_until_a_provider_is_set_and_everything_after() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "imported by the library: []",
        "unconfigured: True",
        "spans: ['chat gpt']",
        "attempts counted: True",
    ]
