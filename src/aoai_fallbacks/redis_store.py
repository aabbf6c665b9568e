"""`RedisStore`: balancers in many processes share what they learn through Redis.

Gunicorn, uvicorn or Celery workers, and replicas behind a load balancer,
each run their own `Balancer`. Alone, each would discover every 429, every
cooldown and every dead backend for itself, and each one's learned window
would be wrong, because the others spend the same quota. Pointed at one
Redis (``AOAI_REDIS_URL``, or ``Balancer(store=RedisStore(url))``) they
learn as one.

How (see `aoai_fallbacks._store` for the facts themselves):

* **Off the request path.** A balancer tells its facts to the store, which
  queues them; a writer thread sends each batch in one pipeline and
  publishes it on one channel. A listener thread applies what the others
  publish. So a request reads local memory only, whatever Redis does; the one
  exception is the probe of a recovering backend, claimed with an atomic
  ``SET NX PX`` so that one process at a time probes it. A stored response,
  file or batch created through one process is recorded at once (one ``SET``
  as it is created) and looked up by another only when it does not know the
  id itself, so any process, or proxy worker, finds its resource.
* **Kept as keys, for those who join later.** Each fact also lands in keys
  that expire with it: a cooldown as a key that expires when the cooldown
  does (a later 429 extends it, never shortens it), circuits and
  quarantines likewise, the last quota reading for a minute, the learned
  window for an hour, and the requests of the last window and those in
  flight in sorted sets trimmed as they age. A process that starts, or
  reconnects, reads them before it listens.
* **Named by hash.** Keys are ``{prefix}:{hash of endpoint and deployment}:...``
  (``{prefix}:{hash of the id}:owner`` for an object's creator):
  no endpoint, key or secret is written to Redis. `prefix` separates apps
  that share one Redis.
* **Redis trouble fails no request.** An error or a reply slower than
  `timeout` marks Redis down with one warning; every balancer then goes on
  with what it knows, alone. The writer asks again every `retry_every`
  seconds; when Redis answers, one line says so, each balancer writes what it
  knows again (a restarted Redis comes back empty), and the listener
  catches up from the keys.

One store serves any number of balancers in the process (each with its own
backends); `Balancer()` built from the environment shares one per URL.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aoai_fallbacks._log import logger, register_secret
from aoai_fallbacks._store import Fact, Sink
from aoai_fallbacks._window import RETAIN
from aoai_fallbacks.errors import ConfigError

if TYPE_CHECKING:
    import redis

__all__ = ["RedisStore", "environment_store", "shared_store"]

OUTBOX = 10_000
"""Batches of facts queued for Redis, at most: when it is slow the oldest are dropped
(every balancer keeps its own knowledge; the others learn it later from their own
answers)."""
LINGER = 0.002
"""Seconds the writer waits, once woken, before it writes: a busy process tells facts
every few microseconds, and one round trip for many of them costs far less CPU than
one each. Other processes hear of a fact this much later: a fraction of any answer's
own latency."""
TRIM_EVERY = 1.0
"""Seconds between two trims of a sorted set of requests: they outlive a window by far
(`RETAIN`), so trimming them at every write would only cost commands."""
QUOTA_TTL = 60.0
"""Seconds a remaining-quota reading is kept: Azure refills over a minute."""
LEARNED_TTL = 3600.0
"""Seconds a learned window is kept without a new lesson: a deployment's quota can
change, and an hour-old lesson is as likely wrong as right."""

# A cooldown is extended, never shortened: the key is replaced only by a later end.
_EXTEND = """
local current = redis.call('GET', KEYS[1])
if current and cjson.decode(current)[1] >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""
# A request is admitted to a deployment's window if fewer than its capacity were sent
# within it; else the window's members are returned, so the caller learns what fills it.
_ADMIT = """
local held = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[2], '+inf')
if #held < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
  return false
end
return held
"""
# A probe is given back only by the balancer that claimed it.
_UNCLAIM = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_Batch = tuple[str, Sequence[Fact], float]
"""(origin, facts, the teller's wall clock when it told)."""


class RedisStore:
    """Throttle knowledge shared through Redis by every balancer pointed at it.

    `url`: ``redis://[:password@]host:port/db``, ``rediss://`` for TLS, or
    ``unix:///path``. `prefix`: the first part of every key and of the
    channel, to keep apps apart in one Redis. `timeout`: seconds any Redis
    call may take before Redis counts as down (the probe claim is the only
    one a request waits on). `retry_every`: seconds between attempts to
    reach a Redis that is down.

    Needs redis-py: ``pip install 'aoai-fallbacks[redis]'``.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "aoai-fallbacks",
        timeout: float = 0.25,
        retry_every: float = 1.0,
    ) -> None:
        try:
            import redis
        except ImportError:
            raise ConfigError(
                "RedisStore needs redis-py: pip install 'aoai-fallbacks[redis]'"
            ) from None
        if not prefix or any(c.isspace() for c in prefix):
            raise ConfigError(f"RedisStore: prefix must be a word without spaces, got {prefix!r}")
        try:
            client = redis.Redis.from_url(
                url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                decode_responses=True,
            )
        except ValueError:  # its text may quote the URL, password and all
            raise ConfigError(
                "RedisStore: the URL is not a Redis URL: use redis://[:password@]host:port/db, "
                "rediss://... (TLS) or unix:///path"
            ) from None
        self._redis: redis.Redis = client
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._where = where(client)
        self.prefix = prefix
        self.retry_every = float(retry_every)
        self._channel = f"{prefix}:facts"
        self._extend = client.register_script(_EXTEND)
        self._unclaim = client.register_script(_UNCLAIM)
        self._admit = client.register_script(_ADMIT)
        self._sinks: weakref.WeakSet[Sink] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._outbox: deque[_Batch] = deque(maxlen=OUTBOX)
        self._wake = threading.Event()
        self._up = True
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._trimmed: dict[str, float] = {}  # sorted set -> when the writer last trimmed it
        _stores.add(self)
        self._start()

    # -- the Store protocol -------------------------------------------------------

    @property
    def up(self) -> bool:
        """Whether Redis answered the last call (False: each balancer learns alone)."""
        return self._up

    def attach(self, sink: Sink) -> None:
        """Tell `sink` what others learned: what the keys hold now, then as it is published."""
        with self._lock:
            self._sinks.add(sink)
        if self._up:
            try:
                facts = self._read(sink.deployment_keys(), sink.origin)
            except self._errors as error:
                self._down(error)
            else:
                sink.absorb(facts)

    def tell(self, origin: str, facts: Sequence[Fact], now_wall: float) -> None:
        """Queue `facts` for the writer (dropped while Redis is down: see the module)."""
        if facts and self._up:
            self._outbox.append((origin, facts, now_wall))
            self._wake.set()

    def claim(self, origin: str, key: str, seconds: float) -> bool:
        """``SET probe origin NX PX``: one probe at a time across every process."""
        if not self._up:
            return True
        try:
            won = self._redis.set(
                self._key(key, "probe"), origin, nx=True, px=max(int(seconds * 1000), 1)
            )
        except self._errors as error:
            self._down(error)
            return True
        return bool(won)

    def admit(
        self, origin: str, key: str, at: float, held_for: float, capacity: int
    ) -> list[float] | None:
        """One script: count the sends in the window, and add this one if it fits."""
        if not self._up:
            return None
        try:
            held = self._admit(
                keys=[self._key(key, "sent")],
                args=[repr(at), repr(at - held_for), capacity, f"{origin}|{at!r}"],
            )
        except self._errors as error:
            self._down(error)
            return None
        if held is None:
            return None
        times = []
        for member in held:
            teller, _, sent = str(member).partition("|")
            if teller != origin:
                times.append(float(sent))
        return times

    def unclaim(self, origin: str, key: str) -> None:
        self.tell(origin, (("unclaim", key),), time.time())

    def own(self, object_key: str, key: str, seconds: float) -> None:
        """``SET owner key PX``: at once, so another process can be asked for it next."""
        if not self._up:
            return
        try:
            self._redis.set(self._key(object_key, "owner"), key, px=int(seconds * 1000))
        except self._errors as error:
            self._down(error)

    def owner(self, object_key: str) -> str | None:
        if not self._up:
            return None
        try:
            value = self._redis.get(self._key(object_key, "owner"))
        except self._errors as error:
            self._down(error)
            return None
        return None if value is None else str(value)

    def close(self) -> None:
        """Stop the threads and close the connections (queued facts are sent first)."""
        self._closed = True
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._redis.close()

    def __repr__(self) -> str:
        state = "up" if self._up else "down"
        return f"RedisStore({self._where!r}, prefix={self.prefix!r}, {state})"

    # -- threads ------------------------------------------------------------------

    def _start(self) -> None:
        """Start the writer and the listener, once per process."""
        if self._threads or self._closed:
            return
        for target, name in ((self._write_loop, "writer"), (self._listen_loop, "listener")):
            thread = threading.Thread(
                target=target, name=f"aoai-fallbacks-redis-{name}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _after_fork(self) -> None:
        """In a forked child: the parent's threads are gone, its queue is the parent's."""
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._outbox.clear()
        self._threads = []
        self._start()

    def _write_loop(self) -> None:
        while not self._closed:
            self._wake.wait(self.retry_every)
            self._wake.clear()
            if self._up:
                time.sleep(LINGER)  # what a busy process tells meanwhile joins this batch
                self._flush()
            else:
                self._reconnect()
        if self._up:
            self._flush()  # what was told before `close`

    def _flush(self) -> None:
        batches: list[_Batch] = []
        while self._outbox:
            batches.append(self._outbox.popleft())
        if batches:
            try:
                self._write(batches)
            except self._errors as error:
                self._down(error)

    def _reconnect(self) -> None:
        """Ask a Redis that was down; once it answers, write again what every balancer knows."""
        try:
            self._redis.ping()
        except self._errors:
            return
        logger.info("Redis at %s answers again: throttle state is shared again", self._where)
        self._outbox.clear()
        self._up = True
        batches = [(sink.origin, *sink.durable_facts()) for sink in list(self._sinks)]
        try:
            self._write([(origin, facts, now) for origin, now, facts in batches if facts])
        except self._errors as error:
            self._down(error)

    def _listen_loop(self) -> None:
        while not self._closed:
            if not self._up:
                time.sleep(self.retry_every / 4)
                continue
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
            try:
                pubsub.subscribe(self._channel)
                for sink in list(self._sinks):  # what was published while nobody listened
                    sink.absorb(self._read(sink.deployment_keys(), sink.origin))
                while not self._closed and self._up:
                    message = pubsub.get_message(timeout=self.retry_every)
                    if message is not None:
                        self._deliver(message["data"])
            except self._errors as error:
                self._down(error)
            finally:
                with contextlib.suppress(*self._errors):
                    pubsub.close()

    def _down(self, error: BaseException) -> None:
        with self._lock:
            if not self._up:
                return
            self._up = False
        self._outbox.clear()
        logger.warning(
            "Redis at %s failed (%s): each process learns alone until it answers again",
            self._where,
            type(error).__name__,
        )
        self._wake.set()

    # -- reading and writing ------------------------------------------------------

    def _key(self, key: str, what: str) -> str:
        return f"{self.prefix}:{key}:{what}"

    def _deliver(self, data: str) -> None:
        """Hand one published batch to every balancer here but the one that told it.

        A message is the teller's name, a line break, and its facts as JSON:
        a process reads its own messages back too, and leaves them unparsed.
        """
        origin, _, told = data.partition("\n")
        sinks = [sink for sink in list(self._sinks) if sink.origin != origin]
        if not sinks:
            return
        try:
            facts = [tuple(fact) for fact in json.loads(told)]
        except (ValueError, TypeError):
            logger.debug("ignored a malformed message on %s", self._channel)
            return
        for sink in sinks:
            sink.absorb(facts)

    def _write(self, batches: Iterable[_Batch]) -> None:
        """Keep the facts of `batches` in their keys and publish them, in one round trip.

        Writes to the same key are merged across the batches: one ``ZADD``
        and one trim per sorted set, the last quota reading and window per
        deployment, one message per balancer. So a writer that falls behind
        a busy process sends fewer commands per request, not more.
        """
        added: dict[str, dict[str, float]] = {}  # sorted set -> members to add
        removed: dict[str, list[str]] = {}  # sorted set -> members to remove
        oldest = math.inf  # the earliest time a sorted set keeps, from the tellers' clocks
        latest: dict[str, tuple[Fact, float]] = {}  # plain key -> (its last fact, seconds to live)
        pipe = self._redis.pipeline(transaction=False)
        published: dict[str, list[Fact]] = {}  # origin -> what it told, for one message each
        for origin, facts, now in batches:
            oldest = min(oldest, now - RETAIN)
            told = published.setdefault(origin, [])
            for fact in facts:
                kind, key = fact[0], fact[1]
                if kind == "sent":
                    at, cost = fact[2], fact[3]
                    added.setdefault(self._key(key, "sent"), {})[f"{origin}|{at!r}"] = at
                    flight = f"{origin}|{at!r}|{cost}"
                    added.setdefault(self._key(key, "flight"), {})[flight] = at
                elif kind == "charged":
                    at = fact[2]
                    added.setdefault(self._key(key, "sent"), {})[f"{origin}|{at!r}"] = at
                elif kind == "settled":
                    at, cost, charged = fact[2], fact[3], fact[4]
                    removed.setdefault(self._key(key, "flight"), []).append(
                        f"{origin}|{at!r}|{cost}"
                    )
                    if not charged:
                        removed.setdefault(self._key(key, "sent"), []).append(f"{origin}|{at!r}")
                elif kind == "quota":
                    latest[self._key(key, "quota")] = fact, QUOTA_TTL
                elif kind == "learned":
                    latest[self._key(key, "learned")] = fact, LEARNED_TTL
                elif kind == "unclaim":
                    self._unclaim(keys=[self._key(key, "probe")], args=[origin], client=pipe)
                    continue
                else:
                    self._keep_state(pipe, fact, now)
                told.append(fact)
        for name, members in added.items():
            pipe.zadd(name, members)
        for name, gone in removed.items():
            pipe.zrem(name, *gone)
        for name in added:
            if self._trimmed.get(name, -math.inf) < oldest + RETAIN - TRIM_EVERY:
                self._trimmed[name] = oldest + RETAIN
                pipe.zremrangebyscore(name, "-inf", oldest)
                pipe.pexpire(name, int(RETAIN * 1000))
        for name, (fact, ttl) in latest.items():
            pipe.set(name, json.dumps(fact[2:]), px=int(ttl * 1000))
        for origin, told in published.items():
            if told:
                pipe.publish(self._channel, f"{origin}\n{json.dumps(told)}")
        pipe.execute()

    def _keep_state(self, pipe: Any, fact: Fact, now: float) -> None:
        """Queue the write of a cooldown or circuit fact, in order (they are few)."""
        kind, key = fact[0], fact[1]
        if kind == "cooled":
            until = fact[2]
            ttl = int((until - now) * 1000)
            if ttl > 0:
                self._extend(
                    keys=[self._key(key, "cool")],
                    args=[until, json.dumps(fact[2:]), ttl],
                    client=pipe,
                )
        elif kind == "blocked":
            ttl = int((fact[3] - now) * 1000)
            if ttl > 0:
                pipe.set(self._key(key, "circuit"), json.dumps(fact[2:]), px=ttl)
        elif kind == "healthy":
            pipe.delete(self._key(key, "circuit"))

    def _read(self, keys: Iterable[str], origin: str) -> list[Fact]:
        """What the keys of deployments `keys` hold now, as facts (`origin`'s own left out)."""
        keys = sorted(keys)
        pipe = self._redis.pipeline(transaction=False)
        for key in keys:
            for what in ("cool", "circuit", "quota", "learned"):
                pipe.get(self._key(key, what))
            pipe.zrange(self._key(key, "sent"), 0, -1)
            pipe.zrange(self._key(key, "flight"), 0, -1)
        replies = iter(pipe.execute())
        facts: list[Fact] = []
        for key in keys:
            for kind in ("cooled", "blocked", "quota", "learned"):
                value = next(replies)
                if value is not None:
                    facts.append((kind, key, *json.loads(value)))
            sent: list[str] = next(replies)
            flight: list[str] = next(replies)
            in_flight = set()
            for member in flight:
                teller, at, cost = member.split("|")
                if teller != origin:
                    facts.append(("sent", key, float(at), int(cost)))
                    in_flight.add(f"{teller}|{at}")
            for member in sent:
                teller, at = member.split("|")
                if teller != origin and member not in in_flight:
                    facts.append(("charged", key, float(at)))
        return facts


def where(client: redis.Redis) -> str:
    """How messages name the Redis `client` talks to: ``host:port/db``, never a password.

    It also registers the URL's password, if any, with the log redactor.
    """
    kwargs = client.connection_pool.connection_kwargs
    if kwargs.get("password"):
        register_secret(str(kwargs["password"]))
    place = kwargs.get("path") or f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
    return f"{place}/{kwargs.get('db', 0)}"


_stores: weakref.WeakSet[RedisStore] = weakref.WeakSet()
_shared: dict[tuple[str, str], RedisStore] = {}
_shared_lock = threading.Lock()


def environment_store(
    environ: Mapping[str, str] | None = None, *, dotenv: str | Path | bool = True
) -> RedisStore | None:
    """The shared store ``AOAI_REDIS_URL`` names, or None when it is unset.

    `environ` and `dotenv` as for `aoai_fallbacks.config.load_backends`.
    """
    from aoai_fallbacks.config import load_redis_url

    url = load_redis_url(environ, dotenv=dotenv)
    return None if url is None else shared_store(url)


def shared_store(url: str, prefix: str | None = None) -> RedisStore:
    """The one `RedisStore` of this process on `url` (prefix: ``AOAI_REDIS_PREFIX`` if None).

    Every `Balancer` built from the environment uses it, so a process keeps
    two connections to Redis and two threads, however many balancers it has.
    """
    if prefix is None:
        from aoai_fallbacks.config import read_environment

        prefix = read_environment().get("AOAI_REDIS_PREFIX", "").strip() or "aoai-fallbacks"
    with _shared_lock:
        store = _shared.get((url, prefix))
        if store is None:
            store = _shared[url, prefix] = RedisStore(url, prefix=prefix)
        return store


def _after_fork_in_child() -> None:
    for store in list(_stores):
        store._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
