"""``AOAI_EMBEDDING_DEPLOYMENT[_nn]``: the embeddings pool beside the chat deployments."""

from __future__ import annotations

import pytest

from aoai_fallbacks import ConfigError
from aoai_fallbacks.config import Backend, load_backends

KEY = "k3y-embeddings-test-7c2e"


def _env(**variables: str) -> dict[str, str]:
    return {
        "AOAI_ENDPOINT_01": "https://one.openai.azure.com",
        "AOAI_KEY_01": KEY,
        "AOAI_ENDPOINT_02": "https://two.openai.azure.com",
        "AOAI_KEY_02": KEY,
        **variables,
    }


def _pools(backends: list[Backend]) -> list[tuple[str, str, str]]:
    return [(b.name, b.pool, b.deployment) for b in backends]


def test_a_shared_embedding_deployment_gives_every_backend_its_twin() -> None:
    backends = load_backends(
        _env(AOAI_DEPLOYMENT="gpt-4o", AOAI_EMBEDDING_DEPLOYMENT="text-embedding-3-small")
    )
    assert _pools(backends) == [
        ("01", "chat", "gpt-4o"),
        ("02", "chat", "gpt-4o"),
        ("01-embeddings", "embeddings", "text-embedding-3-small"),
        ("02-embeddings", "embeddings", "text-embedding-3-small"),
    ]
    chat, twin = backends[0], backends[2]
    assert (twin.endpoint, twin.api_key, twin.priority) == (chat.endpoint, KEY, chat.priority)
    assert twin.label == "01-embeddings (text-embedding-3-small)"


def test_a_backend_may_serve_chat_only_embeddings_only_or_both() -> None:
    backends = load_backends(
        _env(
            AOAI_ENDPOINT_03="https://three.openai.azure.com",
            AOAI_KEY_03=KEY,
            AOAI_DEPLOYMENT_01="gpt-4o",
            AOAI_DEPLOYMENT_02="gpt-4o",
            AOAI_EMBEDDING_DEPLOYMENT_02="ada-002",
            AOAI_EMBEDDING_DEPLOYMENT_03="text-embedding-3-large",
            AOAI_PRIORITY_03="2",
        )
    )
    assert _pools(backends) == [
        ("01", "chat", "gpt-4o"),
        ("02", "chat", "gpt-4o"),
        ("02-embeddings", "embeddings", "ada-002"),
        ("03-embeddings", "embeddings", "text-embedding-3-large"),
    ]
    assert backends[-1].priority == 2


def test_a_backend_with_no_deployment_at_all_names_both_variables() -> None:
    with pytest.raises(ConfigError) as caught:
        load_backends(_env(AOAI_DEPLOYMENT_01="gpt-4o"))
    message = str(caught.value)
    assert "AOAI_DEPLOYMENT_02 (chat)" in message
    assert "AOAI_EMBEDDING_DEPLOYMENT_02 (embeddings)" in message
    assert KEY not in message


def test_a_larger_tier_needs_a_chat_deployment_to_follow() -> None:
    with pytest.raises(ConfigError, match="AOAI_LARGE_DEPLOYMENT_02 is set but backend 02"):
        load_backends(
            _env(
                AOAI_DEPLOYMENT_01="gpt-4o",
                AOAI_EMBEDDING_DEPLOYMENT_02="ada-002",
                AOAI_LARGE_DEPLOYMENT_02="gpt-4-32k",
            )
        )


def test_a_shared_larger_tier_skips_embedding_only_backends() -> None:
    backends = load_backends(
        _env(
            AOAI_DEPLOYMENT_01="gpt-4",
            AOAI_EMBEDDING_DEPLOYMENT_02="ada-002",
            AOAI_LARGE_DEPLOYMENT="gpt-4-32k",
        )
    )
    assert _pools(backends) == [
        ("01", "chat", "gpt-4"),
        ("01-large", "chat", "gpt-4-32k"),
        ("02-embeddings", "embeddings", "ada-002"),
    ]


def test_one_deployment_cannot_be_both_the_chat_and_the_embedding_one() -> None:
    with pytest.raises(ConfigError) as caught:
        load_backends(_env(AOAI_DEPLOYMENT="gpt-4o", AOAI_EMBEDDING_DEPLOYMENT_02="gpt-4o"))
    assert "the embedding deployment of AOAI_ENDPOINT_02" in str(caught.value)


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("AOAI_EMBEDDINGS_DEPLOYMENT", "AOAI_EMBEDDING_DEPLOYMENT"),
        ("AOAI_EMBEDING_DEPLOYMENT_01", "AOAI_EMBEDDING_DEPLOYMENT_01"),
    ],
)
def test_a_misspelt_embedding_variable_is_named_with_the_right_one(typo: str, meant: str) -> None:
    with pytest.raises(ConfigError, match=f"did you mean {meant}"):
        load_backends(_env(AOAI_DEPLOYMENT="gpt-4o", **{typo: "ada-002"}))


def test_a_malformed_embedding_deployment_name_is_refused_by_its_variable() -> None:
    with pytest.raises(ConfigError, match="AOAI_EMBEDDING_DEPLOYMENT_01"):
        load_backends(_env(AOAI_DEPLOYMENT="gpt-4o", AOAI_EMBEDDING_DEPLOYMENT_01="a/../b"))


def test_an_embedding_backend_has_no_larger_tier() -> None:
    with pytest.raises(ConfigError, match="no larger tier"):
        Backend(
            name="01",
            endpoint="https://one.openai.azure.com",
            deployment="ada-002",
            pool="embeddings",
            tier="large",
        )
    with pytest.raises(ConfigError, match="pool must be"):
        Backend(
            name="01",
            endpoint="https://one.openai.azure.com",
            deployment="ada-002",
            pool="images",  # type: ignore[arg-type]
        )
