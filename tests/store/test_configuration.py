"""AOAI_REDIS_URL: a balancer built from the environment shares through Redis by itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from aoai_fallbacks import Balancer, ConfigError, redis_store
from aoai_fallbacks.config import load_redis_url
from aoai_fallbacks.redis_store import RedisStore, shared_store
from core._support import backend


def test_a_balancer_uses_the_redis_the_environment_names(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shared: dict[tuple[str, str], RedisStore] = {}
    monkeypatch.setattr(redis_store, "_shared", shared)  # this test's own, closed at its end
    try:
        built_from_the_environment(redis_url, monkeypatch, tmp_path)
    finally:
        for store in shared.values():
            store.close()


def built_from_the_environment(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AOAI_REDIS_URL", redis_url)
    monkeypatch.setenv("AOAI_REDIS_PREFIX", "my-app")
    one, other = Balancer([backend("01")]), Balancer([backend("02")])
    assert isinstance(one.store, RedisStore)
    assert one.store is other.store  # one store (two connections, two threads) per process
    assert one.store.prefix == "my-app"
    assert one.store is shared_store(redis_url, "my-app")


def test_without_the_variable_a_balancer_learns_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AOAI_REDIS_URL", raising=False)
    assert Balancer([backend("01")]).store is None


def test_store_none_learns_alone_whatever_the_environment_says(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AOAI_REDIS_URL", "redis://127.0.0.1:1/0")  # never asked
    assert Balancer([backend("01")], store=None).store is None


def test_the_variable_may_come_from_a_dotenv_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AOAI_REDIS_URL", raising=False)
    (tmp_path / ".env").write_text("AOAI_REDIS_URL=rediss://:pw@cache.example:6380/2\n")
    assert load_redis_url() == "rediss://:pw@cache.example:6380/2"


@pytest.mark.parametrize(
    "url", ["http://cache:6379", "cache:6379", "https://:pw-SECRET-value@cache:6379/0"]
)
def test_a_url_that_is_not_redis_is_refused_by_name_without_its_password(url: str) -> None:
    with pytest.raises(ConfigError, match="AOAI_REDIS_URL") as refused:
        load_redis_url({"AOAI_REDIS_URL": url}, dotenv=False)
    assert "SECRET" not in str(refused.value)


def test_an_empty_variable_means_no_redis() -> None:
    assert load_redis_url({"AOAI_REDIS_URL": " "}, dotenv=False) is None


def test_a_misspelt_variable_is_named_with_the_right_one() -> None:
    from aoai_fallbacks.config import load_backends

    env = {
        "AOAI_ENDPOINT_01": "https://a.openai.azure.com",
        "AOAI_KEY_01": "k" * 32,
        "AOAI_DEPLOYMENT": "gpt-4o",
        "AOAI_REDIS_ULR": "redis://cache:6379",
    }
    with pytest.raises(ConfigError, match="did you mean AOAI_REDIS_URL"):
        load_backends(env, dotenv=False)


def test_a_prefix_with_spaces_is_refused() -> None:
    with pytest.raises(ConfigError, match="prefix"):
        RedisStore("redis://127.0.0.1:1/0", prefix="my app")
