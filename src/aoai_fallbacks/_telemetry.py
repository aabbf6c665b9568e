"""OpenTelemetry for the transport: one span per attempt, and the balancer's metrics.

Optional twice over. Without ``opentelemetry-api`` (the ``otel`` extra)
nothing here imports it; with it, nothing is recorded until the application
sets a global tracer or meter provider (an SDK's, or ``opentelemetry-instrument``'s).
Until then `follow` hands the transport `OFF`, whose methods do nothing, so a
request pays a few look-ups (is ``opentelemetry`` loaded? is a provider set?)
and empty calls, under a microsecond; no attribute is built. A provider set
after this library was imported, or after the first request, is picked up by
the next request; once one is seen its tracer or meter is kept, as
OpenTelemetry's global providers can be set only once.

What is recorded (every name is listed in README, "Observe it"):

* a span per attempt, ``chat {deployment}`` (GenAI's ``{operation} {model}``;
  the HTTP method when the operation is not one GenAI names), kind CLIENT,
  child of whatever span is current where the request is sent (the caller's,
  LangChain's, the openai instrumentation's). It carries the GenAI and HTTP
  client attributes that apply, naming the backend actually reached, and ours
  under ``aoai_fallbacks.``. It ends with the attempt's verdict: for a stream,
  once its first chunk is in. A stream cut after that is a child span of the
  attempt, ``stream interrupted``, with an error status;
* counters of attempts by backend and outcome, of 429s and of cut streams,
  a histogram of the time a request waited before each attempt, and gauges
  read from every live `Balancer` when the metrics are collected: backends out
  of rotation, requests in flight to each, requests waiting in line.

No attribute carries a key: the backend is named by its name, host and
deployment, the URL is the one sent (keys travel in headers, and endpoints
may not hold credentials), and the verdict's reason goes through the log
redactor first.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from aoai_fallbacks._classify import Outcome, Verdict
from aoai_fallbacks._http import httpx
from aoai_fallbacks._log import redact
from aoai_fallbacks._rewrite import _target

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Meter, Observation
    from opentelemetry.trace import Span, Tracer

    from aoai_fallbacks._clock import Clock
    from aoai_fallbacks.balancer import BackendStatus, Balancer
    from aoai_fallbacks.config import Backend

__all__ = ["OFF", "PREFIX", "PROVIDER", "Telemetry", "follow", "watch"]

PROVIDER = "azure.ai.openai"
"""``gen_ai.provider.name`` for Azure OpenAI, as the GenAI conventions spell it."""
PREFIX = "aoai_fallbacks."
"""The prefix of every attribute and instrument of our own."""
SCOPE = "aoai_fallbacks"
"""The instrumentation scope's name: the tracer's and the meter's."""

BACKEND = PREFIX + "backend"
OUTCOME = PREFIX + "outcome"
STATE = PREFIX + "state"

_OPERATIONS = (  # the path's end -> gen_ai.operation.name; the first match wins
    ("/chat/completions", "chat"),
    ("/completions", "text_completion"),
    ("/embeddings", "embeddings"),
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
WAIT_BUCKETS = (0.0, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60)
"""Seconds: HTTP's duration buckets, from 0 (no wait, the usual case) to a long wait budget."""

_balancers: weakref.WeakSet[Balancer] = weakref.WeakSet()
_lock = threading.Lock()
_tracer: Tracer | None = None
_instruments: _Instruments | None = None


def watch(balancer: Balancer) -> None:
    """Observe `balancer` in the gauges for as long as it lives (the transport calls this)."""
    _balancers.add(balancer)


class Telemetry:
    """What the transport tells OpenTelemetry about one request; this base records nothing.

    `OFF` is the one instance the transport holds while nothing is configured.
    """

    __slots__ = ()

    def attempt(self, backend: Backend) -> None:
        """An attempt is about to be sent to `backend`."""

    def verdict(self, verdict: Verdict, cooldown: float | None) -> None:
        """The attempt's verdict, and the cooldown it started (None: none)."""

    def abandoned(self, error: BaseException) -> None:
        """The attempt was given up without a verdict (cancelled, or an error of ours)."""

    def cut(self, reason: str) -> None:
        """The stream the last attempt started broke after its first chunk."""


OFF = Telemetry()


def follow(balancer: Balancer, request: httpx.Request) -> Telemetry:
    """The telemetry of one request: `OFF` unless a tracer or meter provider is set."""
    tracer = _tracer or _find_tracer()
    instruments = _instruments or _find_instruments()
    if tracer is None and instruments is None:
        return OFF
    return _Recording(tracer, instruments, balancer.clock, request)


class _Api(NamedTuple):
    """Where OpenTelemetry's API keeps one signal's global provider."""

    module: str
    variable: str  # the module's global: None until a provider is set
    getter: str
    environment: str  # the variable that makes `getter` load a provider by itself


_TRACES = _Api(
    "opentelemetry.trace", "_TRACER_PROVIDER", "get_tracer_provider", "OTEL_PYTHON_TRACER_PROVIDER"
)
_METRICS = _Api(
    "opentelemetry.metrics._internal",
    "_METER_PROVIDER",
    "get_meter_provider",
    "OTEL_PYTHON_METER_PROVIDER",
)
_ENVIRONMENT = frozenset(os.environ) & {_TRACES.environment, _METRICS.environment}
"""Of the variables that make the API load a provider by itself, those set at start-up."""
_UNKNOWN = object()


def _configured(api: _Api) -> Any | None:
    """The provider the application set on OpenTelemetry's `api`, or None while none is.

    Asking the API (``get_tracer_provider()``) costs microseconds on every
    request while nothing is configured (it looks an environment variable up),
    so the API's own global is read first: None means no provider was set,
    unless an environment variable names one to load, which only the API's
    getter does. Should a later API rename its global, the getter answers.
    """
    loaded = sys.modules.get(api.module)
    if loaded is None:  # never imported: no provider can have been set
        return None
    if getattr(loaded, api.variable, _UNKNOWN) is None and api.environment not in _ENVIRONMENT:
        return None
    provider = getattr(loaded, api.getter)()
    # The API's own stand-ins (its proxy and no-op providers) record nothing.
    stand_in = type(provider).__module__.startswith(
        ("opentelemetry.trace", "opentelemetry.metrics")
    )
    return None if stand_in else provider


def _find_tracer() -> Tracer | None:
    global _tracer
    provider = _configured(_TRACES)
    if provider is None:
        return None
    from aoai_fallbacks import __version__

    _tracer = provider.get_tracer(SCOPE, __version__)
    return _tracer


def _find_instruments() -> _Instruments | None:
    global _instruments
    provider = _configured(_METRICS)
    if provider is None:
        return None
    from aoai_fallbacks import __version__

    with _lock:  # the gauges' callbacks must be registered once
        if _instruments is None:
            _instruments = _Instruments(provider.get_meter(SCOPE, __version__))
    return _instruments


@functools.lru_cache(maxsize=256)
def _address(endpoint: str) -> tuple[str, int]:
    """``server.address`` and ``server.port`` of a backend's endpoint."""
    url = httpx.URL(endpoint)
    return url.host, url.port or _DEFAULT_PORTS.get(url.scheme, 443)


def _backend_attributes(name: str, endpoint: str) -> dict[str, Any]:
    """What names a backend on every metric point: its name, host and port."""
    host, port = _address(endpoint)
    return {BACKEND: name, "server.address": host, "server.port": port}


def _error_type(verdict: Verdict) -> str:
    """``error.type``: the status code, else the failure's short name (``timeout``)."""
    if verdict.status is not None:
        return str(verdict.status)
    return verdict.reason.partition(":")[0]  # "no Entra ID token: <detail>" -> its kind


class _Recording(Telemetry):
    """One request's spans and measurements, while a provider is configured."""

    __slots__ = (
        "_backend_attributes",
        "_clock",
        "_instruments",
        "_last",
        "_operation",
        "_raw_path",
        "_request",
        "_sent",
        "_since",
        "_span",
        "_tracer",
    )

    def __init__(
        self,
        tracer: Tracer | None,
        instruments: _Instruments | None,
        clock: Clock,
        request: httpx.Request,
    ) -> None:
        self._tracer = tracer
        self._instruments = instruments
        self._clock = clock
        self._request = request
        path = request.url.path
        self._operation = next((op for end, op in _OPERATIONS if path.endswith(end)), None)
        self._raw_path = request.url.raw_path.decode("ascii")
        self._since = clock.monotonic()  # when the wait before the next attempt began
        self._sent = 0  # attempts started
        self._span: Span | None = None  # the attempt under way
        self._last: Span | None = None  # the last attempt's, ended
        self._backend_attributes: dict[str, Any] = {}

    def attempt(self, backend: Backend) -> None:
        wait = self._clock.monotonic() - self._since
        attributes = _backend_attributes(backend.name, backend.endpoint)
        self._backend_attributes = attributes
        if self._instruments is not None:
            self._instruments.wait.record(wait, attributes)
        if self._tracer is not None:
            self._span = self._start(self._tracer, backend, attributes, wait)
        self._sent += 1

    def _start(
        self, tracer: Tracer, backend: Backend, attributes: dict[str, Any], wait: float
    ) -> Span:
        from opentelemetry.trace import SpanKind

        url, _ = _target(backend.endpoint, backend.deployment, backend.api_version, self._raw_path)
        span_attributes: dict[str, Any] = (
            {} if self._operation is None else {"gen_ai.operation.name": self._operation}
        )
        span_attributes.update(
            {
                "gen_ai.provider.name": PROVIDER,
                "gen_ai.request.model": backend.deployment,
                "http.request.method": self._request.method,
                "url.full": str(url),
                **attributes,
                PREFIX + "wait": wait,
            }
        )
        if self._sent:
            span_attributes["http.request.resend_count"] = self._sent
        name = (
            self._request.method
            if self._operation is None
            else f"{self._operation} {backend.deployment}"
        )
        return tracer.start_span(name, kind=SpanKind.CLIENT, attributes=span_attributes)

    def verdict(self, verdict: Verdict, cooldown: float | None) -> None:
        self._since = self._clock.monotonic()
        outcome = verdict.outcome.value
        instruments = self._instruments
        if instruments is not None:
            attributes = self._backend_attributes
            instruments.attempts.add(1, {**attributes, OUTCOME: outcome})
            if verdict.status == 429:
                instruments.throttles.add(1, attributes)
        span, self._span = self._span, None
        if span is None:
            return
        self._last = span
        if span.is_recording():
            span.set_attribute(OUTCOME, outcome)
            span.set_attribute(PREFIX + "reason", redact(verdict.reason))
            if verdict.status is not None:
                span.set_attribute("http.response.status_code", verdict.status)
            if verdict.retry_after is not None:
                span.set_attribute(PREFIX + "retry_after", verdict.retry_after)
            if cooldown is not None:
                span.set_attribute(PREFIX + "cooldown", cooldown)
            if verdict.outcome is not Outcome.SUCCESS:
                _failed(span, _error_type(verdict))
        span.end()

    def abandoned(self, error: BaseException) -> None:
        self._since = self._clock.monotonic()
        span, self._span = self._span, None
        if span is None:
            return
        if span.is_recording():
            span.set_attribute(OUTCOME, "abandoned")
            _failed(span, type(error).__qualname__)
        span.end()

    def cut(self, reason: str) -> None:
        if self._instruments is not None:
            self._instruments.interruptions.add(1, self._backend_attributes)
        if self._tracer is None or self._last is None:
            return
        from opentelemetry.trace import set_span_in_context

        span = self._tracer.start_span(
            "stream interrupted",
            context=set_span_in_context(self._last),
            attributes={**self._backend_attributes, OUTCOME: Outcome.FAILED.value},
        )
        _failed(span, reason)
        span.end()


def _failed(span: Span, error_type: str) -> None:
    from opentelemetry.trace import StatusCode

    span.set_attribute("error.type", error_type)
    span.set_status(StatusCode.ERROR)


_COUNTERS = (  # name, unit, description: attempts, throttles, interruptions
    ("attempts", "{attempt}", "Attempts sent to a backend, by backend and outcome"),
    ("throttles", "{response}", "429 answers, by backend"),
    (
        "stream.interruptions",
        "{stream}",
        "Streamed answers cut after their first chunk, by backend",
    ),
)


class _Instruments:
    """Every instrument, created once on the configured meter."""

    def __init__(self, meter: Meter) -> None:
        self.attempts, self.throttles, self.interruptions = (
            meter.create_counter(PREFIX + name, unit=unit, description=description)
            for name, unit, description in _COUNTERS
        )
        self.wait = meter.create_histogram(
            PREFIX + "wait.duration",
            unit="s",
            description="Time a request waited for a backend before each attempt",
            explicit_bucket_boundaries_advisory=WAIT_BUCKETS,
        )
        gauges = (
            (
                "backends.unavailable",
                _observer(_unavailable),
                "{backend}",
                "1 for a backend out of rotation (cooling, circuit open or half-open, "
                "quarantined), 0 for one available; by backend and state",
            ),
            (
                "requests.in_flight",
                _observer(_in_flight),
                "{request}",
                "Attempts sent to a backend and not answered yet, by backend",
            ),
            ("requests.waiting", _waiting, "{request}", "Requests waiting in line for a backend"),
        )
        for name, callback, unit, description in gauges:
            meter.create_observable_up_down_counter(
                PREFIX + name, callbacks=[callback], unit=unit, description=description
            )


def _unavailable(status: BackendStatus) -> tuple[int, dict[str, Any]]:
    return int(status.state != "available"), {STATE: status.state}


def _in_flight(status: BackendStatus) -> tuple[int, dict[str, Any]]:
    return status.in_flight, {}


def _observer(
    read: Callable[[BackendStatus], tuple[int, dict[str, Any]]],
) -> Callable[[CallbackOptions], Iterable[Observation]]:
    """A gauge's callback: `read` over every backend of every live balancer.

    Balancers over the same backends add up (two balancers' requests in
    flight to one deployment are all in flight to it).
    """

    def observe(options: CallbackOptions) -> Iterable[Observation]:
        from opentelemetry.metrics import Observation

        totals: Counter[tuple[tuple[str, Any], ...]] = Counter()
        for balancer in list(_balancers):
            for status in balancer.snapshot():
                value, more = read(status)
                attributes = {**_backend_attributes(status.name, status.endpoint), **more}
                totals[tuple(attributes.items())] += value
        return [Observation(value, dict(key)) for key, value in totals.items()]

    return observe


def _waiting(options: CallbackOptions) -> Iterable[Observation]:
    from opentelemetry.metrics import Observation

    return [Observation(sum(balancer.waiting for balancer in list(_balancers)))]
