"""Balancers that share a Redis learn as one: each fact one learns reaches the others."""

from __future__ import annotations

import json
import logging

import pytest
import redis

from aoai_fallbacks._cli.bench.redis_server import free_port
from aoai_fallbacks.balancer import Wait
from aoai_fallbacks.config import Backend
from aoai_fallbacks.testing import FakeClock
from core._support import SECRET, backend, ok, pick, throttled, unauthorized

from ._support import eventually, status
from .conftest import MakeBalancer, MakeStore

pytestmark = pytest.mark.integration


@pytest.fixture
def backends() -> list[Backend]:
    return [backend("01"), backend("02")]


def test_a_429_one_balancer_sees_cools_the_backend_for_the_others(
    make_balancer: MakeBalancer,
    backends: list,
    clock: FakeClock,
) -> None:
    one, other = make_balancer(backends), make_balancer(backends)
    first = one.backends[0]
    one.record(first, throttled(retry_after_ms="7500"))
    eventually(lambda: status(other, "01").state == "cooling", "the other balancer cools 01")
    assert status(other, "01").cooldown_remaining == pytest.approx(7.5)
    assert status(other, "01").reason == "429"
    assert {pick(other) for _ in range(20)} == {"02"}
    clock.advance(7.5)
    assert status(other, "01").state == "available"


def test_a_later_429_extends_a_cooldown_and_an_earlier_end_never_shortens_it(
    make_balancer: MakeBalancer,
    backends: list[Backend],
    clock: FakeClock,
    redis_url: str,
) -> None:
    one, other = make_balancer(backends), make_balancer(backends)
    one.record(one.backends[0], throttled(retry_after_ms="10000"))
    eventually(lambda: status(other, "01").state == "cooling", "01 cools everywhere")
    other.record(other.backends[0], throttled(retry_after_ms="2000"))  # sent before: ends sooner
    late = make_balancer(backends)  # a process that starts now reads the keys
    assert status(late, "01").cooldown_remaining == pytest.approx(10.0)
    clock.advance(1)
    one.record(one.backends[0], throttled(retry_after_ms="20000"))
    eventually(lambda: status(other, "01").cooldown_remaining > 19, "the longer one reaches all")
    assert status(make_balancer(backends), "01").cooldown_remaining == pytest.approx(20.0)


def test_quarantine_and_open_circuits_are_shared_and_a_success_closes_them(
    make_balancer: MakeBalancer,
    backends: list,
    clock: FakeClock,
) -> None:
    one = make_balancer(backends, failure_threshold=1)
    other = make_balancer(backends, failure_threshold=1)
    first, second = one.backends
    one.record(first, unauthorized())
    one.record(second, throttled())  # cools 02 for the default 10 s
    eventually(lambda: status(other, "01").state == "quarantined", "01 quarantined everywhere")
    assert status(other, "01").reason == "401"
    clock.advance(300)  # the quarantine ends: 01 is half-open, in both
    assert status(other, "01").state == "half-open"
    one.record(first, ok())  # its probe succeeded
    eventually(lambda: status(other, "01").state == "available", "01 recovered everywhere")


def test_requests_in_flight_are_seen_by_the_others_until_answered(
    make_balancer: MakeBalancer,
    backends: list[Backend],
) -> None:
    one, other = make_balancer(backends), make_balancer(backends)
    ticket = one.ticket()
    sent = one.select(ticket=ticket, cost=500)
    assert not isinstance(sent, Wait)
    eventually(lambda: status(other, sent.name).in_flight == 1, "the request is in flight")
    one.record(sent, ok(), ticket)
    eventually(lambda: status(other, sent.name).in_flight == 0, "the request is answered")


def test_one_probe_at_a_time_for_a_recovering_backend_across_processes(
    make_balancer: MakeBalancer, clock: FakeClock, redis_url: str
) -> None:
    only = [backend("01")]
    one, other = make_balancer(only), make_balancer(only)
    one.record(one.backends[0], throttled(retry_after_ms="1000"))
    eventually(lambda: status(other, "01").state == "cooling", "01 cools everywhere")
    clock.advance(1)  # out of its cooldown, its window unknown: gated, one probe at a time
    probe = one.ticket()
    assert one.select(ticket=probe) == one.backends[0]  # the probe, claimed in Redis
    # Whether the other has heard of the probe in flight yet or not, the claim in
    # Redis keeps it from sending a second.
    assert isinstance(other.select(), Wait)
    one.record(one.backends[0], ok(requests=5), probe)  # the probe's answer: room
    eventually(lambda: not isinstance(other.select(), Wait), "the gate opens everywhere")
    key = next(iter(one.deployment_keys()))
    claims = redis.Redis.from_url(redis_url)
    eventually(lambda: not claims.exists(f"aoai-fallbacks:{key}:probe"), "the claim is given back")


def test_a_probe_claimed_elsewhere_is_not_sent_and_costs_nothing(
    make_balancer: MakeBalancer, clock: FakeClock, redis_url: str
) -> None:
    """The race the claim settles: a probe in flight that this balancer has not heard of."""
    only = [backend("01")]
    one = make_balancer(only)
    one.record(one.backends[0], throttled(retry_after_ms="1000"))
    clock.advance(1)
    key = next(iter(one.deployment_keys()))
    redis.Redis.from_url(redis_url).set(f"aoai-fallbacks:{key}:probe", "elsewhere", px=60_000)
    wait = one.select(ticket=one.ticket())
    assert isinstance(wait, Wait)
    assert wait.polling
    assert status(one, "01").in_flight == 0  # taken back: it was never sent
    store = one.store
    assert store is not None
    store.unclaim(one.origin, key)  # not its claim: nothing happens
    store.close()  # written
    assert redis.Redis.from_url(redis_url).get(f"aoai-fallbacks:{key}:probe") == b"elsewhere"


def test_the_probe_claim_expires_with_a_balancer_that_vanished(
    make_balancer: MakeBalancer, clock: FakeClock, redis_url: str
) -> None:
    only = [backend("01")]
    one = make_balancer(only, attempt_timeout=30)
    one.record(one.backends[0], throttled(retry_after_ms="1000"))
    clock.advance(1)
    assert one.select() == one.backends[0]  # its probe: it then "crashes", never answering
    key = next(iter(one.deployment_keys()))
    client = redis.Redis.from_url(redis_url)
    assert 0 < client.pttl(f"aoai-fallbacks:{key}:probe") <= 30_000  # gone with its timeout


def test_every_balancer_counts_the_requests_the_others_sent_in_the_window(
    make_balancer: MakeBalancer,
) -> None:
    only = [backend("01")]
    one, other = make_balancer(only), make_balancer(only)
    first = one.backends[0]
    tickets = [one.ticket() for _ in range(3)]
    for ticket in tickets:
        assert one.select(ticket=ticket) == first
    for ticket, left in zip(tickets, (2, 1, 0), strict=True):
        one.record(first, ok(requests=left), ticket)  # a window of 3, now full
    eventually(lambda: isinstance(other.select(), Wait), "the other knows the window is full")
    theirs, ours = other.select(), one.select()
    assert isinstance(theirs, Wait)
    assert isinstance(ours, Wait)
    assert theirs.seconds == pytest.approx(ours.seconds)  # both know when a slot frees


def test_a_balancer_that_starts_later_reads_what_the_others_learned(
    make_balancer: MakeBalancer,
    backends: list,
    redis_url: str,
) -> None:
    one = make_balancer(backends)
    first, second = one.backends
    ticket = one.ticket()
    assert one.select(ticket=ticket, exclude={"02"}) == first
    one.record(first, ok(tokens=900, requests=0), ticket)  # 01's window: 1, now full
    one.select(exclude={"01"})  # one request in flight to 02
    one.record(second, throttled(retry_after_ms="4000"))
    eventually(
        lambda: (
            redis.Redis.from_url(redis_url).exists(
                *(f"aoai-fallbacks:{k}:learned" for k in one.deployment_keys())
            )
            == 1
        ),
        "the keys are written",
    )
    late = make_balancer(backends)
    one_there, two_there = late.snapshot()
    assert (one_there.remaining_tokens, one_there.remaining_requests) == (900, 0)
    assert two_there.state == "cooling"
    assert two_there.cooldown_remaining == pytest.approx(4.0)
    assert isinstance(late.select(exclude={"02"}), Wait)  # 01's window is full for it too


def test_redis_holds_no_endpoint_deployment_or_key(
    make_balancer: MakeBalancer,
    backends: list,
    redis_url: str,
) -> None:
    one = make_balancer(backends)
    for chosen in (one.select(), one.select()):
        assert not isinstance(chosen, Wait)
        one.record(chosen, throttled(retry_after_ms="5000", x_ratelimit_remaining_tokens="10"))
    one.record(one.backends[0], unauthorized())
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    eventually(lambda: len(client.keys("*")) >= 3, "the facts are written")
    written = []
    for key in client.keys("*"):
        kind = client.type(key)
        value = client.get(key) if kind == "string" else client.zrange(key, 0, -1)
        written.append(f"{key} {value}")
    text = "\n".join(written)
    for secret in (SECRET, "aoai-01", "openai.azure.com", "gpt-35-turbo"):
        assert secret not in text


def test_apps_with_other_prefixes_share_nothing(
    make_balancer: MakeBalancer,
    make_store: MakeStore,
    backends: list[Backend],
) -> None:
    one = make_balancer(backends, store=make_store(prefix="app-a"))
    stranger = make_balancer(backends, store=make_store(prefix="app-b"))
    colleague = make_balancer(backends, store=make_store(prefix="app-a"))
    one.record(one.backends[0], throttled(retry_after_ms="5000"))
    eventually(lambda: status(colleague, "01").state == "cooling", "the same app learns it")
    assert status(stranger, "01").state == "available"


def test_a_malformed_message_on_the_channel_is_ignored(
    make_balancer: MakeBalancer,
    backends: list,
    redis_url: str,
) -> None:
    one, other = make_balancer(backends), make_balancer(backends)
    key = sorted(other.deployment_keys())[0]
    client = redis.Redis.from_url(redis_url)
    for junk in ("not json", "x\n" + json.dumps([["cooled", key, "soon", None]]), "x\n{}"):
        client.publish("aoai-fallbacks:facts", junk)
    one.record(one.backends[1], throttled(retry_after_ms="5000"))  # after the junk, in order
    eventually(lambda: status(other, "02").state == "cooling", "a good fact still lands")
    assert [s.state for s in other.snapshot()] == ["available", "cooling"]


def test_a_url_password_never_appears_in_reprs_or_logs(
    make_store: MakeStore, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    password = "pw-DISTINCTIVE-4b1e"
    url = f"redis://:{password}@127.0.0.1:{free_port()}/0"  # nothing listens there
    with caplog.at_level(logging.DEBUG, logger="aoai_fallbacks"):
        store = make_store(url=url)
        assert store.claim("me", "key", 1.0) is True  # the store cannot tell: probe anyway
        assert not store.up
    assert password not in repr(store)
    assert password not in caplog.text
    assert "failed" in caplog.text


def test_the_creator_of_an_object_is_known_to_every_process_at_once(
    make_balancer: MakeBalancer, make_store: MakeStore, backends: list[Backend], redis_url: str
) -> None:
    one, other = make_balancer(backends), make_balancer(backends)
    one.created("resp_abc123", one.backends[1])
    assert other.creator("resp_abc123") == "02"  # no waiting: it was written as it was made
    assert other.owners.owner("resp_abc123") == "02"  # and is kept here from now on
    assert other.creator("resp_nobody_made") is None
    alone = make_balancer(backends, store=None)
    assert alone.creator("resp_abc123") is None
    # Only a hash of the id is written, and the deployment's hashed name.
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    (key,) = client.keys("*:owner")
    assert "resp_abc123" not in key
    assert client.get(key) in one.deployment_keys()


def test_a_redis_that_is_down_knows_no_creator_and_fails_nothing(
    make_balancer: MakeBalancer, make_store: MakeStore, backends: list[Backend]
) -> None:
    one = make_balancer(backends, store=make_store(url=f"redis://127.0.0.1:{free_port()}"))
    one.created("resp_abc123", one.backends[0])  # the write fails: remembered here only
    assert one.creator("resp_abc123") == "01"
    other = make_balancer(backends, store=make_store(url=f"redis://127.0.0.1:{free_port()}"))
    assert other.creator("resp_abc123") is None
