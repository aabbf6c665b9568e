"""Faces built without a balancer over the same backends share one, and so what it learned."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from aoai_fallbacks import Backend, Balancer, balanced_chat_model, balanced_openai_client
from aoai_fallbacks._client import SHARED_BALANCERS, balancer_for
from aoai_fallbacks.emulator import DeploymentConfig, run_emulator
from aoai_fallbacks.testing import FakeClock

from ._support import ask, backends_of

SMALL = DeploymentConfig("gpt-35-turbo", tpm=1_000)  # one request per 10 s window
BIG = DeploymentConfig("big", tpm=1_000_000)


def backend_set(number: int) -> list[Backend]:
    """A set of two backends of its own, with nothing to share with any other number."""
    return [
        Backend("01", f"https://set-{number}-a.openai.azure.com", "gpt-35-turbo"),
        Backend("02", f"https://set-{number}-b.openai.azure.com", "gpt-35-turbo"),
    ]


@pytest.mark.integration
def test_a_face_built_per_request_knows_what_the_last_one_learned(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    with run_emulator(2, [SMALL, BIG], clock=clock) as emu:
        monkeypatch.chdir(tmp_path)  # no stray .env
        env = {**emu.env(), "AOAI_DEPLOYMENT_02": "big", "AOAI_PRIORITY_02": "2"}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        assert ask(balanced_openai_client()) == "01"  # its answer says its window is now full
        assert ask(balanced_openai_client()) == "02"  # a new client knows it: no 429 from 01
        balanced_chat_model(max_tokens=20).invoke("hi")  # a model from the same backends too
        built_with_backends = balanced_openai_client(backends_of(emu, **env))
        assert ask(built_with_backends) == "02"
        assert emu.resources[0].stats("gpt-35-turbo").requests == 1
        assert emu.resources[1].stats("big").served == 3


def test_equal_backends_share_one_balancer_and_others_get_their_own() -> None:
    shared = balancer_for(backend_set(1), None, "face")
    assert balancer_for(backend_set(1), None, "face") is shared  # equal, not the same objects
    assert balancer_for(backend_set(1)[:1], None, "face") is not shared
    assert balancer_for(backend_set(2), None, "face") is not shared
    own = Balancer(backend_set(1))
    assert balancer_for(None, own, "face") is own


def test_only_the_most_recently_used_backend_sets_are_remembered() -> None:
    first = balancer_for(backend_set(10), None, "face")
    second = balancer_for(backend_set(11), None, "face")
    for number in range(12, 12 + SHARED_BALANCERS - 2):
        balancer_for(backend_set(number), None, "face")
    assert balancer_for(backend_set(10), None, "face") is first  # used again: kept
    balancer_for(backend_set(99), None, "face")  # one too many: the oldest, 11, goes
    assert balancer_for(backend_set(10), None, "face") is first
    assert balancer_for(backend_set(11), None, "face") is not second


def test_faces_built_at_once_in_many_threads_share_one_balancer() -> None:
    with ThreadPoolExecutor(8) as pool:
        built = list(pool.map(lambda _: balancer_for(backend_set(100), None, "face"), range(32)))
    assert len({id(balancer) for balancer in built}) == 1
