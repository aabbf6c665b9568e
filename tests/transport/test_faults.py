"""5xx, timeouts, refused connections, misconfigured backends, context overflow and 400s."""

from __future__ import annotations

import logging

import openai
import pytest

from aoai_fallbacks import Backend, Balancer, balanced_openai_client
from aoai_fallbacks.emulator import CONTENT_FILTER_TRIGGER, DeploymentConfig, run_emulator
from aoai_fallbacks.testing import FakeClock

from ._support import ask, backends_of, closed_port

pytestmark = pytest.mark.integration

GPT = DeploymentConfig("gpt-35-turbo", tpm=1_000_000)


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_open_the_circuit_and_a_probe_closes_it(
    clock: FakeClock, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aoai_fallbacks")
    with run_emulator(2, [GPT], clock=clock) as emu:
        first = emu.resources[0]
        first.set_faults("gpt-35-turbo", error_rate=1.0, error_status=status)
        balancer = Balancer(
            backends_of(emu, AOAI_PRIORITY_02="2"),
            clock=clock,
            failure_threshold=2,
            circuit_open_for=30.0,
        )
        client = balanced_openai_client(balancer=balancer)
        assert [ask(client) for _ in range(4)] == ["02"] * 4
        assert first.stats("gpt-35-turbo").failed == 2  # then the circuit opened: no more
        assert balancer.snapshot()[0].state == "open"
        assert (
            f"backend 01 (gpt-35-turbo) failed ({status}); switching to backend 02 (gpt-35-turbo)"
            in caplog.messages
        )

        first.set_faults("gpt-35-turbo", error_rate=0.0)
        clock.advance(29.9)
        assert ask(client) == "02"
        clock.advance(0.1)  # half-open: the next request is the probe, and it succeeds
        assert ask(client) == "01"
        assert balancer.snapshot()[0].state == "available"
        assert ask(client) == "01"


def test_a_hanging_backend_times_out_and_the_request_moves_on(clock: FakeClock) -> None:
    with run_emulator(2, [GPT], clock=clock) as emu:
        emu.resources[0].set_faults("gpt-35-turbo", hang=True)
        balancer = Balancer(
            backends_of(emu, AOAI_PRIORITY_02="2"),
            clock=clock,
            attempt_timeout=0.3,
            failure_threshold=1,
        )
        # No timeout of the caller's own (LangChain's default): attempt_timeout is the limit.
        client = balanced_openai_client(balancer=balancer, timeout=None)
        assert ask(client) == "02"
        status = balancer.snapshot()[0]
        assert (status.state, status.failed, status.served) == ("open", 1, 0)
        assert ask(client) == "02"  # the open circuit keeps the next request away from it
        assert emu.resources[0].stats("gpt-35-turbo").requests == 1


def test_a_refused_connection_moves_on(clock: FakeClock) -> None:
    with run_emulator(1, [GPT], clock=clock) as emu:
        dead = Backend(
            name="00",
            endpoint=f"http://127.0.0.1:{closed_port()}",
            deployment="gpt-35-turbo",
            api_key="dead-backend-key",
        )
        balancer = Balancer(
            [dead, *backends_of(emu, AOAI_PRIORITY_01="2")], clock=clock, failure_threshold=2
        )
        client = balanced_openai_client(balancer=balancer)
        assert ask(client) == "01"
        assert balancer.snapshot()[0].state == "available"  # one failure: not yet
        assert ask(client) == "01"
        status = balancer.snapshot()[0]
        assert (status.state, status.failed) == ("open", 2)


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"AOAI_KEY_01": "not-the-right-key-0000"}, "401"),
        ({"AOAI_DEPLOYMENT_01": "gone"}, "DeploymentNotFound"),
    ],
    ids=["wrong-key", "missing-deployment"],
)
def test_a_misconfigured_backend_is_quarantined_loudly(
    clock: FakeClock, caplog: pytest.LogCaptureFixture, env: dict[str, str], reason: str
) -> None:
    caplog.set_level(logging.INFO, logger="aoai_fallbacks")
    with run_emulator(2, [GPT], clock=clock) as emu:
        balancer = Balancer(backends_of(emu, AOAI_PRIORITY_02="2", **env), clock=clock)
        client = balanced_openai_client(balancer=balancer)
        assert [ask(client) for _ in range(3)] == ["02"] * 3
        assert balancer.snapshot()[0].state == "quarantined"
        assert (
            emu.resources[0].stats("gone" if "gone" in env.values() else "gpt-35-turbo").requests
            == 1
        )
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert any("01" in r.getMessage() and reason in r.getMessage() for r in warnings)


def test_when_every_backend_is_misconfigured_the_sdk_raises_its_own_error(
    clock: FakeClock,
) -> None:
    with run_emulator(2, [GPT], clock=clock) as emu:
        env = {"AOAI_KEY_01": "wrong-key-number-one", "AOAI_KEY_02": "wrong-key-number-two"}
        client = balanced_openai_client(balancer=Balancer(backends_of(emu, **env), clock=clock))
        with pytest.raises(openai.AuthenticationError) as caught:
            ask(client)
        assert caught.value.status_code == 401
        assert emu.stats("gpt-35-turbo").rejected == 2


def test_context_overflow_goes_straight_to_the_larger_tier(clock: FakeClock) -> None:
    small = DeploymentConfig("gpt-35-turbo", tpm=1_000_000, context_window=100)
    large = DeploymentConfig("gpt-35-turbo-16k", tpm=1_000_000, context_window=16_000)
    with run_emulator(2, [small, large], clock=clock) as emu:
        backends = backends_of(emu, large_deployment="gpt-35-turbo-16k", AOAI_PRIORITY_02="2")
        balancer = Balancer(backends, clock=clock)
        client = balanced_openai_client(balancer=balancer)
        assert ask(client) == "01"  # short prompts stay on the base tier
        answered = ask(client, "Summarise this: " + "quota " * 300)
        assert answered.endswith("-large")
        assert emu.stats("gpt-35-turbo").rejected == 1  # one base backend, not both
        assert emu.stats("gpt-35-turbo-16k").served == 1
        assert balancer.snapshot()[0].state == "available"  # the backend did nothing wrong


def test_context_overflow_without_a_larger_tier_is_the_sdks_bad_request(
    clock: FakeClock,
) -> None:
    small = DeploymentConfig("gpt-35-turbo", tpm=1_000_000, context_window=100)
    with run_emulator(2, [small], clock=clock) as emu:
        client = balanced_openai_client(balancer=Balancer(backends_of(emu), clock=clock))
        with pytest.raises(openai.BadRequestError) as caught:
            ask(client, "Summarise this: " + "quota " * 300)
        assert caught.value.code == "context_length_exceeded"
        assert emu.stats("gpt-35-turbo").requests == 1


@pytest.mark.parametrize(
    ("content", "options", "code"),
    [
        (f"Say {CONTENT_FILTER_TRIGGER}", {}, "content_filter"),
        (None, {"temperature": 5}, None),
    ],
    ids=["content-filter", "invalid-parameter"],
)
def test_a_request_error_is_raised_at_once_without_touching_another_backend(
    clock: FakeClock, content: str | None, options: dict[str, float], code: str | None
) -> None:
    with run_emulator(3, [GPT], clock=clock) as emu:
        balancer = Balancer(backends_of(emu), clock=clock)
        client = balanced_openai_client(balancer=balancer)
        with pytest.raises(openai.BadRequestError) as caught:
            ask(client, content, **options)
        if code is not None:
            assert caught.value.code == code
        assert emu.stats("gpt-35-turbo").requests == 1
        assert all(s.state == "available" and s.failed == 0 for s in balancer.snapshot())
