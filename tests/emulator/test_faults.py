"""Every fault, set at start or while running, through the real SDK."""

from __future__ import annotations

import threading

import httpx
import openai
import pytest

from aoai_fallbacks.emulator import DeploymentConfig, Faults, Resource, run_emulator

from ._support import DEPLOYMENT, HELLO, client

pytestmark = pytest.mark.integration


def test_error_rate_one_answers_every_request_with_the_chosen_status(resource: Resource) -> None:
    resource.set_faults(DEPLOYMENT, error_rate=1.0, error_status=503)
    with pytest.raises(openai.InternalServerError) as caught:
        client(resource).chat.completions.create(model=DEPLOYMENT, messages=HELLO)

    assert caught.value.status_code == 503
    assert caught.value.response.json()["error"]["code"] == "ServiceUnavailable"
    assert resource.stats(DEPLOYMENT).failed == 1


def outcomes(seed: int) -> list[int]:
    with run_emulator(seed=seed, faults=Faults(error_rate=0.5)) as emu:
        resource = emu.resources[0]
        sdk = client(resource)
        statuses = []
        for _ in range(12):
            try:
                sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO, max_tokens=5)
                statuses.append(200)
            except openai.InternalServerError as error:
                statuses.append(error.status_code)
        stats = emu.stats(DEPLOYMENT)
    assert stats.failed == statuses.count(500)
    assert stats.served == statuses.count(200)
    return statuses


def test_error_rate_is_seeded() -> None:
    first = outcomes(seed=3)
    assert first == outcomes(seed=3)
    assert 0 < first.count(500) < len(first)


def test_outage_window_opens_and_closes_while_running(resource: Resource) -> None:
    sdk = client(resource)
    sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO)
    resource.set_faults(DEPLOYMENT, outage=True)
    with pytest.raises(openai.InternalServerError) as caught:
        sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO)
    resource.set_faults(DEPLOYMENT, outage=False)
    sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO)

    assert caught.value.status_code == 503
    assert resource.stats(DEPLOYMENT).served == 2
    assert resource.stats(DEPLOYMENT).failed == 1


def test_hang_holds_the_request_until_the_client_times_out(resource: Resource) -> None:
    resource.set_faults(DEPLOYMENT, hang=True)
    with pytest.raises(openai.APITimeoutError):
        client(resource, timeout=0.3).chat.completions.create(model=DEPLOYMENT, messages=HELLO)
    assert resource.stats(DEPLOYMENT).failed == 1


def test_latency_longer_than_the_client_timeout_times_out(resource: Resource) -> None:
    resource.set_faults(DEPLOYMENT, latency=1.0)
    with pytest.raises(openai.APITimeoutError):
        client(resource, timeout=0.2).chat.completions.create(model=DEPLOYMENT, messages=HELLO)


def test_short_latency_and_ttft_still_answer(resource: Resource) -> None:
    resource.set_faults(DEPLOYMENT, latency=0.01, ttft=0.01)
    chunks = list(
        client(resource).chat.completions.create(model=DEPLOYMENT, messages=HELLO, stream=True)
    )
    assert chunks[0].prompt_filter_results  # type: ignore[attr-defined]
    assert resource.stats(DEPLOYMENT).served == 1


def test_ttft_longer_than_the_read_timeout_times_out_after_the_headers(resource: Resource) -> None:
    resource.set_faults(DEPLOYMENT, ttft=1.0)
    stream = client(resource, timeout=0.2).chat.completions.create(
        model=DEPLOYMENT, messages=HELLO, stream=True
    )
    with pytest.raises(openai.APITimeoutError):
        list(stream)


def test_stream_is_cut_after_k_chunks(resource: Resource) -> None:
    resource.set_faults(DEPLOYMENT, drop_after_chunks=3)
    stream = client(resource).chat.completions.create(
        model=DEPLOYMENT, messages=HELLO, stream=True
    )
    received = []
    with pytest.raises(openai.APIConnectionError):
        received.extend(stream)

    assert len(received) == 3
    stats = resource.stats(DEPLOYMENT)
    assert (stats.failed, stats.served) == (1, 0)


def test_admin_route_changes_faults_and_reads_stats(resource: Resource) -> None:
    admin = f"{resource.endpoint}/emulator/deployments/{DEPLOYMENT}"
    headers = {"api-key": resource.key}

    assert (
        httpx.post(f"{admin}/faults", json={"outage": True}, headers={"api-key": "no"}).status_code
        == 401
    )
    changed = httpx.post(f"{admin}/faults", json={"outage": True}, headers=headers)
    with pytest.raises(openai.InternalServerError):
        client(resource).chat.completions.create(model=DEPLOYMENT, messages=HELLO)
    stats = httpx.get(f"{admin}/stats", headers=headers).json()
    bad = httpx.post(f"{admin}/faults", json={"error_status": 418}, headers=headers)
    unknown = httpx.post(f"{admin}/faults", json={"explode": True}, headers=headers)
    reset = httpx.post(f"{resource.endpoint}/emulator/reset", headers=headers)

    assert changed.json()["outage"] is True
    assert resource.faults(DEPLOYMENT).outage is False  # reset restored the start faults
    assert stats == {
        "requests": 1,
        "served": 0,
        "throttled": 0,
        "throttled_early": 0,
        "failed": 1,
        "rejected": 0,
        "neighbour_served": 0,
        "neighbour_throttled": 0,
    }
    assert bad.status_code == 400
    assert unknown.status_code == 400
    assert reset.status_code == 204
    assert resource.stats(DEPLOYMENT).requests == 0


def test_faults_can_start_on_some_resources_only() -> None:
    with run_emulator(resources=2, faults=Faults(outage=True), faulty=["02"]) as emu:
        client(emu.resources[0]).chat.completions.create(model=DEPLOYMENT, messages=HELLO)
        with pytest.raises(openai.InternalServerError):
            client(emu.resources[1]).chat.completions.create(model=DEPLOYMENT, messages=HELLO)
        assert emu.resources[1].faults(DEPLOYMENT).outage


def test_a_gateway_429_refuses_every_request_with_its_own_retry_after(
    resource: Resource,
) -> None:
    resource.set_faults(DEPLOYMENT, gateway_429=0)
    sdk = client(resource)
    for _ in range(3):
        with pytest.raises(openai.RateLimitError) as caught:
            sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO)
        headers = caught.value.response.headers
        assert (headers["retry-after"], headers["retry-after-ms"]) == ("0", "0")
    resource.set_faults(DEPLOYMENT, gateway_429=None)
    sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO)
    stats = resource.stats(DEPLOYMENT)
    assert (stats.throttled, stats.served) == (3, 1)


def test_invalid_faults_are_refused(resource: Resource) -> None:
    with pytest.raises(ValueError, match="error_status"):
        resource.set_faults(DEPLOYMENT, error_status=404)
    with pytest.raises(TypeError, match="unknown fault"):
        resource.set_faults(DEPLOYMENT, explode=True)
    with pytest.raises(KeyError, match="no deployment"):
        resource.set_faults("gpt-nowhere", outage=True)


@pytest.mark.parametrize(
    ("fault", "value"),
    [
        ("latency", float("nan")),
        ("latency", float("inf")),
        ("ttft", "1"),
        ("error_rate", float("nan")),
        ("error_status", 500.0),
        ("hang", "no"),
        ("outage", 1),
        ("omit_retry_after", None),
        ("drop_after_chunks", True),
        ("drop_after_chunks", 2.5),
        ("gateway_429", -1),
    ],
)
def test_faults_of_the_wrong_type_are_refused_naming_the_field(fault: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"^{fault} must be ") as caught:
        Faults(**{fault: value})  # type: ignore[arg-type]
    assert caught.value.field == fault  # type: ignore[attr-defined]


def test_the_admin_route_refuses_nan_and_non_booleans_naming_the_field(resource: Resource) -> None:
    faults = f"{resource.endpoint}/emulator/deployments/{DEPLOYMENT}/faults"
    headers = {"api-key": resource.key, "content-type": "application/json"}

    nan = httpx.post(faults, content=b'{"latency": NaN}', headers=headers)
    no = httpx.post(faults, json={"hang": "no"}, headers=headers)
    shown = httpx.get(faults, headers=headers)

    assert (nan.status_code, nan.json()["error"]["param"]) == (400, "latency")
    assert (no.status_code, no.json()["error"]["param"]) == (400, "hang")
    assert shown.status_code == 200
    assert shown.json()["latency"] == 0.0
    assert shown.json()["hang"] is False
    client(resource).chat.completions.create(model=DEPLOYMENT, messages=HELLO)


def test_stopping_the_emulator_releases_a_hanging_request() -> None:
    errors: list[BaseException] = []
    with run_emulator(deployments=[DeploymentConfig(DEPLOYMENT)], faults=Faults(hang=True)) as emu:
        resource = emu.resources[0]

        def call() -> None:
            try:
                client(resource, timeout=30).chat.completions.create(
                    model=DEPLOYMENT, messages=HELLO
                )
            except openai.APIError as error:
                errors.append(error)

        caller = threading.Thread(target=call)
        caller.start()
        while resource.stats(DEPLOYMENT).failed == 0:
            threading.Event().wait(0.01)
    caller.join(timeout=10)
    assert not caller.is_alive()
    assert len(errors) == 1


def test_a_refusal_comes_at_once_whatever_the_latency() -> None:
    # Azure charges on arrival and refuses at once: a 429 costs a round trip,
    # not the model's latency. 1,000 TPM admits one request per 10 s window.
    with run_emulator(deployments=[DeploymentConfig(DEPLOYMENT, tpm=1_000)]) as emu:
        resource = emu.resources[0]
        sdk = client(resource, timeout=1.0)
        sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO, max_tokens=5)
        resource.set_faults(DEPLOYMENT, latency=30.0)
        with pytest.raises(openai.RateLimitError):
            sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO, max_tokens=5)
        assert emu.stats(DEPLOYMENT).throttled == 1
