"""The chat-completions protocol through the real `openai` SDK: answers and Azure's errors."""

from __future__ import annotations

import json
import logging
import socket

import httpx
import openai
import pytest

from aoai_fallbacks.emulator import (
    CONTENT_FILTER_TRIGGER,
    DeploymentConfig,
    Resource,
    run_emulator,
)
from aoai_fallbacks.testing import FakeClock

from ._support import API_VERSION, DEPLOYMENT, HELLO, NINES, client, post, with_literal

pytestmark = pytest.mark.integration


def test_answer_is_a_chat_completion_the_sdk_parses(resource: Resource) -> None:
    raw = client(resource).chat.completions.with_raw_response.create(
        model=DEPLOYMENT, messages=HELLO, max_tokens=50
    )
    answer = raw.parse()

    assert answer.object == "chat.completion"
    assert answer.id.startswith("chatcmpl-")
    assert answer.created > 0
    assert answer.model == DEPLOYMENT
    assert len(answer.choices) == 1
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].message.content
    assert answer.usage is not None
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens
    assert raw.headers["x-request-id"]
    assert int(raw.headers["x-ratelimit-remaining-tokens"]) < 10_000
    assert resource.stats(DEPLOYMENT).served == 1


def test_model_name_in_answers_can_differ_from_the_deployment() -> None:
    with run_emulator(deployments=[DeploymentConfig("chat", model="gpt-4o-mini")]) as emu:
        answer = client(emu.resources[0]).chat.completions.create(model="chat", messages=HELLO)
    assert answer.model == "gpt-4o-mini"


def test_remaining_quota_headers_count_down(resource: Resource) -> None:
    sdk = client(resource)
    remaining = []
    for _ in range(3):
        raw = sdk.chat.completions.with_raw_response.create(
            model=DEPLOYMENT, messages=HELLO, max_tokens=100
        )
        remaining.append(
            (
                int(raw.headers["x-ratelimit-remaining-requests"]),
                int(raw.headers["x-ratelimit-remaining-tokens"]),
            )
        )
    requests = [r for r, _ in remaining]
    tokens = [t for _, t in remaining]
    assert requests == [9, 8, 7]  # 60 RPM: 10 per 10 s
    cost = 10_000 - tokens[0]
    assert cost > 100  # prompt estimate plus max_tokens
    assert tokens == [10_000 - cost, 10_000 - 2 * cost, 10_000 - 3 * cost]


def test_max_tokens_and_max_completion_tokens_cap_the_answer(resource: Resource) -> None:
    sdk = client(resource)
    short = sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO, max_tokens=2)
    newer = sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO, max_completion_tokens=3)

    assert short.usage is not None
    assert short.usage.completion_tokens <= 2
    assert short.choices[0].finish_reason == "length"
    assert newer.usage is not None
    assert newer.usage.completion_tokens <= 3
    assert newer.choices[0].finish_reason == "length"


def test_n_choices(resource: Resource) -> None:
    answer = client(resource).chat.completions.create(model=DEPLOYMENT, messages=HELLO, n=3)
    assert [choice.index for choice in answer.choices] == [0, 1, 2]


def test_temperature_zero_repeats_itself_and_default_temperature_varies(
    resource: Resource,
) -> None:
    sdk = client(resource)

    def say(**options: object) -> list[str | None]:
        answer = sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO, n=2, **options)  # type: ignore[call-overload]
        return [choice.message.content for choice in answer.choices]

    cold = say(temperature=0)
    assert cold == say(temperature=0)
    assert cold[0] == cold[1]
    warm = [say(temperature=1) for _ in range(3)]
    assert len({text for texts in warm for text in texts}) > 1
    seeded = say(temperature=1, seed=7)
    assert seeded == say(temperature=1, seed=7)


def test_answers_repeat_across_emulators_with_the_same_seed() -> None:
    def first_answers(seed: int) -> list[str | None]:
        with run_emulator(seed=seed) as emu:
            sdk = client(emu.resources[0])
            return [
                sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO)
                .choices[0]
                .message.content
                for _ in range(3)
            ]

    assert first_answers(1) == first_answers(1)
    assert first_answers(1) != first_answers(2)


def test_v1_path_takes_the_deployment_from_model(resource: Resource) -> None:
    sdk = openai.OpenAI(
        base_url=f"{resource.endpoint}/openai/v1/", api_key=resource.key, max_retries=0
    )
    answer = sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO)
    assert answer.model == DEPLOYMENT
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.chat.completions.create(model="gpt-nowhere", messages=HELLO)
    assert caught.value.code == "DeploymentNotFound"


def test_bearer_token_is_accepted(resource: Resource) -> None:
    response = httpx.post(
        f"{resource.endpoint}/openai/deployments/{DEPLOYMENT}/chat/completions",
        params={"api-version": API_VERSION},
        headers={"Authorization": f"Bearer {resource.key}"},
        json={"messages": HELLO},
    )
    assert response.status_code == 200


def test_wrong_key_is_401_with_azures_body(resource: Resource) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        client(resource, key="wrong").chat.completions.create(model=DEPLOYMENT, messages=HELLO)

    body = caught.value.response.json()
    assert caught.value.status_code == 401
    assert body["error"]["code"] == "401"
    assert body["error"]["message"].startswith(
        "Access denied due to invalid subscription key or wrong API endpoint."
    )
    assert caught.value.response.headers["x-request-id"]
    assert resource.stats(DEPLOYMENT).rejected == 1


def test_missing_key_is_401(resource: Resource) -> None:
    response = httpx.post(
        f"{resource.endpoint}/openai/deployments/{DEPLOYMENT}/chat/completions",
        params={"api-version": API_VERSION},
        json={"messages": HELLO},
    )
    assert response.status_code == 401


def test_unknown_deployment_is_404_deployment_not_found(resource: Resource) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client(resource).chat.completions.create(model="gpt-nowhere", messages=HELLO)

    error = caught.value.response.json()["error"]
    assert error["code"] == "DeploymentNotFound"
    assert error["message"].startswith("The API deployment for this resource does not exist.")
    assert resource.stats("gpt-nowhere").rejected == 1
    assert resource.stats(DEPLOYMENT).requests == 0


def test_missing_api_version_is_azures_404_resource_not_found(resource: Resource) -> None:
    response = httpx.post(
        f"{resource.endpoint}/openai/deployments/{DEPLOYMENT}/chat/completions",
        headers={"api-key": resource.key},
        json={"messages": HELLO},
    )
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "404", "message": "Resource not found"}}


def test_unknown_path_is_404_resource_not_found(resource: Resource) -> None:
    response = httpx.get(f"{resource.endpoint}/openai/models", headers={"api-key": resource.key})
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Resource not found"


def test_prompt_beyond_the_context_window_is_400_context_length_exceeded() -> None:
    with run_emulator(deployments=[DeploymentConfig(DEPLOYMENT, context_window=100)]) as emu:
        sdk = client(emu.resources[0])
        with pytest.raises(openai.BadRequestError) as messages_alone:
            sdk.chat.completions.create(
                model=DEPLOYMENT, messages=[{"role": "user", "content": "x" * 800}]
            )
        with pytest.raises(openai.BadRequestError) as with_completion:
            sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO, max_tokens=95)
        stats = emu.stats(DEPLOYMENT)

    error = messages_alone.value.response.json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "messages"
    assert error["message"] == (
        "This model's maximum context length is 100 tokens. However, your messages resulted "
        "in 206 tokens. Please reduce the length of the messages."
    )
    other = with_completion.value.response.json()["error"]
    assert other["code"] == "context_length_exceeded"
    assert "95 in the completion" in other["message"]
    assert stats.rejected == 2
    assert stats.served == 0


def test_context_windows_differ_per_deployment() -> None:
    deployments = [
        DeploymentConfig("gpt-4", tpm=100_000, context_window=8_192),
        DeploymentConfig("gpt-4-32k", tpm=100_000, context_window=32_768),
    ]
    long_prompt = [{"role": "user", "content": "y" * 40_000}]  # about 10,000 tokens
    with run_emulator(deployments=deployments) as emu:
        sdk = client(emu.resources[0])
        with pytest.raises(openai.BadRequestError):
            sdk.chat.completions.create(model="gpt-4", messages=long_prompt, max_tokens=10)
        answer = sdk.chat.completions.create(
            model="gpt-4-32k", messages=long_prompt, max_tokens=10
        )
    assert answer.usage is not None
    assert answer.usage.prompt_tokens > 8_192


def test_trigger_phrase_is_refused_by_the_content_filter(resource: Resource) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(resource).chat.completions.create(
            model=DEPLOYMENT,
            messages=[{"role": "user", "content": f"Please {CONTENT_FILTER_TRIGGER} now"}],
        )
    error = caught.value.response.json()["error"]
    assert error["code"] == "content_filter"
    assert error["innererror"]["code"] == "ResponsibleAIPolicyViolation"
    assert resource.stats(DEPLOYMENT).rejected == 1


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        (b"{not json", None, None),
        (b"", None, None),
        (b"[1, 2]", None, "invalid_type"),
        (b"{}", "messages", "missing_required_parameter"),
        (b'{"messages": "hello"}', "messages", "invalid_type"),
        (b'{"messages": []}', "messages", "empty_array"),
        (
            b'{"messages": [{"role": "robot", "content": "hi"}]}',
            "messages[0].role",
            "invalid_value",
        ),
        (b'{"messages": [{"role": "user", "content": 5}]}', "messages[0].content", "invalid_type"),
        (b'{"messages": [{"role": "user"}], "max_tokens": "ten"}', "max_tokens", "invalid_type"),
        (
            b'{"messages": [{"role": "user"}], "max_tokens": 0}',
            "max_tokens",
            "integer_below_min_value",
        ),
        (b'{"messages": [{"role": "user"}], "n": true}', "n", "invalid_type"),
        (b'{"messages": [{"role": "user"}], "n": 500}', "n", "invalid_value"),
        (b'{"messages": [{"role": "user"}], "temperature": 3}', "temperature", "invalid_value"),
        (b'{"messages": [{"role": "user"}], "tools": {}}', "tools", "invalid_type"),
        (
            b'{"messages": [{"role": "user"}], "tools": [{"type": "function", "function": {"name": "a"}}],'
            b' "tool_choice": {"type": "function", "function": {"name": "b"}}}',
            "tool_choice",
            "invalid_value",
        ),
        (
            b'{"messages": [{"role": "user"}], "response_format": {"type": "xml"}}',
            "response_format.type",
            "invalid_value",
        ),
        (
            b'{"messages": [{"role": "user"}], "stream_options": {"include_usage": true}}',
            "stream_options",
            "invalid_value",
        ),
        (b'{"messages": [{"role": []}]}', "messages[0].role", "invalid_type"),
        (b'{"messages": [{"role": {"a": 1}}]}', "messages[0].role", "invalid_type"),
        (b'{"messages": [{"role": "user", "name": 5}]}', "messages[0].name", "invalid_type"),
        (
            with_literal("tools", '[{"type": "function", "function": {"name": "\\ud800"}}]'),
            "tools[0].function.name",
            "invalid_value",
        ),
        (
            with_literal(
                "tools", '[{"type": "function", "function": {"name": "%s"}}]' % ("a" * 65)
            ),
            "tools[0].function.name",
            "string_above_max_length",
        ),
        (
            with_literal(
                "response_format", '{"type": "json_schema", "json_schema": {"name": "a b"}}'
            ),
            "response_format.json_schema.name",
            "invalid_value",
        ),
        (
            with_literal(
                "tools", json.dumps([{"type": "function", "function": {"name": "f"}}] * 129)
            ),
            "tools",
            "array_above_max_length",
        ),
        (with_literal("max_tokens", NINES), "max_tokens", "integer_above_max_value"),
        (
            with_literal("max_completion_tokens", str(2**31)),
            "max_completion_tokens",
            "integer_above_max_value",
        ),
        (with_literal("seed", str(2**63)), "seed", "integer_above_max_value"),
        (with_literal("temperature", NINES), "temperature", "invalid_value"),
        (with_literal("temperature", "NaN"), None, None),
        (with_literal("top_p", "1e999"), None, None),
    ],
)
def test_bad_input_is_400_naming_the_parameter(
    resource: Resource, body: bytes, param: str | None, code: str | None
) -> None:
    response = post(resource, body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["code"] == code
    assert "Traceback" not in response.text
    assert resource.stats(DEPLOYMENT).rejected == 1


def test_deeply_nested_json_is_a_400_not_a_crash(resource: Resource) -> None:
    response = post(resource, b"[" * 100_000 + b"]" * 100_000)
    assert response.status_code == 400


def test_huge_body_is_413(resource: Resource) -> None:
    filler = "z" * (5 * 1024 * 1024)
    response = post(
        resource, json.dumps({"messages": [{"role": "user", "content": filler}]}).encode()
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "RequestEntityTooLarge"
    # The connection is still usable afterwards.
    assert client(resource).chat.completions.create(model=DEPLOYMENT, messages=HELLO).choices


def test_reset_forgets_counts_and_quota() -> None:
    clock = FakeClock()
    with run_emulator(deployments=[DeploymentConfig(DEPLOYMENT, tpm=300)], clock=clock) as emu:
        resource = emu.resources[0]
        sdk = client(resource)
        sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO, max_tokens=250)
        with pytest.raises(openai.RateLimitError):
            sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO, max_tokens=250)

        resource.reset()

        assert resource.stats(DEPLOYMENT).requests == 0
        sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO, max_tokens=250)
        assert resource.stats(DEPLOYMENT).served == 1


def test_a_client_gone_before_its_body_arrived_is_no_emulator_bug(
    resource: Resource, caplog: pytest.LogCaptureFixture
) -> None:
    host, port = resource.endpoint.removeprefix("http://").split(":")
    path = f"/openai/deployments/{DEPLOYMENT}/chat/completions?api-version={API_VERSION}"
    with caplog.at_level(logging.ERROR), socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nhost: {host}\r\napi-key: {resource.key}\r\n"
            "content-type: application/json\r\ncontent-length: 1000\r\n\r\n{".encode()
        )
    # The next request is answered once the first is over; nothing was logged as a bug.
    assert client(resource).chat.completions.create(model=DEPLOYMENT, messages=HELLO).choices
    assert not [r for r in caplog.records if "emulator bug" in r.getMessage()]
