"""Redis trouble fails no request: a store that dies, or is slow, leaves each balancer alone."""

from __future__ import annotations

import logging
import random
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
import redis

from aoai_fallbacks import Balancer, balanced_openai_client
from aoai_fallbacks._cli.bench.redis_server import RedisServer
from aoai_fallbacks.balancer import Wait
from aoai_fallbacks.config import load_backends
from aoai_fallbacks.emulator import DeploymentConfig, run_emulator
from aoai_fallbacks.redis_store import RedisStore
from aoai_fallbacks.testing import FakeClock
from aoai_fallbacks.transport import BACKEND_HEADER
from core._support import backend, ok, throttled

from ._support import eventually

pytestmark = pytest.mark.integration

DEPLOYMENT = DeploymentConfig("gpt-35-turbo", tpm=100_000, rpm=60)  # 10 per 10 s each


def burst(clients: list[openai.AzureOpenAI], size: int, clock: FakeClock) -> list[str]:
    """`size` requests at once, spread over `clients`; the backend that answered each."""

    def one(index: int) -> str:
        with clock.busy():
            raw = clients[index % len(clients)].chat.completions.with_raw_response.create(
                model="any", messages=[{"role": "user", "content": "hi"}], max_tokens=5
            )
            assert raw.parse().choices
            return raw.headers[BACKEND_HEADER]

    with ThreadPoolExecutor(size) as pool:
        return list(pool.map(one, range(size)))


def test_redis_killed_and_restarted_under_load_loses_no_request(
    redis_server: RedisServer,
    redis_url: str,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="aoai_fallbacks")
    with run_emulator(3, [DEPLOYMENT], clock=clock) as emu:
        backends = load_backends(emu.env(), dotenv=False)
        stores = [RedisStore(redis_url, retry_every=0.05) for _ in range(2)]
        try:
            balancers = [
                Balancer(backends, clock=clock, rng=random.Random(i), store=s, wait_budget=120)
                for i, s in enumerate(stores)
            ]
            clients = [balanced_openai_client(balancer=b) for b in balancers]

            def served() -> int:
                return sum(r.stats(DEPLOYMENT.name).served for r in emu.resources)

            with ThreadPoolExecutor(1) as load:
                running = load.submit(burst, clients, 80, clock)
                eventually(lambda: served() >= 20, "the load is under way")
                redis_server.stop()  # a crash, mid-run
                eventually(lambda: not any(s.up for s in stores), "both stores notice")
                eventually(lambda: served() >= 40, "requests go on without it")
                redis_server.start()  # back, empty
                eventually(lambda: all(s.up for s in stores), "both stores reconnect")
                answered = running.result()
        finally:
            for store in stores:
                store.close()
        assert len(answered) == 80
        assert served() == 80  # none answered twice, none lost
    lines = {(r.created, r.levelno, r.getMessage()) for r in caplog.records}  # each once
    failed = [line for line in lines if "each process learns alone" in line[2]]
    back = [line for line in lines if "is shared again" in line[2]]
    assert (len(failed), len(back)) == (2, 2)  # one line each way per store, however many calls
    assert all(level == logging.WARNING for _, level, _ in failed)


def test_a_restarted_redis_gets_back_what_the_balancers_know(
    redis_server: RedisServer, redis_url: str, clock: FakeClock
) -> None:
    backends = [backend("01"), backend("02")]
    store = RedisStore(redis_url, retry_every=0.05)
    try:
        balancer = Balancer(backends, clock=clock, store=store)
        first, second = balancer.backends
        balancer.record(first, throttled(retry_after_ms="30000"))
        for left in (1, 0):  # 02 takes 2 requests a window: now full
            ticket = balancer.ticket()
            assert balancer.select(ticket=ticket) == second
            balancer.record(second, ok(requests=left), ticket)
        refused = balancer.ticket()
        assert isinstance(balancer.select(ticket=refused, exclude={"01"}), Wait)
        redis_server.stop()  # it forgets everything
        eventually(lambda: not store.up, "the store notices")
        redis_server.start()
        eventually(lambda: store.up, "the store reconnects")
        newcomer_store = RedisStore(redis_url)
        try:

            def newcomer() -> Balancer:
                return Balancer(backends, clock=clock, store=newcomer_store)

            # Everything is written again at once: once the cooldown is back, so is the rest.
            eventually(lambda: newcomer().snapshot()[0].state == "cooling", "the cooldown is back")
            assert isinstance(newcomer().select(), Wait)  # and so are 02's requests in its window
        finally:
            newcomer_store.close()
    finally:
        store.close()


def test_a_slow_redis_counts_as_down_after_its_timeout(redis_url: str) -> None:
    store = RedisStore(redis_url, timeout=0.05, retry_every=0.05)
    try:
        redis.Redis.from_url(redis_url).client_pause(300, all=True)  # alive, answering nothing
        assert store.claim("me", "key", 1.0) is True  # gave up after its timeout
        assert not store.up
        eventually(lambda: store.up, "the pause over, the store is back")
    finally:
        store.close()
