"""Operations beyond chat: embeddings in their own pool, the Responses API, objects of one resource.

Over the emulator with two resources, each with a chat and an embedding
deployment, through the real openai SDK: classic paths with `AzureOpenAI`
(`balanced_openai_client`), the v1 API with `openai.OpenAI` on the
balancer's transport.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import openai
import pytest

from aoai_fallbacks import Balancer, UnroutableError, balanced_openai_client
from aoai_fallbacks._client import PLACEHOLDER_ENDPOINT, PLACEHOLDER_KEY
from aoai_fallbacks._rewrite import estimate_tokens
from aoai_fallbacks.config import load_backends
from aoai_fallbacks.emulator import DeploymentConfig, Emulator, run_emulator
from aoai_fallbacks.testing import FakeClock
from aoai_fallbacks.transport import BACKEND_HEADER, AsyncBalancingTransport, BalancingTransport

from ._support import ask, backends_of

pytestmark = pytest.mark.integration

CHAT = DeploymentConfig("gpt-4o", tpm=1_000_000)
EMBED = DeploymentConfig("text-embedding-3-small", kind="embeddings", tpm=1_000_000)


@pytest.fixture
def emu(clock: FakeClock) -> Iterator[Emulator]:
    with run_emulator(2, [CHAT, EMBED], clock=clock) as emulator:
        yield emulator


def _balancer(emu: Emulator, clock: FakeClock, **env: str) -> Balancer:
    return Balancer(backends_of(emu, AOAI_PRIORITY_02="2", **env), clock=clock)


def _embed(client: openai.AzureOpenAI, texts: list[str]) -> str:
    raw = client.embeddings.with_raw_response.create(model="any", input=texts)
    vectors = raw.parse().data
    assert [len(v.embedding) for v in vectors] == [1536] * len(texts)
    return raw.headers[BACKEND_HEADER]


def _v1(balancer: Balancer) -> openai.OpenAI:
    """The v1 API's client (deployment in the body), its requests balanced."""
    return openai.OpenAI(
        base_url=f"{PLACEHOLDER_ENDPOINT}/openai/v1/",
        api_key=PLACEHOLDER_KEY,
        max_retries=0,
        http_client=openai.DefaultHttpxClient(transport=BalancingTransport(balancer)),
    )


def test_embeddings_go_to_the_embedding_deployments_and_chat_to_the_chat_ones(
    emu: Emulator, clock: FakeClock
) -> None:
    client = balanced_openai_client(balancer=_balancer(emu, clock))
    assert _embed(client, ["a", "b"]) == "01-embeddings"
    assert ask(client) == "01"
    assert emu.stats(EMBED.name).served == 1
    assert emu.stats(CHAT.name).served == 1


@pytest.mark.parametrize("throttled", [CHAT.name, EMBED.name])
def test_a_throttled_pool_never_cools_the_other(
    emu: Emulator, clock: FakeClock, throttled: str
) -> None:
    balancer = _balancer(emu, clock)
    client = balanced_openai_client(balancer=balancer)
    emu.resources[0].set_faults(throttled, gateway_429=30)
    assert _embed(client, ["a"]) == (
        "02-embeddings" if throttled == EMBED.name else "01-embeddings"
    )
    assert ask(client) == ("02" if throttled == CHAT.name else "01")
    states = {s.name: s.state for s in balancer.snapshot()}
    cooled = "01-embeddings" if throttled == EMBED.name else "01"
    assert states == {
        "01": "available",
        "02": "available",
        "01-embeddings": "available",
        "02-embeddings": "available",
        cooled: "cooling",
    }


def test_the_v1_api_is_balanced_with_the_deployment_named_in_the_body(
    emu: Emulator, clock: FakeClock
) -> None:
    balancer = _balancer(emu, clock)
    client = _v1(balancer)
    emu.resources[0].set_faults(EMBED.name, gateway_429=30)
    raw = client.embeddings.with_raw_response.create(model="any", input="hello")
    assert raw.headers[BACKEND_HEADER] == "02-embeddings"
    answer = client.responses.with_raw_response.create(model="any", input="Tell me a joke.")
    assert answer.headers[BACKEND_HEADER] == "01"
    assert answer.parse().output_text


def test_an_operation_no_backend_serves_names_the_variable_to_set(
    emu: Emulator, clock: FakeClock
) -> None:
    variables = {k: v for k, v in emu.env().items() if k != "AOAI_EMBEDDING_DEPLOYMENT"}
    chat_only = Balancer(load_backends(variables, dotenv=False), clock=clock)
    with pytest.raises(UnroutableError) as caught:
        balanced_openai_client(balancer=chat_only).embeddings.create(model="any", input="a")
    assert "AOAI_EMBEDDING_DEPLOYMENT" in str(caught.value)
    assert caught.value.code == "OperationNotServed"

    variables = {k: v for k, v in emu.env().items() if k != "AOAI_DEPLOYMENT"}
    embeddings_only = Balancer(load_backends(variables, dotenv=False), clock=clock)
    client = balanced_openai_client(balancer=embeddings_only)
    assert _embed(client, ["a"]).endswith("-embeddings")
    with pytest.raises(UnroutableError, match=r"set AOAI_DEPLOYMENT \(or AOAI_DEPLOYMENT_nn\)"):
        ask(client)
    assert emu.stats(CHAT.name).served == 0


def test_a_big_embedding_batch_is_charged_for_every_input(emu: Emulator, clock: FakeClock) -> None:
    """Azure charges every input's tokens: the balancer's estimate must cover them."""
    client = balanced_openai_client(balancer=_balancer(emu, clock))
    texts = [f"document {i}: quotas are shared by every app of a subscription" for i in range(500)]
    raw = client.embeddings.with_raw_response.create(model="any", input=texts)
    charged = raw.parse().usage.prompt_tokens
    sent = raw.http_response.request.content
    assert charged > 5_000
    assert estimate_tokens(sent) >= charged


def test_a_stored_response_is_read_where_it_was_created(emu: Emulator, clock: FakeClock) -> None:
    client = balanced_openai_client(balancer=_balancer(emu, clock))
    first = client.responses.create(model="any", input="one")
    emu.resources[0].set_faults(CHAT.name, gateway_429=30)
    raw = client.responses.with_raw_response.create(model="any", input="two")
    second = raw.parse()
    assert raw.headers[BACKEND_HEADER] == "02"
    for response, where in ((first, "01"), (second, "02")):
        got = client.responses.with_raw_response.retrieve(response.id)
        assert got.headers[BACKEND_HEADER] == where
        assert got.parse().output_text == response.output_text
    # Pinned calls go to their resource even while its chat deployment is throttled.
    client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError) as gone:
        client.responses.retrieve(first.id)
    assert not isinstance(gone.value, UnroutableError)  # the resource's own 404


def test_a_response_that_continues_another_goes_to_its_resource(
    emu: Emulator, clock: FakeClock
) -> None:
    client = balanced_openai_client(balancer=_balancer(emu, clock))
    emu.resources[0].set_faults(CHAT.name, gateway_429=30)
    first = client.responses.create(model="any", input="Tell me about quotas.")
    clock.advance(60)  # 01 is preferred again
    emu.resources[0].set_faults(CHAT.name, gateway_429=None)
    assert ask(client) == "01"
    raw = client.responses.with_raw_response.create(
        model="any", input="And then?", previous_response_id=first.id
    )
    assert raw.headers[BACKEND_HEADER] == "02"
    assert raw.parse().previous_response_id == first.id


def test_a_response_of_no_known_resource_is_refused_before_anything_is_sent(
    emu: Emulator, clock: FakeClock
) -> None:
    client = balanced_openai_client(balancer=_balancer(emu, clock))
    with pytest.raises(UnroutableError, match="resp_elsewhere") as caught:
        client.responses.create(model="any", input="hi", previous_response_id="resp_elsewhere")
    assert caught.value.code == "UnknownObject"
    assert emu.stats(CHAT.name).served + emu.stats(CHAT.name).rejected == 0


def test_a_streamed_response_is_balanced_and_remembered(emu: Emulator, clock: FakeClock) -> None:
    client = balanced_openai_client(balancer=_balancer(emu, clock))
    emu.resources[0].set_faults(CHAT.name, gateway_429=30)
    with client.responses.stream(model="any", input="Stream me a joke.") as stream:
        final = stream.get_final_response()
    assert final.output_text
    got = client.responses.with_raw_response.retrieve(final.id)
    assert got.headers[BACKEND_HEADER] == "02"


def test_the_async_client_routes_the_same_way(emu: Emulator, clock: FakeClock) -> None:
    balancer = _balancer(emu, clock)
    client = openai.AsyncOpenAI(
        base_url=f"{PLACEHOLDER_ENDPOINT}/openai/v1/",
        api_key=PLACEHOLDER_KEY,
        max_retries=0,
        http_client=openai.DefaultAsyncHttpxClient(transport=AsyncBalancingTransport(balancer)),
    )

    async def scenario() -> list[str]:
        created = await client.responses.create(model="any", input="hi")
        embedded = await client.embeddings.with_raw_response.create(model="any", input="hi")
        got = await client.responses.with_raw_response.retrieve(created.id)
        with pytest.raises(UnroutableError):
            await client.files.list()
        return [embedded.headers[BACKEND_HEADER], got.headers[BACKEND_HEADER]]

    assert asyncio.run(scenario()) == ["01-embeddings", "01"]


def test_listing_across_resources_is_refused_with_the_reason(
    emu: Emulator, clock: FakeClock
) -> None:
    client = balanced_openai_client(balancer=_balancer(emu, clock))
    with pytest.raises(UnroutableError, match="does not merge lists across resources"):
        client.files.list()
    with pytest.raises(UnroutableError, match="no pool holds"):
        client.images.generate(model="dall-e-3", prompt="a quota")
