"""Priority, weights and 429 cooldowns, end to end through the openai SDK face."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter

import openai
import pytest

from aoai_fallbacks import Balancer, balanced_openai_client
from aoai_fallbacks.emulator import DeploymentConfig, run_emulator
from aoai_fallbacks.testing import FakeClock
from aoai_fallbacks.transport import BACKEND_HEADER

from ._support import PROMPT, ask, backends_of

pytestmark = pytest.mark.integration

# "small": one request per 10 s window (Azure's 6 RPM per 1,000 TPM); "big": plenty.
SMALL = DeploymentConfig("small", tpm=1_000, remaining_headers="off")
BIG = DeploymentConfig("big", tpm=10_000_000)


def test_priority_one_takes_every_request_while_it_has_quota(clock: FakeClock) -> None:
    with run_emulator(3, [BIG], clock=clock) as emu:
        backends = backends_of(emu, AOAI_PRIORITY_02="2", AOAI_PRIORITY_03="2")
        client = balanced_openai_client(balancer=Balancer(backends, clock=clock))
        answered = Counter(ask(client) for _ in range(20))
        assert answered == {"01": 20}
        assert emu.resources[1].stats("big").requests == 0
        assert emu.resources[2].stats("big").requests == 0


def test_weights_share_a_group_within_tolerance(clock: FakeClock) -> None:
    async def spread(client: openai.AsyncAzureOpenAI, requests: int) -> Counter[str]:
        raws = await asyncio.gather(
            *(
                client.chat.completions.with_raw_response.create(
                    model="ignored", messages=PROMPT, max_tokens=20
                )
                for _ in range(requests)
            )
        )
        return Counter(raw.headers[BACKEND_HEADER] for raw in raws)

    with run_emulator(2, [BIG], clock=clock) as emu:
        backends = backends_of(emu, AOAI_WEIGHT_01="3", AOAI_WEIGHT_02="1")
        balancer = Balancer(backends, clock=clock, rng=random.Random(7))
        client = balanced_openai_client(balancer=balancer, async_=True)
        answered = asyncio.run(spread(client, 400))
        assert 0.68 <= answered["01"] / 400 <= 0.82  # expected 0.75; sd 0.022
        assert emu.resources[0].stats("big").served == answered["01"]
        assert emu.stats("big").served == 400


def test_a_throttled_backend_gets_no_request_until_its_retry_after_has_passed(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aoai_fallbacks")
    with run_emulator(2, [SMALL, BIG], clock=clock) as emu:
        backends = backends_of(
            emu, AOAI_DEPLOYMENT_01="small", AOAI_DEPLOYMENT_02="big", AOAI_PRIORITY_02="2"
        )
        balancer = Balancer(backends, clock=clock)
        client = balanced_openai_client(balancer=balancer)
        first = emu.resources[0]

        assert ask(client) == "01"
        assert ask(client) == "02"  # 01 answered 429; switched at once, no sleep
        assert first.stats("small").throttled == 1
        assert clock.slept == []
        assert (
            "backend 01 (small) throttled for 10.0 s (429); switching to backend 02 (big)"
            in caplog.messages
        )

        for _ in range(5):  # 9.9 s later: still cooling, still not asked
            clock.advance(1.98)
            assert ask(client) == "02"
        assert first.stats("small").requests == 2

        clock.advance(0.2)  # the Retry-After has passed: 01 gets traffic again
        assert ask(client) == "01"
        assert first.stats("small").served == 2
        assert first.stats("small").requests == 3


def test_retry_after_ms_wins_over_retry_after(clock: FakeClock) -> None:
    with run_emulator(2, [SMALL, BIG], clock=clock) as emu:
        backends = backends_of(
            emu, AOAI_DEPLOYMENT_01="small", AOAI_DEPLOYMENT_02="big", AOAI_PRIORITY_02="2"
        )
        balancer = Balancer(backends, clock=clock)
        client = balanced_openai_client(balancer=balancer)
        ask(client)
        clock.advance(2.5)  # the 429 now says retry-after: 8 and retry-after-ms: 7500
        assert ask(client) == "02"
        assert balancer.snapshot()[0].state == "cooling"
        assert balancer.snapshot()[0].cooldown_remaining == pytest.approx(7.5)


@pytest.mark.parametrize(
    ("options", "cooldown"),
    [({"default_cooldown": 12.0}, 10.05), ({"max_cooldown": 3.0, "default_cooldown": 3.0}, 3.0)],
    ids=["missing-headers-the-window-tells", "the-cap-holds"],
)
def test_cooldown_without_headers_and_cap(
    clock: FakeClock, options: dict[str, float], cooldown: float
) -> None:
    # A 429 without Retry-After: the learned window knows its one request leaves it
    # 10 s after it was sent (the default is for a backend it knows nothing of).
    with run_emulator(2, [SMALL, BIG], clock=clock) as emu:
        if "max_cooldown" not in options:
            emu.resources[0].set_faults("small", omit_retry_after=True)
        backends = backends_of(
            emu, AOAI_DEPLOYMENT_01="small", AOAI_DEPLOYMENT_02="big", AOAI_PRIORITY_02="2"
        )
        balancer = Balancer(backends, clock=clock, **options)
        client = balanced_openai_client(balancer=balancer)
        ask(client)
        assert ask(client) == "02"
        assert balancer.snapshot()[0].cooldown_remaining == pytest.approx(cooldown)
        clock.advance(cooldown)
        if cooldown < 10:
            assert ask(client) == "02"  # the cap ended the cooldown, but 01's window is full
            assert emu.resources[0].stats("small").requests == 2  # which it knows: not asked
            clock.advance(10.05 - cooldown)  # its first request has left the window
        assert ask(client) == "01"
