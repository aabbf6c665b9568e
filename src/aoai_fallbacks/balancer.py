"""`Balancer`: the backends, what is known about each, and who gets the next attempt.

One `Balancer` is the shared memory of every model, client and proxy built on
it: a 429 seen by one request keeps all the others away from that backend
until its Retry-After has passed. It does no I/O: the transport asks
`select()` where to send an attempt, sends it, classifies the answer
(`aoai_fallbacks._classify`) and hands the verdict to `record()`.

It is shared between threads and asyncio tasks alike: one `threading.Lock`
guards the board, held only for the few microseconds of bookkeeping and never
across an ``await`` (the core has none). Time and randomness are injected, so
tests drive it with `aoai_fallbacks.testing.FakeClock` and a seeded
`random.Random`.
"""

from __future__ import annotations

import itertools
import math
import os
import random
import threading
import uuid
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NoReturn

from aoai_fallbacks._classify import Outcome, Verdict
from aoai_fallbacks._clock import SYSTEM_CLOCK, Bell, Clock
from aoai_fallbacks._health import PROBE_POLL, BackendHealth, HealthSettings, State
from aoai_fallbacks._log import logger
from aoai_fallbacks._owners import REMEMBERED_FOR, Owners
from aoai_fallbacks._policy import Choice, Entry, SelectionPolicy, Wait
from aoai_fallbacks._store import Fact, Store, deployment_key, object_key
from aoai_fallbacks._window import LONG

if TYPE_CHECKING:
    from aoai_fallbacks.config import Backend, Pool

__all__ = ["ATTEMPTS_PER_BACKEND", "MIN_ATTEMPTS", "BackendStatus", "Balancer", "Ticket", "Wait"]

ATTEMPTS_PER_BACKEND = 3
"""The default `max_attempts` per backend: a 429 that teaches the balancer a
backend's window, the try at the slot it then predicts, and one more for a
slot another app took meanwhile. A backend that fails is not tried again by
the same request, so only refusals ever use more than one."""
MIN_ATTEMPTS = 10
"""The least default `max_attempts`: one or two backends shared with other apps
may refuse a request a few times in a row before a slot is really free."""


class Ticket:
    """One request's place in the balancer's waiting line, and what it was last handed.

    Made by `Balancer.ticket()` for each request (the transport makes one per
    request it sends). With it, `select` serves waiting requests in the order
    they began to wait, and rings the `bell` of the first in line when its
    turn may have come early; `record` knows which attempt it answers.
    """

    __slots__ = ("arrived", "bell", "sent_at")

    def __init__(self) -> None:
        self.bell = Bell()
        self.sent_at: float | None = None
        """When `select` last handed this request a backend."""
        self.arrived: int | None = None
        """Its place in the order of arrival in line, from the first time it waited: a
        request handed a backend that refused it comes back to the same place."""


@dataclass(frozen=True, slots=True)
class BackendStatus:
    """One backend as `Balancer.snapshot()` saw it; deliberately without its key.

    `cooldown_remaining` is the time until it may be selected again, whatever
    the reason (cooling, open circuit, quarantine); 0 when it may be now.
    `remaining_tokens`/`remaining_requests` are the last values the backend
    reported, however old; `quota_age` says how old (None: never reported).
    `reason`: while it is out of rotation, the reason of the verdict that put
    it there (``"429"``, ``"timeout"``, ``"DeploymentNotFound"``); else None.
    `in_flight`: requests handed to it and not answered yet.
    """

    name: str
    deployment: str
    endpoint: str
    tier: str
    pool: str
    priority: int
    weight: float
    state: State
    cooldown_remaining: float
    served: int
    throttled: int
    failed: int
    rejected: int
    remaining_tokens: int | None
    remaining_requests: int | None
    quota_age: float | None
    reason: str | None = None
    in_flight: int = 0


class Balancer:
    """Backends + health board + selection policy, shared by every face.

    `backends=None` reads them from the environment (`load_backends()`).
    `wait_budget`: seconds a request may wait, in total, for a backend to
    recover when all are unavailable (``0`` fails fast); once they have
    passed, a request still tries each backend it has not tried yet, but goes
    back to none. `max_attempts`: the most attempts one request makes, over
    all backends (None: three per backend, at least 10), so that no answer,
    however odd (a ``retry-after: 0`` that never ends), makes it loop.

    Timeouts: the caller's own (the SDK's ``timeout``, per client or per
    call) is kept, never shortened, except that connecting to a backend takes
    at most `connect_timeout` seconds: a live backend accepts a connection at
    once, and one that does not is skipped. `attempt_timeout` is the time to
    the first byte of an answer, and between its bytes, for a caller that set
    no timeout at all (LangChain's default): a non-streamed answer's first
    byte comes when it is fully generated, so give long generations a
    timeout of their own. (None: no limit of ours.) A timeout moves the
    request on to the next backend; it counts toward the circuit unless the
    backend has answered a request sent after that one meanwhile (it is
    alive, only slow on that one). A request in flight longer than
    `attempt_timeout` is presumed lost by the probe gate.

    A 429 cools its backend for its Retry-After, `default_cooldown` when it
    gives none, at least `min_cooldown` (a ``0`` or past date must not make a
    request spin on the backend that just refused it) and at most
    `max_cooldown`. `failure_threshold` consecutive failures open the circuit
    for `circuit_open_for` seconds; a misconfigured backend is quarantined for
    `quarantine_for`. Then one probe at a time decides. One probe at a time
    also goes to a backend just out of a cooldown, or whose known remaining
    quota is used up, so a crowd of waiting requests does not wake up and
    collect one 429 each (see `aoai_fallbacks._health`).

    `store`: where balancers in other processes (or other balancers here)
    share what they learn, e.g. `aoai_fallbacks.RedisStore`; None: this
    balancer learns alone. By default, a `RedisStore` on ``AOAI_REDIS_URL``
    if that is set (environment or ``.env``), else none. The request path
    waits on the store only for what must be decided once for all
    processes: the probe of a recovering backend, and the last slots of a
    window.
    """

    def __init__(
        self,
        backends: Sequence[Backend] | None = None,
        *,
        wait_budget: float = 30.0,
        max_attempts: int | None = None,
        attempt_timeout: float | None = 60.0,
        connect_timeout: float | None = 10.0,
        default_cooldown: float = 10.0,
        max_cooldown: float = 60.0,
        min_cooldown: float = 0.1,
        failure_threshold: int = 3,
        circuit_open_for: float = 30.0,
        quarantine_for: float = 300.0,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        store: Store | Literal["environment"] | None = "environment",
    ) -> None:
        if backends is None:
            from aoai_fallbacks.config import load_backends

            backends = load_backends()
        self.backends: tuple[Backend, ...] = tuple(backends)
        _check_backends(self.backends)
        _check_number("wait_budget", wait_budget, positive=False, infinite=True)
        if max_attempts is not None:
            _check_count("max_attempts", max_attempts)
        if attempt_timeout is not None:
            _check_number("attempt_timeout", attempt_timeout)
        if connect_timeout is not None:
            _check_number("connect_timeout", connect_timeout)
        _check_number("default_cooldown", default_cooldown, positive=False)
        _check_number("max_cooldown", max_cooldown)
        _check_number("min_cooldown", min_cooldown, positive=False)
        if not min_cooldown <= default_cooldown <= max_cooldown:
            _refuse(
                f"Balancer: need min_cooldown <= default_cooldown <= max_cooldown, got "
                f"{min_cooldown} <= {default_cooldown} <= {max_cooldown}"
            )
        _check_count("failure_threshold", failure_threshold)
        _check_number("circuit_open_for", circuit_open_for)
        _check_number("quarantine_for", quarantine_for)

        self.clock: Clock = SYSTEM_CLOCK if clock is None else clock
        self.wait_budget = float(wait_budget)
        self.max_attempts = (
            max(MIN_ATTEMPTS, ATTEMPTS_PER_BACKEND * len(self.backends))
            if max_attempts is None
            else max_attempts
        )
        self.attempt_timeout = None if attempt_timeout is None else float(attempt_timeout)
        self.connect_timeout = None if connect_timeout is None else float(connect_timeout)
        self._settings = HealthSettings(
            default_cooldown=float(default_cooldown),
            max_cooldown=float(max_cooldown),
            min_cooldown=float(min_cooldown),
            failure_threshold=failure_threshold,
            circuit_open_for=float(circuit_open_for),
            quarantine_for=float(quarantine_for),
            # A probe still unanswered after an attempt's whole timeout is lost.
            probe_timeout=float(circuit_open_for if attempt_timeout is None else attempt_timeout),
        )
        self._lock = threading.Lock()
        self._entries = {b.name: Entry(b, BackendHealth()) for b in self.backends}
        chosen_rng = random.Random() if rng is None else rng
        pools: dict[Pool, list[Entry]] = {}
        for entry in self._entries.values():
            pools.setdefault(entry.backend.pool, []).append(entry)
        # One line and one policy per pool: an embedding request waits only behind
        # embedding requests, for embedding deployments.
        self._policies = {pool: SelectionPolicy(e, chosen_rng) for pool, e in pools.items()}
        self._lines: dict[Pool, list[Ticket]] = {pool: [] for pool in pools}
        self._arrivals = itertools.count()
        self.owners = Owners(self.clock)
        """Which backend created which stored response, file or batch (`aoai_fallbacks._owners`)."""
        self._keys = {b.name: deployment_key(b) for b in self.backends}
        self._by_key: dict[str, list[Entry]] = {}
        for entry in self._entries.values():
            self._by_key.setdefault(self._keys[entry.backend.name], []).append(entry)
        self._id = uuid.uuid4().hex[:12]
        self._wall = self.clock.time() - self.clock.monotonic()  # wall = monotonic + this
        # Requests this balancer sent lately: what it writes again to a restarted store.
        self._ours: deque[tuple[Entry, float]] = deque()
        if store == "environment":
            from aoai_fallbacks.redis_store import environment_store

            store = environment_store()
        self.store: Store | None = store
        if store is not None:
            store.attach(self)

    def ticket(self) -> Ticket:
        """A place in line for one request: pass it to every `select`, `record` and
        `release` of that request, and to `leave` when it is done."""
        return Ticket()

    def serves(self, pool: Pool) -> bool:
        """Whether any backend serves `pool` (``"chat"`` or ``"embeddings"``)."""
        return pool in self._policies

    def select(
        self,
        *,
        pool: Pool = "chat",
        exclude: Collection[str] = (),
        large: bool = False,
        cost: int = 0,
        patience: float = math.inf,
        ticket: Ticket | None = None,
        spent: Collection[str] = (),
    ) -> Backend | Wait:
        """The backend for the next attempt, or how long until one may be available.

        `pool`: the deployments that serve the request (a pool no backend
        serves is a `ValueError`: ask `serves` first).
        `exclude`: names already tried and failed in this request. `spent`:
        names not to hand out now (a request whose wait budget is spent goes
        back to no backend it tried), though their recovery still sets the
        `Wait`. `large`: only the larger-model tier (after a context
        overflow). `cost`: the request's estimated tokens, to pass over
        backends known to be short.
        `patience`: seconds this caller may still wait; one that cannot wait
        for a probe's verdict gets the gated backend anyway rather than fail.
        `ticket`: this request's place in line. A request that must wait joins
        the line, and one behind others takes a backend only if there is room
        for those before it too; without a ticket a caller neither waits in
        line nor lets anyone go first.

        Every backend returned here counts as sent until its verdict: report
        it with `record` (or `release` it if the attempt was abandoned). A
        gated or half-open backend returned here is this caller's probe: with
        a store, only once it has claimed the probe from every balancer that
        shares it (else it looks again, the backend taken as probed).
        """
        for _ in range(len(self.backends) + 1):
            chosen = self._select(pool, exclude, large, cost, patience, ticket, spent)
            if not isinstance(chosen, _Draft):
                return chosen
            if self._confirm(chosen, ticket):
                return chosen.entry.backend
        return Wait(PROBE_POLL[0], polling=True)

    def _select(
        self,
        pool: Pool,
        exclude: Collection[str],
        large: bool,
        cost: int,
        patience: float,
        ticket: Ticket | None,
        spent: Collection[str],
    ) -> Backend | Wait | _Draft:
        """`select` once; an attempt the store must confirm comes back as a `_Draft`."""
        policy = self._policies.get(pool)
        if policy is None:
            raise ValueError(f"no backend of this balancer serves {pool}")
        with self._lock:
            now = self.clock.monotonic()
            line = self._lines[pool]
            if ticket is None:
                waiting, ahead = False, 0
            elif ticket in line:
                waiting, ahead = True, line.index(ticket)
            else:
                waiting = False
                arrived = ticket.arrived
                ahead = len(line) if arrived is None else bisect_left(line, arrived, key=_arrived)
            choice = policy.choose(
                now,
                exclude=exclude,
                large=large,
                cost=cost,
                probe_timeout=self._settings.probe_timeout,
                patience=patience,
                ahead=ahead,
                paced=bool(line),
                spent=spent,
            )
            if isinstance(choice, Choice):
                entry = choice.entry
                health = entry.health
                probing = health.mode != "closed"
                admit = (
                    self.store is not None
                    and health.window.capacity is not None
                    and (waiting or bool(line) or _scarce(health.window.room(now), health))
                )
                sent = health.take(cost, now, self._settings.probe_timeout, trial=choice.trial)
                if self.store is not None:
                    ours = self._ours
                    ours.append((entry, sent))
                    while ours[0][1] < now - LONG * 2:
                        ours.popleft()
                if ticket is not None:
                    ticket.sent_at = sent
                    if waiting:
                        line.remove(ticket)
                        self._ring_first()  # the next in line may have room too
            elif ticket is not None and not waiting and choice.seconds is not None:
                if ticket.arrived is None:
                    ticket.arrived = next(self._arrivals)
                insort(line, ticket, key=_arrived)
                if len(line) > 1:
                    self._ring_first()  # room this one saw is theirs: they may be asleep
        if isinstance(choice, Wait):
            return choice
        if self.store is not None:
            draft = _Draft(entry, sent, cost, probe=choice.probe, admit=admit)
            if draft.probe or draft.admit:
                return draft
            self._tell([draft.fact(self)], now)
        if probing:
            logger.info(
                "backend %s: half-open, sending one request as a probe", entry.backend.label
            )
        return entry.backend

    def _confirm(self, draft: _Draft, ticket: Ticket | None) -> bool:
        """Have the store confirm an attempt other balancers might race this one to.

        A probe is claimed, so that one balancer at a time probes a gated
        backend; an attempt on a window with little room left (or by a
        request that waited for its slot) is admitted against every
        balancer's requests in the window, so that several processes woken
        for the same freed slot do not all take it. Lost: the attempt is
        taken back; a lost claim leaves the backend counted as probed until
        that probe's verdict is told (or its claim would have expired), a
        lost admission teaches the window the requests that filled it.
        """
        store = self.store
        assert store is not None
        entry, health = draft.entry, draft.entry.health
        key = self._keys[entry.backend.name]
        timeout = self._settings.probe_timeout
        claimed = not draft.probe or store.claim(self.origin, key, timeout)
        full: Sequence[float] | None = None
        if claimed and draft.admit:
            window = health.window
            capacity = window.capacity
            if capacity is not None:
                at = draft.sent + self._wall
                full = store.admit(self.origin, key, at, window.held_for(), capacity)
            if full is not None and draft.probe:
                store.unclaim(self.origin, key)
        with self._lock:
            now = self.clock.monotonic()
            if claimed and full is None:
                if draft.probe:
                    health.probe_at = draft.sent
            else:
                health.untake(draft.sent)
                if not claimed:
                    health.claimed_until = max(health.claimed_until, now + timeout)
                for at in full or ():
                    health.window.insert(at - self._wall)
                if ticket is not None:
                    ticket.sent_at = None
        if not claimed or full is not None:
            return False
        self._tell([draft.fact(self)], now)
        if health.mode != "closed":
            logger.info(
                "backend %s: half-open, sending one request as a probe", entry.backend.label
            )
        return True

    def _tell(self, facts: list[Fact], now: float) -> None:
        if self.store is not None:
            self.store.tell(self.origin, facts, now + self._wall)

    def created(self, object_id: str, backend: Backend) -> None:
        """`backend` created `object_id`: calls naming it go to its resource, from any process."""
        self.owners.remember(object_id, backend.name)
        if self.store is not None:
            self.store.own(object_key(object_id), self._keys[backend.name], REMEMBERED_FOR)

    def creator(self, object_id: str) -> str | None:
        """The name of the backend that created `object_id`, or None if no one knows.

        This process's memory first; then the store's, when another process
        (another proxy worker) made it.
        """
        name = self.owners.owner(object_id)
        if name is None and self.store is not None:
            entries = self._by_key.get(self.store.owner(object_key(object_id)) or "")
            if entries:
                name = entries[0].backend.name
                self.owners.remember(object_id, name)
        return name

    def leave(self, ticket: Ticket) -> None:
        """The request is done (answered, failed or cancelled): out of line if it was in it."""
        with self._lock:
            for line in self._lines.values():
                if ticket in line:
                    line.remove(ticket)
                    self._ring_first()

    def record(
        self, backend: Backend, verdict: Verdict, ticket: Ticket | None = None
    ) -> float | None:
        """Learn from one attempt's verdict; return the cooldown it started, in seconds.

        The cooldown (None if none) is Retry-After with default, floor and cap
        applied: what the transport's log line should say. `ticket`: the
        request's, so the attempt answered is known (else the oldest in flight
        to that backend is taken).
        """
        sent = _sent(ticket)
        return self._apply(
            backend,
            verdict,
            lambda health, now: health.record(verdict, now, self._settings, sent),
            settles=True,
        )

    def interrupted(self, backend: Backend, verdict: Verdict) -> float | None:
        """A request whose success was recorded failed after all (a stream cut mid-way).

        It counts as failed, not served, and `verdict` (a failure) counts
        toward the circuit and cools the backend for its `retry_after`. Its
        verdict was already recorded, so it is no longer in flight: the
        requests still in flight to the backend are left as they are.
        Returns the cooldown it started.
        """
        return self._apply(
            backend, verdict, lambda health, now: health.interrupted(verdict, now, self._settings)
        )

    def _apply(
        self,
        backend: Backend,
        verdict: Verdict,
        change: Callable[[BackendHealth, float], float | None],
        *,
        settles: bool = False,
    ) -> float | None:
        """Change `backend`'s health under the lock, then log what the change did to it
        (and tell the store; `settles`: the change answers a request in flight)."""
        entry = self._entry(backend)
        health = entry.health
        with self._lock:
            now = self.clock.monotonic()
            was_half_open = health.half_open(now)
            mode_before = health.mode
            failures = health.failures + 1
            before = _lesson(health) if self.store is not None else None
            cooldown = change(health, now)
            mode_after = health.mode
            if before is not None:
                facts = self._changes(entry, before, settles)
            self._ring_first()
        if before is not None:
            self._tell(facts, now)
        if verdict.outcome is Outcome.MISCONFIGURED:
            logger.warning(
                "backend %s is misconfigured (%s): quarantined for %.0f s; check its %s",
                entry.backend.label,
                verdict.reason,
                self._settings.quarantine_for,
                "endpoint, key and deployment name"
                if verdict.status is not None
                else "Microsoft Entra ID sign-in, or give it a key (AOAI_KEY_nn)",
            )
        elif mode_after == "open" and (mode_before == "closed" or was_half_open):
            what = "its probe failed" if was_half_open else f"{failures} failures in a row"
            logger.warning(
                "backend %s: circuit opened for %.0f s, %s (last: %s)",
                entry.backend.label,
                self._settings.circuit_open_for,
                what,
                verdict.reason,
            )
        elif mode_before != "closed" and mode_after == "closed":
            logger.info(
                "backend %s recovered (%s): circuit closed", entry.backend.label, verdict.reason
            )
        return cooldown

    def release(self, backend: Backend, ticket: Ticket | None = None) -> None:
        """Give back a selection that got no verdict (e.g. a cancelled request).

        It no longer counts as in flight, and a gated or half-open backend's
        probe slot is free at once instead of after the probe timeout.
        """
        entry = self._entry(backend)
        with self._lock:
            now = self.clock.monotonic()
            entry.health.release(_sent(ticket))
            if self.store is not None:
                facts = self._changes(entry, _lesson(entry.health), settles=True)
            self._ring_first()
        if self.store is not None:
            self._tell(facts, now)

    def _changes(self, entry: Entry, before: _Lesson, settles: bool) -> list[Fact]:
        """What changed in `entry`'s health since `before`, as facts for the store.

        `settles`: a request in flight came back (`last_settled` says which).
        Under the lock.
        """
        health = entry.health
        key = self._keys[entry.backend.name]
        wall = self._wall
        facts: list[Fact] = []
        settled = health.last_settled if settles else None
        if settled is not None:
            at, cost = settled
            facts.append(("settled", key, at + wall, cost, health.window.holds(at)))
            if health.probe_at == at:
                health.probe_at = None
                self.store.unclaim(self.origin, key)  # type: ignore[union-attr]
        cooling, mode, blocked, gated, quota, model = before
        if health.cooling_until > cooling:
            facts.append(("cooled", key, health.cooling_until + wall, health.cause))
        if health.mode != "closed" and (health.mode, health.blocked_until) != (mode, blocked):
            facts.append(("blocked", key, health.mode, health.blocked_until + wall, health.cause))
        elif (mode != "closed" and health.mode == "closed") or (
            gated and not health.after_cooldown
        ):
            facts.append(("healthy", key))
        if health.quota_seen != quota:
            facts.append(
                (
                    "quota",
                    key,
                    health.remaining_tokens,
                    health.remaining_requests,
                    health.quota_seen + wall,
                )
            )
        learned = health.window.model()
        if learned != model and learned[0] is not None:
            facts.append(("learned", key, *learned))
        return facts

    # -- what other balancers tell, through the store -------------------------------

    @property
    def origin(self) -> str:
        """This balancer's name in what it tells a store: random (never a secret), and
        another in a forked child, which learns apart from its parent from then on."""
        return f"{self._id}.{os.getpid()}"

    def deployment_keys(self) -> frozenset[str]:
        """The deployments this balancer spreads requests over, as the store names them."""
        return frozenset(self._by_key)

    def absorb(self, facts: Sequence[Fact]) -> None:
        """Apply what another balancer learned (called by the store, on any thread).

        Facts about deployments this balancer does not use are ignored, and
        so are malformed ones: a store shared with an older or newer release
        must not break this one.
        """
        wall = self._wall
        with self._lock:
            now = self.clock.monotonic()
            for fact in facts:
                for entry in self._by_key.get(str(fact[1]), ()):
                    try:
                        _absorb(entry.health, fact, wall, now)
                    except (TypeError, ValueError, IndexError):
                        logger.debug("ignored a malformed fact from the store: %.80r", fact)
            self._ring_first()

    def durable_facts(self) -> tuple[float, list[Fact]]:
        """What this balancer knows that outlives a request, for a store that lost it
        (its own requests still in a window among it), and the time on its wall clock."""
        wall = self._wall
        facts: list[Fact] = []
        with self._lock:
            now = self.clock.monotonic()
            for entry in self._entries.values():
                facts += self._changes(entry, _UNKNOWN, settles=False)
            for entry, sent in self._ours:
                window = entry.health.window
                if sent > now - window.held_for() and window.holds(sent):  # still counts
                    facts.append(("charged", self._keys[entry.backend.name], sent + wall))
        return now + wall, facts

    def _ring_first(self) -> None:
        """Wake the first request in each line: what just happened may have made room for it.

        It looks at the board and, if a backend can take it, takes it and
        rings the next in line; if not, it sleeps until its slot. (Under the lock.)
        """
        for line in self._lines.values():
            if line:
                line[0].bell.ring()

    def snapshot(self) -> list[BackendStatus]:
        """Every backend's state, cooldown, counters and last quota, in configuration order."""
        with self._lock:
            now = self.clock.monotonic()
            return [
                BackendStatus(
                    name=b.name,
                    deployment=b.deployment,
                    endpoint=b.endpoint,
                    tier=b.tier,
                    pool=b.pool,
                    priority=b.priority,
                    weight=b.weight,
                    state=h.state(now),
                    cooldown_remaining=h.cooldown_remaining(now),
                    served=h.served,
                    throttled=h.throttled,
                    failed=h.failed,
                    rejected=h.rejected,
                    remaining_tokens=h.remaining_tokens,
                    remaining_requests=h.remaining_requests,
                    quota_age=None if h.quota_seen == -math.inf else now - h.quota_seen,
                    reason=None if h.state(now) == "available" else h.cause,
                    in_flight=len(h.pending),
                )
                for b, h in ((e.backend, e.health) for e in self._entries.values())
            ]

    @property
    def waiting(self) -> int:
        """Requests waiting in line for a backend right now."""
        with self._lock:
            return sum(len(line) for line in self._lines.values())

    def _entry(self, backend: Backend) -> Entry:
        try:
            return self._entries[backend.name]
        except KeyError:
            raise ValueError(f"backend {backend.name!r} is not one of this balancer's") from None

    def __repr__(self) -> str:
        names = ", ".join(e.backend.label for e in self._entries.values())
        return f"Balancer([{names}], wait_budget={self.wait_budget:g})"


_Lesson = tuple[float, str, float, bool, float, tuple[int | None, float, bool, bool]]
"""What a balancer tells others about a backend, before a change: cooling until, circuit
mode and end, gated after a cooldown, quota seen at, the learned window."""


_UNKNOWN: _Lesson = (-math.inf, "closed", -math.inf, False, -math.inf, (None, LONG, False, False))
"""What a store knows of a backend it lost: nothing (`Balancer.durable_facts`)."""


def _lesson(health: BackendHealth) -> _Lesson:
    return (
        health.cooling_until,
        health.mode,
        health.blocked_until,
        health.after_cooldown,
        health.quota_seen,
        health.window.model(),
    )


def _absorb(health: BackendHealth, fact: Fact, wall: float, now: float) -> None:
    """Apply one fact told by another balancer (`wall`: this one's wall-clock offset)."""
    kind, _, *fields = fact
    if kind == "sent":
        at, cost = fields
        health.told_sent(float(at) - wall, int(cost))
    elif kind == "charged":
        (at,) = fields
        health.told_sent(float(at) - wall, 0, in_flight=False)
    elif kind == "settled":
        at, cost, charged = fields
        health.told_settled(float(at) - wall, int(cost), bool(charged))
    elif kind == "cooled":
        until, cause = fields
        health.told_cooled(float(until) - wall, str(cause))
    elif kind == "blocked":
        mode, until, cause = fields
        if mode not in ("open", "quarantined"):
            raise ValueError(mode)
        health.told_blocked(mode, float(until) - wall, str(cause))
    elif kind == "healthy":
        health.told_healthy(now)
    elif kind == "quota":
        tokens, requests, at = fields
        health.told_quota(_count(tokens), _count(requests), float(at) - wall)
    elif kind == "learned":
        capacity, length, settled, shared = fields
        health.window.adopt(int(capacity), float(length), bool(settled), bool(shared))


def _count(value: object) -> int | None:
    return None if value is None else int(str(value))


@dataclass(frozen=True, slots=True)
class _Draft:
    """An attempt handed out, waiting for the store to confirm it (`Balancer._confirm`)."""

    entry: Entry
    sent: float
    cost: int
    probe: bool
    admit: bool

    def fact(self, balancer: Balancer) -> Fact:
        """The ``sent`` fact that tells the others of it."""
        key = balancer._keys[self.entry.backend.name]
        return ("sent", key, self.sent + balancer._wall, self.cost)


SCARCE = 0.25
"""Share of a window's capacity under which the room left is scarce: several processes
may take the same slots before they hear of each other, so each attempt is admitted
by the store (one round trip) rather than taken on local knowledge alone."""


def _scarce(room: float, health: BackendHealth) -> bool:
    capacity = health.window.capacity
    return capacity is not None and room <= max(1.0, capacity * SCARCE)


def _arrived(ticket: Ticket) -> int:
    return -1 if ticket.arrived is None else ticket.arrived


def _sent(ticket: Ticket | None) -> float | None:
    return None if ticket is None else ticket.sent_at


def _refuse(message: str) -> NoReturn:
    """Raise `ConfigError` with `message`.

    Imported only here, on the error path: `aoai_fallbacks.errors` also holds
    the errors derived from openai's and so imports openai, which the core
    must not load.
    """
    from aoai_fallbacks.errors import ConfigError

    raise ConfigError(message)


def _check_number(
    name: str, value: object, *, positive: bool = True, infinite: bool = False
) -> None:
    """Raise `ConfigError` unless `value` is a number > 0 (>= 0 unless `positive`)."""
    ok = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and not math.isnan(value)
        and (infinite or math.isfinite(value))
        and (value > 0 if positive else value >= 0)
    )
    if not ok:
        bound = "> 0" if positive else ">= 0"
        _refuse(f"Balancer({name}={value!r}): must be a number {bound}")


def _check_count(name: str, value: object) -> None:
    """Raise `ConfigError` unless `value` is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        _refuse(f"Balancer({name}={value!r}): must be an integer >= 1")


def _check_backends(backends: Sequence[Backend]) -> None:
    if not backends:
        _refuse("Balancer: no backends (set AOAI_ENDPOINT_01, AOAI_KEY_01, ...)")
    seen: set[str] = set()
    for backend in backends:
        if backend.name in seen:
            _refuse(f"Balancer: two backends are named {backend.name!r}")
        seen.add(backend.name)
        weight = backend.weight
        if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight > 0):
            _refuse(f"backend {backend.name}: weight must be a number > 0")
