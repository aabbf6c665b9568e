"""Embedding deployments over real HTTP, through the openai SDK and LangChain: vectors, formats,
bad input, quota and the operations a deployment's model does not do."""

from __future__ import annotations

import array
import base64
import math
from collections.abc import Iterator

import httpx
import openai
import pytest
from langchain_openai import AzureOpenAIEmbeddings

from aoai_fallbacks._cli import build_parser, main
from aoai_fallbacks.emulator import DeploymentConfig, Emulator, Resource, run_emulator
from aoai_fallbacks.emulator._cli import deployments
from aoai_fallbacks.testing import FakeClock

from ._support import DEPLOYMENT, HELLO, client, v1_client

pytestmark = pytest.mark.integration

EMBEDDING = "text-embedding-3-small"
ADA = "text-embedding-ada-002"
API_VERSION = "2025-03-01-preview"


@pytest.fixture
def emulator(clock: FakeClock) -> Iterator[Emulator]:
    with run_emulator(
        deployments=[
            DeploymentConfig(DEPLOYMENT),
            DeploymentConfig(EMBEDDING, kind="embeddings", tpm=100_000, dimensions=512),
            DeploymentConfig(ADA, kind="embeddings", tpm=100_000),
        ],
        clock=clock,
    ) as emu:
        yield emu


def azure(resource: Resource) -> openai.AzureOpenAI:
    return client(resource, api_version=API_VERSION)


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(x * x for x in vector))


def test_one_text_gets_a_stable_unit_vector_of_the_deployments_dimension(
    resource: Resource,
) -> None:
    first = azure(resource).embeddings.create(model=EMBEDDING, input="hello world")
    again = v1_client(resource).embeddings.create(model=EMBEDDING, input="hello world")
    other = azure(resource).embeddings.create(model=EMBEDDING, input="goodbye")

    assert first.object == "list"
    assert first.model == EMBEDDING
    [item] = first.data
    assert (item.index, item.object, len(item.embedding)) == (0, "embedding", 512)
    assert norm(item.embedding) == pytest.approx(1.0, abs=1e-5)
    assert again.data[0].embedding == item.embedding
    assert other.data[0].embedding != item.embedding
    assert first.usage.prompt_tokens == first.usage.total_tokens == 3  # 11 characters
    assert resource.stats(EMBEDDING).served == 3


def test_a_batch_answers_in_order_and_charges_every_input(resource: Resource) -> None:
    texts = ["alpha", "beta beta", "gamma gamma gamma"]
    batch = azure(resource).embeddings.create(model=ADA, input=texts)
    singles = [azure(resource).embeddings.create(model=ADA, input=t) for t in texts]

    assert [d.index for d in batch.data] == [0, 1, 2]
    assert [len(d.embedding) for d in batch.data] == [1536] * 3
    assert [d.embedding for d in batch.data] == [s.data[0].embedding for s in singles]
    assert batch.usage.total_tokens == 2 + 3 + 5


def test_token_arrays_count_their_length(resource: Resource) -> None:
    one = azure(resource).embeddings.create(model=EMBEDDING, input=[1, 2, 3, 4, 5])
    many = v1_client(resource).embeddings.create(model=EMBEDDING, input=[[1, 2], [3, 4, 5]])

    assert len(one.data) == 1
    assert one.usage.total_tokens == 5
    assert len(many.data) == 2
    assert many.usage.total_tokens == 5


def test_float_and_base64_carry_the_same_float32_vector(resource: Resource) -> None:
    url = f"{resource.endpoint}/openai/deployments/{EMBEDDING}/embeddings"

    def raw(encoding: str) -> object:
        answer = httpx.post(
            url,
            params={"api-version": API_VERSION},
            headers={"api-key": resource.key},
            json={"input": "same", "encoding_format": encoding},
        )
        assert answer.status_code == 200
        return answer.json()["data"][0]["embedding"]

    floats, encoded = raw("float"), raw("base64")
    assert isinstance(encoded, str)
    decoded = array.array("f", base64.b64decode(encoded)).tolist()
    assert decoded == floats
    # The SDK asks for base64 unless told otherwise, and decodes it to the same floats.
    assert azure(resource).embeddings.create(model=EMBEDDING, input="same").data[0].embedding == (
        floats
    )
    explicit = azure(resource).embeddings.create(
        model=EMBEDDING, input="same", encoding_format="float"
    )
    assert explicit.data[0].embedding == floats


def test_dimensions_shortens_text_embedding_3_vectors_only(resource: Resource) -> None:
    short = azure(resource).embeddings.create(model=EMBEDDING, input="hi", dimensions=64)

    assert len(short.data[0].embedding) == 64
    assert norm(short.data[0].embedding) == pytest.approx(1.0, abs=1e-5)
    for model, dimensions in ((EMBEDDING, 513), (EMBEDDING, 0), (ADA, 256)):
        with pytest.raises(openai.BadRequestError) as refused:
            azure(resource).embeddings.create(model=model, input="hi", dimensions=dimensions)
        assert refused.value.body["param"] == "dimensions"  # type: ignore[index]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"input": ""},
        {"input": []},
        {"input": 5},
        {"input": [1, "two"]},
        {"input": [[1], "two"]},
        {"input": [[]]},
        {"input": ["x"] * 2049},
        {"input": "x", "encoding_format": "int8"},
        {"input": "x", "user": 3},
    ],
)
def test_bad_bodies_are_400_naming_the_parameter(
    resource: Resource, body: dict[str, object]
) -> None:
    answer = httpx.post(
        f"{resource.endpoint}/openai/v1/embeddings",
        headers={"api-key": resource.key},
        json={"model": EMBEDDING, **body},
    )

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] in {"input", "encoding_format", "user"}
    assert resource.stats(EMBEDDING).rejected == 1


def test_an_input_over_8192_tokens_is_refused_before_the_quota(resource: Resource) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        azure(resource).embeddings.create(model=EMBEDDING, input=["short", "x" * 40_000])

    assert refused.value.code == "context_length_exceeded"
    assert "maximum context length is 8192 tokens, however you requested 10000 tokens" in str(
        refused.value
    )
    assert resource.deployments[EMBEDDING].quota.remaining()[1] == 100_000


def test_classic_path_needs_the_key_the_api_version_and_a_deployment(resource: Resource) -> None:
    url = f"{resource.endpoint}/openai/deployments/{EMBEDDING}/embeddings"
    body = {"input": "x"}

    no_key = httpx.post(url, params={"api-version": API_VERSION}, json=body)
    no_version = httpx.post(url, headers={"api-key": resource.key}, json=body)
    missing = httpx.post(
        url.replace(EMBEDDING, "nope"),
        params={"api-version": API_VERSION},
        headers={"api-key": resource.key},
        json=body,
    )

    assert no_key.status_code == 401
    assert no_version.status_code == 404
    assert missing.json()["error"]["code"] == "DeploymentNotFound"


def test_each_model_refuses_the_other_operation_as_azure_does(resource: Resource) -> None:
    with pytest.raises(openai.BadRequestError) as chat_for_embeddings:
        azure(resource).embeddings.create(model=DEPLOYMENT, input="x")
    with pytest.raises(openai.BadRequestError) as embeddings_for_chat:
        azure(resource).chat.completions.create(model=EMBEDDING, messages=HELLO)  # type: ignore[arg-type]

    assert chat_for_embeddings.value.response.json() == {
        "error": {
            "code": "OperationNotSupported",
            "message": "The embeddings operation does not work with the specified model, "
            "gpt-35-turbo. Please choose different model and try again. You can learn more "
            "about which models can be used with each operation here: "
            "https://go.microsoft.com/fwlink/?linkid=2197993.",
        }
    }
    assert embeddings_for_chat.value.code == "OperationNotSupported"
    assert "The chatCompletion operation does not work with the specified model, " + EMBEDDING in (
        embeddings_for_chat.value.message
    )
    assert resource.stats(DEPLOYMENT).rejected == resource.stats(EMBEDDING).rejected == 1


def test_embeddings_are_throttled_with_the_deployments_dialect(clock: FakeClock) -> None:
    config = DeploymentConfig(
        EMBEDDING, kind="embeddings", tpm=100, rpm=600, retry_after="seconds", reset_headers=True
    )
    with run_emulator(deployments=[config], clock=clock) as emu:
        resource = emu.resources[0]
        client = azure(resource)
        first = client.embeddings.with_raw_response.create(model=EMBEDDING, input="x" * 320)
        clock.advance(1.5)
        with pytest.raises(openai.RateLimitError) as throttled:
            client.embeddings.create(model=EMBEDDING, input="x" * 160)

        assert first.headers["x-ratelimit-remaining-tokens"] == "20"
        headers = throttled.value.response.headers
        assert headers["retry-after"] == "59"  # the 80 tokens leave at 60 s; it is 1.5 s
        assert "retry-after-ms" not in headers
        assert headers["x-ratelimit-reset-tokens"] == "58.5s"
        assert (
            "Requests to the Embeddings_Create Operation under Azure OpenAI API version "
            + (API_VERSION)
            in throttled.value.message
        )
        assert resource.stats(EMBEDDING).throttled == 1


def test_langchain_embeds_documents_and_a_query(resource: Resource) -> None:
    embeddings = AzureOpenAIEmbeddings(
        azure_endpoint=resource.endpoint,
        api_key=resource.key,  # type: ignore[arg-type]
        api_version=API_VERSION,
        azure_deployment=EMBEDDING,
        max_retries=0,
        check_embedding_ctx_length=False,  # else it tokenizes with tiktoken, which downloads
    )

    documents = embeddings.embed_documents(["one", "two", "one"])
    query = embeddings.embed_query("one")

    assert len(documents) == 3
    assert documents[0] == documents[2] == query
    assert documents[1] != documents[0]
    assert len(query) == 512


def test_env_and_cli_declare_the_embedding_deployment(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert emulator.env()["AOAI_DEPLOYMENT"] == DEPLOYMENT
    assert emulator.env()["AOAI_EMBEDDING_DEPLOYMENT"] == EMBEDDING
    assert emulator.env(embedding_deployment=ADA)["AOAI_EMBEDDING_DEPLOYMENT"] == ADA

    args = build_parser().parse_args(
        ["emulate", "--tpm", "500", "--embedding-deployment", "emb:9000"]
    )
    assert deployments(args) == [
        DeploymentConfig("gpt-35-turbo", tpm=500),
        DeploymentConfig("emb", kind="embeddings", tpm=9000),
    ]
    assert main(["emulate", "--duration", "0", "--embedding-deployment", "emb"]) == 0
    assert "AOAI_EMBEDDING_DEPLOYMENT=emb\n" in capsys.readouterr().out
    assert "AOAI_EMBEDDING_DEPLOYMENT" not in main_env(capsys)


def main_env(capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["emulate", "--duration", "0"]) == 0
    return capsys.readouterr().out


def test_config_checks_kind_and_dimensions() -> None:
    for bad in (
        {"kind": "images"},
        {"kind": "embeddings", "dimensions": 0},
        {"kind": "embeddings", "dimensions": True},
        {"dimensions": 256},
    ):
        with pytest.raises(ValueError, match=r"kind|dimensions"):
            DeploymentConfig("x", **bad)
