"""One span per attempt, under the caller's span, naming the backend actually reached."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import openai
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from aoai_fallbacks import Balancer, StreamInterruptedError, balanced_openai_client
from aoai_fallbacks.emulator import DeploymentConfig, Emulator, run_emulator
from aoai_fallbacks.testing import FakeClock
from transport._support import PROMPT, ask, backends_of

from .conftest import Recorded

pytestmark = pytest.mark.integration

# "small": one request per 10 s window; "big": plenty.
SMALL = DeploymentConfig("small", tpm=1_000, remaining_headers="off")
BIG = DeploymentConfig("big", tpm=10_000_000)
CALLER = trace.get_tracer("the caller")


def port(emu: Emulator, index: int) -> int:
    return int(urlsplit(emu.resources[index].endpoint).port or 0)


def throttling_pair(emu: Emulator, clock: FakeClock) -> Balancer:
    """01 ("small", priority 1) takes one request per 10 s; 02 ("big", priority 2) all."""
    backends = backends_of(
        emu, AOAI_DEPLOYMENT_01="small", AOAI_DEPLOYMENT_02="big", AOAI_PRIORITY_02="2"
    )
    return Balancer(backends, clock=clock)


def attempts_of(otel: Recorded, parent: ReadableSpan) -> list[ReadableSpan]:
    children = [s for s in otel.spans() if s.parent and s.parent.span_id == parent.context.span_id]
    return sorted(children, key=lambda s: s.start_time or 0)


def only(otel: Recorded, name: str) -> ReadableSpan:
    (span,) = [s for s in otel.spans() if s.name == name]
    return span


@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_throttled_request_is_one_span_per_attempt_under_the_callers_span(
    otel: Recorded, clock: FakeClock, face: str
) -> None:
    async def ask_async(client: openai.AsyncAzureOpenAI) -> None:
        await client.chat.completions.create(model="x", messages=PROMPT, max_tokens=20)
        otel.exporter.clear()
        with CALLER.start_as_current_span("the caller's request"):
            await client.chat.completions.create(model="x", messages=PROMPT, max_tokens=20)

    with run_emulator(2, [SMALL, BIG], clock=clock) as emu:
        balancer = throttling_pair(emu, clock)
        if face == "sync":
            client = balanced_openai_client(balancer=balancer)
            ask(client)  # 01 serves, and its window is full
            otel.exporter.clear()
            with CALLER.start_as_current_span("the caller's request"):
                ask(client)  # 01 answers 429, 02 serves
        else:
            asyncio.run(ask_async(balanced_openai_client(balancer=balancer, async_=True)))
        throttled, served = attempts_of(otel, only(otel, "the caller's request"))

    assert (throttled.name, served.name) == ("chat small", "chat big")
    assert throttled.kind is served.kind is SpanKind.CLIENT
    assert dict(throttled.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "azure.ai.openai",
        "gen_ai.request.model": "small",
        "http.request.method": "POST",
        "url.full": f"{emu.resources[0].endpoint}/openai/deployments/small/chat/completions"
        f"?api-version={balancer.backends[0].api_version}",
        "server.address": "127.0.0.1",
        "server.port": port(emu, 0),
        "aoai_fallbacks.backend": "01",
        "aoai_fallbacks.wait": 0.0,
        "http.response.status_code": 429,
        "aoai_fallbacks.outcome": "throttled",
        "aoai_fallbacks.reason": "429",
        "aoai_fallbacks.retry_after": 10.0,
        "aoai_fallbacks.cooldown": 10.0,
        "error.type": "429",
    }
    assert throttled.status.status_code is StatusCode.ERROR
    attributes = dict(served.attributes or {})
    assert attributes["http.request.resend_count"] == 1  # absent on the first attempt
    assert (attributes["aoai_fallbacks.backend"], attributes["server.port"]) == (
        "02",
        port(emu, 1),
    )
    assert attributes["gen_ai.request.model"] == "big"
    assert attributes["aoai_fallbacks.outcome"] == "success"
    assert attributes["http.response.status_code"] == 200
    assert "error.type" not in attributes
    assert served.status.status_code is StatusCode.UNSET


def test_the_wait_in_line_is_on_the_attempt_after_it(otel: Recorded, clock: FakeClock) -> None:
    with run_emulator(1, [SMALL], clock=clock) as emu:
        client = balanced_openai_client(balancer=Balancer(backends_of(emu), clock=clock))
        ask(client)
        otel.exporter.clear()
        ask(client)  # 01's window is full: 429, then a wait for its slot, then served
    refused, served = sorted(otel.spans(), key=lambda s: s.start_time or 0)
    assert clock.slept  # it did wait, on the simulated clock
    assert (refused.attributes or {})["aoai_fallbacks.wait"] == 0.0
    attributes = dict(served.attributes or {})
    assert attributes["aoai_fallbacks.wait"] == pytest.approx(sum(clock.slept))
    assert attributes["aoai_fallbacks.outcome"] == "success"
    assert attributes["http.request.resend_count"] == 1  # the same backend, sent again


def test_a_stream_span_ends_with_its_first_chunk_and_a_cut_is_its_child(
    otel: Recorded, clock: FakeClock
) -> None:
    gpt = DeploymentConfig("gpt-35-turbo", tpm=1_000_000)
    with run_emulator(1, [gpt], clock=clock) as emu:
        emu.resources[0].set_faults("gpt-35-turbo", drop_after_chunks=2)
        client = balanced_openai_client(balancer=Balancer(backends_of(emu), clock=clock))
        with pytest.raises(StreamInterruptedError):  # noqa: PT012 - the cut comes mid-loop
            stream = client.chat.completions.create(
                model="x", messages=PROMPT, max_tokens=30, stream=True
            )
            for _ in stream:
                assert len(otel.spans()) == 1  # the attempt ended with its first chunk
    attempt = only(otel, "chat gpt-35-turbo")
    cut = only(otel, "stream interrupted")
    assert (attempt.attributes or {})["aoai_fallbacks.outcome"] == "success"
    assert cut.parent is not None
    assert cut.parent.span_id == attempt.context.span_id
    assert dict(cut.attributes or {}) == {
        "aoai_fallbacks.backend": "01",
        "server.address": "127.0.0.1",
        "server.port": port(emu, 0),
        "aoai_fallbacks.outcome": "failed",
        "error.type": "connection lost",
    }
    assert cut.status.status_code is StatusCode.ERROR


def test_a_cancelled_attempt_ends_its_span_as_abandoned(otel: Recorded, clock: FakeClock) -> None:
    async def cancelled(client: openai.AsyncAzureOpenAI) -> None:
        request = asyncio.create_task(
            client.chat.completions.create(model="x", messages=PROMPT, max_tokens=20)
        )
        while emu.resources[0].stats("gpt-35-turbo").requests < 1:
            await asyncio.sleep(0.01)
        request.cancel()
        await asyncio.gather(request, return_exceptions=True)

    gpt = DeploymentConfig("gpt-35-turbo", tpm=1_000_000)
    with run_emulator(1, [gpt], clock=clock) as emu:
        emu.resources[0].set_faults("gpt-35-turbo", hang=True)
        balancer = Balancer(backends_of(emu), clock=clock)
        asyncio.run(cancelled(balanced_openai_client(balancer=balancer, async_=True)))
        emu.resources[0].set_faults("gpt-35-turbo", hang=False)
    (span,) = otel.spans()
    attributes = dict(span.attributes or {})
    assert attributes["aoai_fallbacks.outcome"] == "abandoned"
    assert attributes["error.type"] == "CancelledError"
    assert span.status.status_code is StatusCode.ERROR
