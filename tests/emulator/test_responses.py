"""The Responses API on chat deployments, through the openai SDK over real HTTP: create, stream,
stored responses that live on the resource that made them, quota, faults and bad requests."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest
from pydantic import BaseModel

from aoai_fallbacks.emulator import DeploymentConfig, Emulator, Resource, run_emulator
from aoai_fallbacks.emulator._store import ResponseStore, StoredResponse
from aoai_fallbacks.testing import FakeClock

from ._support import DEPLOYMENT, client, v1_client

pytestmark = pytest.mark.integration

API_VERSION = "2025-03-01-preview"
EMBEDDING = "text-embedding-3-small"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture
def emulator(clock: FakeClock) -> Iterator[Emulator]:
    """Two resources with a chat and an embeddings deployment each."""
    with run_emulator(
        resources=2,
        deployments=[DeploymentConfig(DEPLOYMENT), DeploymentConfig(EMBEDDING, kind="embeddings")],
        clock=clock,
    ) as emu:
        yield emu


@pytest.fixture
def other(emulator: Emulator) -> Resource:
    return emulator.resources[1]


def azure(resource: Resource) -> openai.AzureOpenAI:
    return client(resource, api_version=API_VERSION)


def test_create_answers_a_response_on_the_classic_and_the_v1_path(resource: Resource) -> None:
    classic = azure(resource).responses.with_raw_response.create(
        model=DEPLOYMENT, input="Say hello.", instructions="Be brief.", max_output_tokens=100
    )
    answer = classic.parse()
    plain = v1_client(resource).responses.create(model=DEPLOYMENT, input="Say hello.")

    assert answer.id.startswith("resp_")
    assert answer.id != plain.id
    assert (answer.object, answer.status, answer.model) == ("response", "completed", DEPLOYMENT)
    assert answer.instructions == "Be brief."
    [message] = answer.output
    assert message.type == "message"
    assert message.content[0].type == "output_text"
    assert answer.output_text == message.content[0].text != ""
    assert answer.usage is not None
    usage = answer.usage
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens == 0
    assert usage.output_tokens_details.reasoning_tokens == 0
    # Charged the prompt and the whole max_output_tokens on arrival, as chat is.
    remaining = 10_000 - usage.input_tokens - 100
    assert classic.headers["x-ratelimit-remaining-tokens"] == str(remaining)
    assert classic.headers["x-request-id"]
    assert resource.stats(DEPLOYMENT).served == 2


def test_stream_sends_every_event_in_order_and_parses_with_both_sdk_calls(
    resource: Resource,
) -> None:
    events = list(
        azure(resource).responses.create(model=DEPLOYMENT, input="Tell me more.", stream=True)
    )
    with v1_client(resource).responses.stream(model=DEPLOYMENT, input="Tell me more.") as stream:
        helped = [event.type for event in stream]
        final = stream.get_final_response()

    kinds = [event.type for event in events]
    deltas = kinds.count("response.output_text.delta")
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * deltas,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert deltas > 1
    assert [event.sequence_number for event in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == text
    assert helped[-1] == "response.completed"
    assert final.output_text
    assert final.status == "completed"
    assert resource.stats(DEPLOYMENT).served == 2


def test_the_wire_names_each_event(resource: Resource) -> None:
    with httpx.stream(
        "POST",
        f"{resource.endpoint}/openai/v1/responses",
        headers={"api-key": resource.key},
        json={"model": DEPLOYMENT, "input": "hi", "stream": True},
    ) as answer:
        lines = [line for line in answer.iter_lines() if line]

    assert answer.headers["content-type"].startswith("text/event-stream")
    names = [line.removeprefix("event: ") for line in lines[::2]]
    datas = [json.loads(line.removeprefix("data: ")) for line in lines[1::2]]
    assert names == [data["type"] for data in datas]
    assert names[0] == "response.created"
    assert names[-1] == "response.completed"


def test_stored_responses_live_on_the_resource_that_made_them(
    resource: Resource, other: Resource
) -> None:
    made = azure(resource).responses.create(model=DEPLOYMENT, input="Remember me.")

    assert azure(resource).responses.retrieve(made.id).output_text == made.output_text
    assert v1_client(resource).responses.retrieve(made.id).id == made.id
    [item] = list(azure(resource).responses.input_items.list(made.id))
    assert (item.type, item.role) == ("message", "user")
    assert item.content[0].type == "input_text"
    assert item.content[0].text == "Remember me."
    for call in (
        lambda: azure(other).responses.retrieve(made.id),
        lambda: v1_client(other).responses.delete(made.id),
        lambda: azure(other).responses.input_items.list(made.id),
        lambda: azure(other).responses.cancel(made.id),
    ):
        with pytest.raises(openai.NotFoundError) as missing:
            call()
        assert missing.value.response.json()["error"]["message"] == (
            f"Response with id '{made.id}' not found."
        )

    azure(resource).responses.delete(made.id)
    with pytest.raises(openai.NotFoundError):
        azure(resource).responses.retrieve(made.id)
    # Neither retrieval nor deletion is a model call: not counted, not charged.
    assert resource.stats(DEPLOYMENT).requests == other.stats(DEPLOYMENT).requests + 1 == 1


def test_a_response_not_stored_cannot_be_retrieved(resource: Resource) -> None:
    made = azure(resource).responses.create(model=DEPLOYMENT, input="Forget me.", store=False)

    assert made.output_text
    with pytest.raises(openai.NotFoundError):
        azure(resource).responses.retrieve(made.id)


def test_previous_response_continues_only_where_it_is_stored(
    resource: Resource, other: Resource
) -> None:
    first = azure(resource).responses.create(model=DEPLOYMENT, input="Hello there.")
    follow = v1_client(resource).responses.create(
        model=DEPLOYMENT, input="And then?", previous_response_id=first.id
    )

    assert follow.previous_response_id == first.id
    assert first.usage is not None
    assert follow.usage is not None
    assert follow.usage.input_tokens > first.usage.input_tokens + first.usage.output_tokens
    with pytest.raises(openai.BadRequestError) as elsewhere:
        azure(other).responses.create(
            model=DEPLOYMENT, input="And then?", previous_response_id=first.id
        )
    assert elsewhere.value.response.json() == {
        "error": {
            "message": f"Previous response with id '{first.id}' not found.",
            "type": "invalid_request_error",
            "param": "previous_response_id",
            "code": "previous_response_not_found",
        }
    }
    assert other.stats(DEPLOYMENT).rejected == 1


def test_only_background_responses_can_be_cancelled(resource: Resource) -> None:
    foreground = azure(resource).responses.create(model=DEPLOYMENT, input="hi")
    background = azure(resource).responses.create(model=DEPLOYMENT, input="hi", background=True)

    with pytest.raises(openai.BadRequestError):
        azure(resource).responses.cancel(foreground.id)
    cancelled = v1_client(resource).responses.cancel(background.id)
    assert (cancelled.id, cancelled.status) == (background.id, "completed")


def test_input_items_pages_in_either_order(resource: Resource) -> None:
    made = azure(resource).responses.create(
        model=DEPLOYMENT,
        input=[
            {"role": "developer", "content": "Answer in one word."},
            {"role": "user", "content": [{"type": "input_text", "text": "Colour of the sky?"}]},
            {"role": "assistant", "content": "Blue."},
            {"role": "user", "content": "And grass?"},
        ],
    )
    items = azure(resource).responses.input_items
    ascending = [item.id for item in items.list(made.id, order="asc")]
    page = items.list(made.id, limit=2)

    assert len(ascending) == 4
    assert [item.id for item in page.data] == ascending[::-1][:2]
    assert page.has_more
    assert [item.id for item in page.get_next_page().data] == ascending[1::-1]


def test_a_function_tool_is_called_and_its_output_followed_up(resource: Resource) -> None:
    sdk = v1_client(resource)
    asked = sdk.responses.create(
        model=DEPLOYMENT, input="What is the weather in Paris?", tools=[WEATHER]
    )
    [call] = asked.output
    assert call.type == "function_call"
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "Paris"})

    with sdk.responses.stream(
        model=DEPLOYMENT,
        previous_response_id=asked.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        tools=[WEATHER],
    ) as stream:
        final = stream.get_final_response()
    assert final.output[0].type == "message"


class Sky(BaseModel):
    colour: str
    clouds: int


def test_a_json_schema_format_answers_json_that_parses(resource: Resource) -> None:
    parsed = azure(resource).responses.parse(
        model=DEPLOYMENT, input="Describe the sky.", text_format=Sky
    )

    assert isinstance(parsed.output_parsed, Sky)


def test_a_cut_stream_fails_the_sdk_and_counts_as_failed(resource: Resource) -> None:
    resource.set_faults(DEPLOYMENT, drop_after_chunks=3)
    stream = azure(resource).responses.create(model=DEPLOYMENT, input="hi", stream=True)
    received = []
    with pytest.raises(openai.APIConnectionError):
        received.extend(stream)

    assert [event.type for event in received] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
    ]
    stats = resource.stats(DEPLOYMENT)
    assert (stats.failed, stats.served) == (1, 0)


def test_responses_are_throttled_like_chat(clock: FakeClock) -> None:
    config = DeploymentConfig(DEPLOYMENT, tpm=1_000, rpm=600, default_max_tokens=400)
    with run_emulator(deployments=[config], clock=clock) as emu:
        resource = emu.resources[0]
        azure(resource).responses.create(model=DEPLOYMENT, input="hi")
        clock.advance(2.5)
        with pytest.raises(openai.RateLimitError) as throttled:
            azure(resource).responses.create(model=DEPLOYMENT, input="hi", max_output_tokens=600)

        headers = throttled.value.response.headers
        assert (headers["retry-after"], headers["retry-after-ms"]) == ("58", "57500")
        assert (
            "Requests to the Responses_Create Operation under Azure OpenAI API version "
            + (API_VERSION)
            in throttled.value.message
        )
        assert resource.stats(DEPLOYMENT).throttled == 1


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"input": "hi"}, "model", "missing_required_parameter"),
        ({"model": DEPLOYMENT}, "input", "missing_required_parameter"),
        ({"model": DEPLOYMENT, "input": 3}, "input", "invalid_type"),
        ({"model": DEPLOYMENT, "input": [{"role": "pilot", "content": "x"}]}, "input", None),
        ({"model": DEPLOYMENT, "input": "hi", "max_output_tokens": 15}, "max_output_tokens", None),
        ({"model": DEPLOYMENT, "input": "hi", "temperature": 3}, "temperature", "invalid_value"),
        ({"model": DEPLOYMENT, "input": "hi", "store": "yes"}, "store", "invalid_type"),
        ({"model": DEPLOYMENT, "input": "hi", "tools": [{"type": "web_search"}]}, "tools", None),
    ],
)
def test_bad_requests_are_400_naming_the_parameter(
    resource: Resource, body: dict[str, object], param: str, code: str | None
) -> None:
    answer = httpx.post(
        f"{resource.endpoint}/openai/v1/responses", headers={"api-key": resource.key}, json=body
    )

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["param"].startswith(param)
    assert code is None or error["code"] == code


def test_the_classic_path_needs_the_key_and_an_api_version(resource: Resource) -> None:
    url = f"{resource.endpoint}/openai/responses"
    body = {"model": DEPLOYMENT, "input": "hi"}
    made = azure(resource).responses.create(model=DEPLOYMENT, input="hi")

    assert httpx.post(url, headers={"api-key": resource.key}, json=body).status_code == 404
    assert httpx.post(url, params={"api-version": API_VERSION}, json=body).status_code == 401
    assert httpx.get(f"{url}/{made.id}", params={"api-version": API_VERSION}).status_code == 401
    with pytest.raises(openai.NotFoundError):
        azure(resource).responses.create(model="nope", input="hi")
    with pytest.raises(openai.BadRequestError) as embeddings:
        azure(resource).responses.create(model=EMBEDDING, input="hi")
    assert embeddings.value.code == "OperationNotSupported"
    assert "The responses operation does not work with the specified model" in (
        embeddings.value.message
    )


def test_reset_forgets_stored_responses(emulator: Emulator, resource: Resource) -> None:
    made = azure(resource).responses.create(model=DEPLOYMENT, input="hi")
    emulator.reset()

    with pytest.raises(openai.NotFoundError):
        azure(resource).responses.retrieve(made.id)


def test_the_store_keeps_only_the_newest() -> None:
    store = ResponseStore(limit=2)
    for name in ("a", "b", "c"):
        store.put(StoredResponse({"id": name}, [], []))

    assert [store.get(name) is not None for name in ("a", "b", "c")] == [False, True, True]


def test_an_answer_cut_at_max_output_tokens_is_incomplete(resource: Resource) -> None:
    many = {
        "type": "json_schema",
        "name": "many",
        "schema": {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": {"type": "string"}, "minItems": 50}
            },
            "required": ["items"],
        },
    }
    cut = azure(resource).responses.create(
        model=DEPLOYMENT, input="List them.", max_output_tokens=16, text={"format": many}
    )
    events = list(
        azure(resource).responses.create(
            model=DEPLOYMENT,
            input="List them.",
            max_output_tokens=16,
            text={"format": many},
            stream=True,
        )
    )

    assert cut.status == "incomplete"
    assert cut.incomplete_details is not None
    assert cut.incomplete_details.reason == "max_output_tokens"
    assert cut.usage is not None
    assert cut.usage.output_tokens == 16
    assert events[-1].type == "response.incomplete"


def test_a_streamed_function_call_sends_its_arguments_in_pieces(resource: Resource) -> None:
    events = list(
        v1_client(resource).responses.create(
            model=DEPLOYMENT, input="What is the weather in Paris?", tools=[WEATHER], stream=True
        )
    )

    kinds = [event.type for event in events]
    assert "response.content_part.added" not in kinds
    assert kinds.count("response.function_call_arguments.done") == 1
    pieces = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    assert json.loads("".join(pieces)) == {"city": "Paris"}
