"""The real redis-server the Redis tests and the bench run against: it starts, crashes
when told, comes back on the same port, empties on demand, and never outlives its owner."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
import redis

from aoai_fallbacks._cli.bench.redis_server import RedisServer


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url, socket_timeout=5)
    yield connection
    connection.close()


def test_stop_is_a_crash_and_start_brings_the_server_back_empty_on_the_same_port(
    redis_server: RedisServer, redis_url: str, client: redis.Redis
) -> None:
    client.set("key", "value")
    port = redis_server.port

    redis_server.stop()
    assert not redis_server.running
    with pytest.raises(redis.ConnectionError):
        client.ping()

    redis_server.start()
    assert (redis_server.port, redis_server.url) == (port, redis_url)
    assert client.ping() is True
    assert client.get("key") is None  # nothing saved: a restart comes back empty


def test_redis_url_hands_each_test_a_running_empty_server(
    redis_server: RedisServer, client: redis.Redis
) -> None:
    assert client.dbsize() == 0
    client.set("left", "behind")
    redis_server.stop()  # left stopped: the next test's redis_url starts it again


def test_flush_empties_the_server(redis_server: RedisServer, client: redis.Redis) -> None:
    assert client.dbsize() == 0
    client.set("key", "value")
    redis_server.flush()
    assert client.dbsize() == 0


def test_a_server_left_running_dies_with_the_interpreter_that_started_it() -> None:
    owner = (
        "from aoai_fallbacks._cli.bench.redis_server import RedisServer\n"
        "server = RedisServer().start()\n"
        "print(server.port, flush=True)\n"
    )
    if not RedisServer.installed():
        pytest.skip("redis-server is not installed")
    done = subprocess.run([sys.executable, "-c", owner], capture_output=True, check=True)
    with pytest.raises(ConnectionError):
        socket.create_connection(("127.0.0.1", int(done.stdout)), timeout=5).close()


def test_a_server_that_cannot_listen_says_why(redis_server: RedisServer) -> None:
    taken = RedisServer(port=redis_server.port)  # the session's server holds that port
    try:
        with pytest.raises(RuntimeError, match=f"did not start on port {redis_server.port}"):
            taken.start()
        assert not taken.running
    finally:
        taken.close()
