"""The one place that sends: an HTTP transport that spreads each request over the backends.

`BalancingTransport` (sync) and `AsyncBalancingTransport` sit below the
openai SDK (built with ``max_retries=0``), so the SDK, and LangChain above it,
see one endpoint that simply answers. For each request the transport:

1. asks the `Balancer` for a backend (priority, weights, cooldowns, circuits);
2. rewrites the request for it (`aoai_fallbacks._rewrite`) and sends it
   through one pooled inner transport;
3. classifies the answer (`aoai_fallbacks._classify`) and records the verdict,
   so every other request learns of a 429 at once;
4. returns a success, a request's own error (bad request, content filter) or
   a context overflow with no larger tier; and otherwise goes on **at once**
   to the next backend (after a context overflow, to the larger tier);
5. when none is usable, sleeps on the balancer's clock for the earliest
   recovery if that fits in what is left of the wait budget, else raises
   `NoBackendAvailableError` with every attempt and every backend out of
   rotation (quarantined ones with their cause). If every attempt met a
   misconfigured backend, the last 401/403/404 is returned instead, so the SDK
   raises its own `AuthenticationError`/`NotFoundError`: a rate-limit error
   would send the caller looking in the wrong place.

Every loop ends: a request makes at most `Balancer.max_attempts` attempts,
and once its wait budget is spent it tries only backends it has not tried
yet. A backend whose Entra ID token cannot be had is quarantined like one
whose key is refused, and the request moves on.

The caller's timeout is kept (`Balancer` says which limits are the
balancer's own: connecting, and a default for a caller that set none).

Streaming fails over only before the answer starts: the first chunk of a
streamed answer is awaited before the response is handed up, so a backend
that dies before its first byte is skipped like any other failure. A stream
cut after that raises `StreamInterruptedError` naming the backend, which is
recorded as failed and cooled down. Bodies of other answers are read here in
full (the SDK would read them at once anyway), so a cut there fails over too.

Every answer carries ``x-aoai-fallbacks-backend: <name>``.

Each request is routed first (`aoai_fallbacks._routes`): chat completions
and Responses are balanced over the chat deployments, embeddings over the
embedding deployments; a call naming a stored response, a file or a batch
goes once, unbalanced, to the resource that created it (the balancer
remembers which, `Balancer.created`, and shares it through its store), as
does a new response that continues one (``previous_response_id``); a call
that creates such an object goes to a backend the policy picks. Anything else is refused with `UnroutableError`
before a byte is sent.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, cast

import anyio.to_thread

from aoai_fallbacks._auth import auth_headers
from aoai_fallbacks._classify import (
    Outcome,
    Verdict,
    classify_failure,
    classify_response,
    classify_sign_in_failure,
)
from aoai_fallbacks._http import check_request, httpx
from aoai_fallbacks._log import logger, register_secret
from aoai_fallbacks._owners import MAX_REMEMBERED, REMEMBERED_FOR, created_id
from aoai_fallbacks._rewrite import estimate_tokens, is_event_stream, rewrite
from aoai_fallbacks._routes import Route, referenced_id, route
from aoai_fallbacks._telemetry import follow, watch
from aoai_fallbacks.balancer import Balancer, Wait
from aoai_fallbacks.config import DEPLOYMENT_VARIABLE
from aoai_fallbacks.errors import (
    Attempt,
    NoBackendAvailableError,
    StreamInterruptedError,
    UnroutableError,
)

if TYPE_CHECKING:
    from aoai_fallbacks.config import Backend, Pool

__all__ = [
    "BACKEND_HEADER",
    "DEFAULT_LIMITS",
    "WAITED",
    "AsyncBalancingTransport",
    "BalancingTransport",
]

BACKEND_HEADER = "x-aoai-fallbacks-backend"
"""The response header naming the backend that answered (its name, never its key)."""

WAITED = "aoai_fallbacks.waited"
"""The response extension holding the seconds a balanced request slept for a backend to
recover (0.0 when one was free at once); the proxy's wait histogram reads it."""

DEFAULT_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
"""The inner pool's limits: the openai SDK's own defaults, since the pool replaces the SDK's."""

STREAM_CUT_COOLDOWN = 10.0
"""Seconds a backend that cut a stream mid-way is kept out: it is likely overloaded or restarting."""

_MIN_WAIT = 0.001  # a zero wait (rounding) must not make the loop spin
_DETAIL = 200  # characters of a credential's error message kept in the verdict
_FAILURES = (httpx.TransportError, OSError)  # OSError: TLS errors httpx does not map
_STORED = re.compile(rb'"store"\s*:\s*true')  # a chat completion kept for later calls


def _reason(error: BaseException) -> str:
    """A short, key-free name for a failed attempt, as logs and `Attempt.reason` show it."""
    if isinstance(error, httpx.ConnectTimeout):
        return "connect timeout"
    if isinstance(error, httpx.TimeoutException):
        return "timeout"
    if isinstance(error, httpx.ConnectError):
        return "connect"
    if isinstance(error, (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)):
        return "connection lost"
    return type(error).__name__


class _Journey:
    """One request's way through the backends: what was tried, what is left, when to stop.

    Holds everything the sync and async transports share; they add only the I/O.
    """

    def __init__(self, balancer: Balancer, request: httpx.Request) -> None:
        self.balancer = balancer
        self.request = request
        self.route: Route = route(request.method, request.url.path)
        self.exclude: set[str] = set()  # failed in this request: never again
        self.pinned: Backend | None = None  # names an object: sent once, there, unbalanced
        self.pool: Pool = self._where()
        self.ticket = balancer.ticket()
        self.started = balancer.clock.monotonic()
        self.cost = estimate_tokens(request.content) if self.route.names_deployment else 0
        self.remembers = self.route.remembers or (
            self.route.operation == "chat completions"
            and _STORED.search(request.content) is not None
        )
        self.tried: set[str] = set()  # every backend it was sent to
        self.large = False
        self.waited = 0.0  # seconds slept for a backend to recover
        self.attempts: list[Attempt] = []
        self._story: str | None = None  # why the last backend was left, for the next log line
        self._misconfigured: httpx.Response | None = None
        self.telemetry = follow(balancer, request)  # OpenTelemetry's, if configured

    def _where(self) -> Pool:
        """The pool to balance over; sets `pinned` or narrows `exclude` for an owned object.

        Raises `UnroutableError` for a request no backend can be asked.
        """
        found = self.route
        if found.kind == "refused":
            raise self._unroutable(found.reason, "OperationNotBalanced")
        if found.kind == "pinned":
            assert found.object_id is not None
            self.pinned = self._owner(found.object_id)
            return self.pinned.pool
        pool = found.pool
        if not self.balancer.serves(pool):
            if found.names_deployment:
                setting = DEPLOYMENT_VARIABLE[pool]
                raise self._unroutable(
                    f"no backend serves {found.operation}: set {setting} (or {setting}_nn) "
                    "to the deployment that does",
                    "OperationNotServed",
                )
            pool = "embeddings" if pool == "chat" else "chat"
        if found.kind == "creates" or found.remembers:
            reference = referenced_id(self.request.content)
            if reference is not None:  # continues a response, reads a file: on its resource
                owner = self._owner(reference)
                self.exclude.update(
                    b.name for b in self.balancer.backends if b.endpoint != owner.endpoint
                )
                if not found.names_deployment:  # a file or batch: wherever its owner is
                    pool = owner.pool
        return pool

    def _owner(self, object_id: str) -> Backend:
        """The backend that created `object_id` (with one resource, that one); else refused."""
        backends = self.balancer.backends
        name = self.balancer.creator(object_id)
        owner = next((b for b in backends if b.name == name), None)
        if owner is None and len({b.endpoint for b in backends}) == 1:
            owner = backends[0]  # one resource holds everything: nothing to guess
        if owner is None:
            raise self._unroutable(
                f"aoai-fallbacks does not know which resource holds {object_id!r}: it "
                f"remembers the objects created through this balancer, in this process (the "
                f"last {MAX_REMEMBERED:,}, for up to {REMEMBERED_FOR / 86400:g} days) and, with "
                "AOAI_REDIS_URL, through every balancer sharing that Redis; create it through "
                "one of them, or call its resource with a plain client",
                "UnknownObject",
            )
        return owner

    def _unroutable(self, message: str, code: str) -> UnroutableError:
        logger.error("%s", message)
        return UnroutableError(message, code=code, request=self.request)

    def served(self, backend: Backend, body: bytes) -> None:
        """A success: remember the object it created, if later calls will name it."""
        if self.remembers:
            created = created_id(body)
            if created is not None:
                self.balancer.created(created, backend)

    def handed(self, response: httpx.Response) -> httpx.Response:
        """The answer handed up, with the seconds this request waited (`WAITED`)."""
        response.extensions[WAITED] = self.waited
        return response

    def next(self) -> Backend | float | httpx.Response:
        """The backend to try next, or seconds to sleep first, or the final answer.

        Raises `NoBackendAvailableError` when waiting would exceed the budget,
        or when the request has made as many attempts as it may.
        """
        balancer = self.balancer
        if len(self.attempts) >= balancer.max_attempts:
            raise self._exhausted(
                None,
                f"that is the most one request makes (max_attempts={balancer.max_attempts})",
            )
        left = balancer.wait_budget - (balancer.clock.monotonic() - self.started)
        choice = balancer.select(
            pool=self.pool,
            exclude=self.exclude,
            # The budget spent, only a backend not tried yet may still answer at once.
            spent=self.tried if left <= 0 else (),
            large=self.large,
            cost=self.cost,
            patience=left,
            ticket=self.ticket,
        )
        if not isinstance(choice, Wait):
            if self._story is not None:
                logger.info("%s; switching to backend %s", self._story, choice.label)
                self._story = None
            self.tried.add(choice.name)
            self.telemetry.attempt(choice)
            return choice
        if choice.seconds is not None and left > 0 and choice.seconds <= left:
            # A short poll while a probe is out is routine under load: not worth INFO.
            log = logger.debug if choice.polling and self._story is None else logger.info
            log(
                "%sno backend available, waiting %.1f s for the first to recover",
                f"{self._story}; " if self._story else "",
                choice.seconds,
            )
            self._story = None
            return max(choice.seconds, _MIN_WAIT)
        if self._misconfigured is not None and all(
            a.outcome == Outcome.MISCONFIGURED.value for a in self.attempts
        ):
            logger.error(
                "every backend tried is misconfigured (%s); returning the last answer",
                ", ".join(str(a) for a in self.attempts),
            )
            return self._misconfigured
        raise self._exhausted(choice.seconds)

    def outgoing(self, backend: Backend, auth: Mapping[str, str]) -> httpx.Request:
        return rewrite(
            self.request,
            backend,
            auth,
            names_deployment=self.route.names_deployment,
            attempt_timeout=self.balancer.attempt_timeout,
            connect_timeout=self.balancer.connect_timeout,
        )

    def unauthenticated(self, backend: Backend, error: Exception) -> None:
        """No Entra ID token could be had for `backend`: quarantine it, and on to the next."""
        lines = str(error).strip().splitlines()
        detail = type(error).__name__ + (f": {lines[0][:_DETAIL]}" if lines else "")
        self._learn(backend, classify_sign_in_failure(detail))
        self.exclude.add(backend.name)

    def failed(self, backend: Backend, error: BaseException) -> None:
        """The attempt got no usable answer (timeout, refused, cut before the first byte)."""
        self._learn(backend, classify_failure(_reason(error)))
        self.exclude.add(backend.name)

    def answered(self, backend: Backend, response: httpx.Response, body: bytes | None) -> bool:
        """Learn from an answer; True if it is the one to hand up, False to go on."""
        verdict = classify_response(
            response.status_code,
            response.headers,
            body,
            now_wall=self.balancer.clock.time(),
            deployment=self.route.names_deployment,
        )
        self._learn(backend, verdict)
        outcome = verdict.outcome
        if outcome in (Outcome.FAILED, Outcome.MISCONFIGURED):
            self.exclude.add(backend.name)
            if outcome is Outcome.MISCONFIGURED and body is not None:
                self._misconfigured = _named(response, backend)
            return False
        if outcome is Outcome.CONTEXT_OVERFLOW and not self.large and self._has_large():
            self.large = True
            return False
        if outcome is Outcome.THROTTLED:
            return False
        self._story = None
        return True

    def _has_large(self) -> bool:
        return any(
            b.tier == "large" and b.name not in self.exclude for b in self.balancer.backends
        )

    def release(self, backend: Backend, error: BaseException) -> None:
        """The attempt was abandoned (`error`: cancelled, or an error of ours): no verdict."""
        self.balancer.release(backend, self.ticket)
        self.telemetry.abandoned(error)

    def leave(self) -> None:
        """The request is over: give up its place in line, if it has one."""
        self.balancer.leave(self.ticket)

    def _learn(self, backend: Backend, verdict: Verdict) -> None:
        cooldown = self.balancer.record(backend, verdict, self.ticket)
        self.telemetry.verdict(verdict, cooldown)
        self.attempts.append(
            Attempt(backend.name, verdict.outcome.value, verdict.reason, verdict.status)
        )
        label = backend.label
        outcome = verdict.outcome
        if outcome is Outcome.THROTTLED:
            self._story = (
                f"backend {label} throttled for {cooldown or 0.0:.1f} s ({verdict.reason})"
            )
        elif outcome is Outcome.FAILED:
            cooling = f", cooling for {cooldown:.1f} s" if cooldown else ""
            self._story = f"backend {label} failed ({verdict.reason}){cooling}"
        elif outcome is Outcome.MISCONFIGURED:
            self._story = f"backend {label} is misconfigured ({verdict.reason})"
        elif outcome is Outcome.CONTEXT_OVERFLOW:
            self._story = f"backend {label}: the prompt is too long ({verdict.reason})"

    def _exhausted(
        self, retry_after: float | None, why: str | None = None
    ) -> NoBackendAvailableError:
        """The error that ends the request: its attempts, the backends out of rotation, why."""
        tried = ", ".join(str(a) for a in self.attempts) or "none usable"
        statuses = self.balancer.snapshot()
        out = [s for s in statuses if s.state != "available"]
        if why is None:
            if any(s.state == "quarantined" for s in out) and all(
                s.state == "quarantined" or s.name in self.exclude for s in statuses
            ):
                # Misconfigured backends do not recover by themselves: no retry-after.
                retry_after = None
                why = (
                    "every backend is quarantined as misconfigured: "
                    "check their endpoints, keys, deployment names and sign-in"
                )
            elif retry_after is None:
                why = "none is expected to recover on its own"
            elif retry_after <= 0:
                why = (
                    f"the wait budget of {self.balancer.wait_budget:g} s is spent, and a "
                    "request goes back to no backend it tried"
                )
            else:
                why = (
                    f"the first should recover in {retry_after:.1f} s, "
                    f"beyond the wait budget of {self.balancer.wait_budget:g} s"
                )
        unavailable = "".join(
            f"; {s.name} {s.state} ({s.reason or 'busy'}, {s.cooldown_remaining:.1f} s left)"
            for s in out
        )
        message = (
            f"no Azure OpenAI backend available after {len(self.attempts)} attempt(s) "
            f"[{tried}]{unavailable}; {why}"
        )
        logger.error("%s", message)
        return NoBackendAvailableError(
            message, request=self.request, retry_after=retry_after, attempts=self.attempts
        )

    def cut(self, backend: Backend, error: BaseException) -> StreamInterruptedError:
        """A stream broke after it started: record, cool, and name the backend in the error.

        Its first chunk was recorded as a success: the cut turns that into a
        failure rather than recording a second verdict for one request.
        """
        self.balancer.interrupted(
            backend, classify_failure("stream", retry_after=STREAM_CUT_COOLDOWN)
        )
        reason = _reason(error)
        self.telemetry.cut(reason)
        message = (
            f"the stream from backend {backend.label} broke after it had started "
            f"({reason}); not retried, since part of the answer was already delivered"
        )
        logger.warning("%s", message)
        return StreamInterruptedError(message, backend=backend.name, request=self.request)


def _named(response: httpx.Response, backend: Backend) -> httpx.Response:
    """The answer as handed up: the backend's own, plus the header naming it."""
    response.headers[BACKEND_HEADER] = backend.name
    return response


def _register_keys(balancer: Balancer) -> None:
    for backend in balancer.backends:
        register_secret(backend.api_key)


class _Relay(httpx.SyncByteStream):
    """A started stream: its first chunk, then the rest; a cut becomes a clear error."""

    def __init__(
        self, first: bytes, rest: Iterator[bytes], source: httpx.SyncByteStream, on_cut: _OnCut
    ) -> None:
        self._first = first
        self._rest = rest
        self._source = source
        self._on_cut = on_cut

    def __iter__(self) -> Iterator[bytes]:
        if self._first:
            yield self._first
        try:
            yield from self._rest
        except _FAILURES as error:
            raise self._on_cut(error) from error

    def close(self) -> None:
        self._source.close()


class _AsyncRelay(httpx.AsyncByteStream):
    """`_Relay` for the async transport."""

    def __init__(
        self,
        first: bytes,
        rest: AsyncIterator[bytes],
        source: httpx.AsyncByteStream,
        on_cut: _OnCut,
    ) -> None:
        self._first = first
        self._rest = rest
        self._source = source
        self._on_cut = on_cut

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._first:
            yield self._first
        try:
            async for chunk in self._rest:
                yield chunk
        except _FAILURES as error:
            raise self._on_cut(error) from error

    async def aclose(self) -> None:
        await self._source.aclose()


class _OnCut:
    """Bound `_Journey.cut` for one backend: what a relay calls when its stream breaks."""

    __slots__ = ("_backend", "_journey")

    def __init__(self, journey: _Journey, backend: Backend) -> None:
        self._journey = journey
        self._backend = backend

    def __call__(self, error: BaseException) -> StreamInterruptedError:
        return self._journey.cut(self._backend, error)


class BalancingTransport(httpx.BaseTransport):
    """A sync transport that sends each request to the best available backend of `balancer`.

    It is a transport of the HTTP library the installed openai SDK sends
    through (`httpx2` for openai 3, `httpx` for openai 2), for that SDK's
    clients; a client of the other library gets a `TypeError` saying so.
    `inner` is the transport that really sends (default: a pooled
    `HTTPTransport`); it is reused across attempts and closed with this one.
    """

    def __init__(self, balancer: Balancer, *, inner: httpx.BaseTransport | None = None) -> None:
        self.balancer = balancer
        self._inner = httpx.HTTPTransport(limits=DEFAULT_LIMITS) if inner is None else inner
        _register_keys(balancer)
        watch(balancer)  # in the gauges, if OpenTelemetry's metrics are configured

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        check_request(request, self)
        request.read()
        clock = self.balancer.clock
        journey = _Journey(self.balancer, request)
        if journey.pinned is not None:
            return self._pinned(journey, journey.pinned)
        with clock.busy():
            try:
                while True:
                    step = journey.next()
                    if isinstance(step, float):
                        slept = clock.monotonic()
                        clock.sleep(step, journey.ticket.bell)
                        journey.waited += clock.monotonic() - slept
                    elif isinstance(step, httpx.Response):
                        return journey.handed(step)
                    else:
                        answer = self._attempt(journey, step)
                        if answer is not None:
                            return journey.handed(answer)
            finally:
                journey.leave()

    def _attempt(self, journey: _Journey, backend: Backend) -> httpx.Response | None:
        try:
            try:
                auth = auth_headers(backend)
            except Exception as error:  # the credential's, of whatever kind: this backend's
                journey.unauthenticated(backend, error)
                return None
            response = self._inner.handle_request(journey.outgoing(backend, auth))
            try:
                if response.is_success and is_event_stream(response.headers):
                    return self._started(journey, backend, response)
                body = response.read()
            except BaseException:
                response.close()
                raise
        except _FAILURES as error:
            journey.failed(backend, error)
            return None
        except BaseException as error:
            journey.release(backend, error)
            raise
        if journey.answered(backend, response, None if response.is_success else body):
            if response.is_success:
                journey.served(backend, body)
            return _named(response, backend)
        return None

    def _pinned(self, journey: _Journey, backend: Backend) -> httpx.Response:
        """Send a call about an object to the resource holding it: once, its answer as it is."""
        outgoing = journey.outgoing(backend, auth_headers(backend))
        response = self._inner.handle_request(outgoing)
        if not is_event_stream(response.headers):
            try:
                response.read()
            finally:
                response.close()
        return _named(response, backend)

    def _started(
        self, journey: _Journey, backend: Backend, response: httpx.Response
    ) -> httpx.Response:
        """Wait for a stream's first chunk (a failure before it propagates), then hand it up."""
        source = cast(httpx.SyncByteStream, response.stream)
        chunks = iter(source)
        first = next((chunk for chunk in chunks if chunk), b"")
        journey.answered(backend, response, None)
        journey.served(backend, first)
        response.stream = _Relay(first, chunks, source, _OnCut(journey, backend))
        return _named(response, backend)

    def close(self) -> None:
        self._inner.close()


class AsyncBalancingTransport(httpx.AsyncBaseTransport):
    """`BalancingTransport` for `openai.AsyncAzureOpenAI` (and the SDK's library's `AsyncClient`).

    Safe to share between tasks: the balancer's lock is never held across an
    ``await``. A cancelled request gives back a half-open probe at once.
    """

    def __init__(
        self, balancer: Balancer, *, inner: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.balancer = balancer
        self._inner = httpx.AsyncHTTPTransport(limits=DEFAULT_LIMITS) if inner is None else inner
        _register_keys(balancer)
        watch(balancer)  # in the gauges, if OpenTelemetry's metrics are configured

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        check_request(request, self)
        await request.aread()
        clock = self.balancer.clock
        journey = _Journey(self.balancer, request)
        if journey.pinned is not None:
            return await self._pinned(journey, journey.pinned)
        with clock.busy():
            try:
                while True:
                    step = journey.next()
                    if isinstance(step, float):
                        slept = clock.monotonic()
                        await clock.asleep(step, journey.ticket.bell)
                        journey.waited += clock.monotonic() - slept
                    elif isinstance(step, httpx.Response):
                        return journey.handed(step)
                    else:
                        answer = await self._attempt(journey, step)
                        if answer is not None:
                            return journey.handed(answer)
            finally:
                journey.leave()

    async def _attempt(self, journey: _Journey, backend: Backend) -> httpx.Response | None:
        try:
            try:
                if backend.api_key is None:  # a token may need a round trip: not on the loop
                    auth = await anyio.to_thread.run_sync(auth_headers, backend)
                else:
                    auth = auth_headers(backend)
            except Exception as error:  # the credential's, of whatever kind: this backend's
                journey.unauthenticated(backend, error)
                return None
            response = await self._inner.handle_async_request(journey.outgoing(backend, auth))
            try:
                if response.is_success and is_event_stream(response.headers):
                    return await self._started(journey, backend, response)
                body = await response.aread()
            except BaseException:
                await response.aclose()
                raise
        except _FAILURES as error:
            journey.failed(backend, error)
            return None
        except BaseException as error:
            journey.release(backend, error)
            raise
        if journey.answered(backend, response, None if response.is_success else body):
            if response.is_success:
                journey.served(backend, body)
            return _named(response, backend)
        return None

    async def _pinned(self, journey: _Journey, backend: Backend) -> httpx.Response:
        """`BalancingTransport._pinned`, awaiting the answer."""
        if backend.api_key is None:  # a token may need a round trip: not on the loop
            auth = await anyio.to_thread.run_sync(auth_headers, backend)
        else:
            auth = auth_headers(backend)
        response = await self._inner.handle_async_request(journey.outgoing(backend, auth))
        if not is_event_stream(response.headers):
            try:
                await response.aread()
            finally:
                await response.aclose()
        return _named(response, backend)

    async def _started(
        self, journey: _Journey, backend: Backend, response: httpx.Response
    ) -> httpx.Response:
        source = cast(httpx.AsyncByteStream, response.stream)
        chunks = aiter(source)
        first = b""
        async for chunk in chunks:
            if chunk:
                first = chunk
                break
        journey.answered(backend, response, None)
        journey.served(backend, first)
        response.stream = _AsyncRelay(first, chunks, source, _OnCut(journey, backend))
        return _named(response, backend)

    async def aclose(self) -> None:
        await self._inner.aclose()
