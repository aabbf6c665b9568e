"""One deployment on one emulated resource: its settings, its quota, its faults and its counts."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, fields, replace
from typing import Any, Literal, get_args

from aoai_fallbacks._wire import (
    REMAINING_DIALECTS,
    RETRY_AFTER_DIALECTS,
    Remaining,
    RetryAfter,
)
from aoai_fallbacks.emulator._faults import Faults
from aoai_fallbacks.emulator._quota import (
    REQUEST_WINDOW_SECONDS,
    REQUEST_WINDOWS,
    MonotonicClock,
    Quota,
    default_rpm,
)

Kind = Literal["chat", "embeddings"]
"""What a deployment's model does: chat (chat completions and Responses) or embeddings."""
KINDS: tuple[Kind, ...] = get_args(Kind)
EMBEDDING_DIMENSIONS = 1536
"""text-embedding-3-small's and ada-002's vector length."""


@dataclass(frozen=True)
class DeploymentConfig:
    """A deployment as Azure would configure it: name, quota and context window; and the
    dialect its resource (or the gateway in front of it) speaks about throttling, and the
    other apps that share its quota. The defaults are the emulator's classic Azure."""

    name: str
    tpm: int = 10_000
    rpm: int | None = None
    """Requests per minute; None: Azure's default of 6 per 1,000 TPM."""
    context_window: int = 8_192
    model: str | None = None
    """The model name answers carry; None: the deployment name."""
    default_max_tokens: int | None = 256
    """What a request that sends neither `max_tokens` nor `max_completion_tokens` is
    charged for its completion. Azure reserves the rest of the context window for
    such a request; that would make the default 10,000 TPM last one or two
    requests a minute, so the emulator charges this instead. None: do as Azure does."""
    retry_after: RetryAfter = "ms"
    """What a 429 says about when to come back: "ms", `retry-after-ms` (exact) and
    `retry-after` (whole seconds, rounded up); "seconds", only `retry-after`; "none",
    neither. The `omit_retry_after` fault forces "none" while it is on: this is the
    resource's fixed dialect, the fault a change a test makes while it runs."""
    reset_headers: bool = False
    """Add OpenAI's `x-ratelimit-reset-requests` and `x-ratelimit-reset-tokens` to 429s
    and 200s: the time until the request window, and the token window, would admit one
    more request like this one, as Go durations ("0s", "250ms", "1m30.5s")."""
    remaining_headers: Remaining = "exact"
    """`x-ratelimit-remaining-requests` / `-tokens`: "exact", the counts left in the
    windows; "unknown", both `-1`; "off", not sent."""
    request_window: float = REQUEST_WINDOW_SECONDS
    """Seconds over which requests are counted: 10.0 (RPM/6 per 10 s) or 1.0 (RPM/60 per
    1 s; under 60 RPM, one request per 60/RPM seconds)."""
    neighbour: float = 0.0
    """The share (0 up to 1) of the requests the deployment admits per second that
    another app sends it, outside any client of the emulator: seeded Poisson arrivals,
    each charged TPM/RPM tokens, refused ones not retried. Counted apart, in
    `DeploymentStats.neighbour_served` / `neighbour_throttled`."""
    kind: Kind = "chat"
    """"chat": chat completions and the Responses API; "embeddings": only embeddings.
    Azure answers 400 `OperationNotSupported` to the other operations."""
    dimensions: int = EMBEDDING_DIMENSIONS
    """An embeddings deployment's vector length (and the most `dimensions` may ask for)."""

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name:
            raise ValueError(f"invalid deployment name {self.name!r}")
        if self.tpm < 0 or (self.rpm is not None and self.rpm < 0):
            raise ValueError(f"deployment {self.name}: tpm and rpm cannot be negative")
        if self.context_window < 1:
            raise ValueError(f"deployment {self.name}: context_window must be positive")
        if self.retry_after not in RETRY_AFTER_DIALECTS:
            raise ValueError(
                f"deployment {self.name}: retry_after is one of "
                f"{', '.join(RETRY_AFTER_DIALECTS)}, not {self.retry_after!r}"
            )
        if not isinstance(self.reset_headers, bool):
            raise ValueError(
                f"deployment {self.name}: reset_headers is True or False, "
                f"not {self.reset_headers!r}"
            )
        if self.remaining_headers not in REMAINING_DIALECTS:
            raise ValueError(
                f"deployment {self.name}: remaining_headers is one of "
                f"{', '.join(REMAINING_DIALECTS)}, not {self.remaining_headers!r}"
            )
        if self.request_window not in REQUEST_WINDOWS:
            raise ValueError(
                f"deployment {self.name}: request_window is 1.0 or 10.0 seconds, "
                f"not {self.request_window!r}"
            )
        if self.kind not in KINDS:
            raise ValueError(
                f"deployment {self.name}: kind is chat or embeddings, not {self.kind!r}"
            )
        dims = self.dimensions
        if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
            raise ValueError(
                f"deployment {self.name}: dimensions must be a positive integer, not {dims!r}"
            )
        if self.kind == "chat" and dims != EMBEDDING_DIMENSIONS:
            raise ValueError(f"deployment {self.name}: dimensions is for embeddings deployments")
        share = self.neighbour
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share < 1:
            raise ValueError(
                f"deployment {self.name}: neighbour is a share from 0 up to (not "
                f"including) 1, not {self.neighbour!r}"
            )

    @property
    def effective_rpm(self) -> int:
        return default_rpm(self.tpm) if self.rpm is None else self.rpm

    @property
    def model_name(self) -> str:
        return self.model or self.name


@dataclass(frozen=True)
class DeploymentStats:
    """What reached a deployment and how it was answered; exact, for tests to assert on."""

    requests: int = 0
    """Every request that named the deployment (whatever the answer)."""
    served: int = 0
    """2xx answers."""
    throttled: int = 0
    """429 answers."""
    throttled_early: int = 0
    """Of those, 429s to requests sent before an earlier 429's retry-after had passed.

    Requests that any client told to wait (or one sharing what it learned)
    would not have sent: the measure of hammering a throttled deployment.
    """
    failed: int = 0
    """Injected faults: 5xx answers, hangs, cut streams."""
    rejected: int = 0
    """400, 401 and 404 answers."""
    neighbour_served: int = 0
    """Requests of the deployment's neighbour (`DeploymentConfig.neighbour`) it admitted;
    never part of the counts above, which are the clients'."""
    neighbour_throttled: int = 0
    """Requests of the neighbour it refused (the neighbour does not retry them)."""

    def __add__(self, other: DeploymentStats) -> DeploymentStats:
        return DeploymentStats(
            *(getattr(self, f.name) + getattr(other, f.name) for f in fields(self))
        )


OUTCOMES = ("served", "throttled", "failed", "rejected")


class Deployment:
    """The live state of one deployment. Thread-safe: the server thread answers requests
    while the test thread changes faults and reads counts."""

    def __init__(
        self, config: DeploymentConfig, *, faults: Faults, clock: MonotonicClock, seed: str
    ) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._initial_faults = replace(faults)
        self._faults = replace(faults)
        self._seed = seed
        self.quota = Quota(
            tpm=config.tpm,
            rpm=config.effective_rpm,
            clock=clock,
            request_window_seconds=config.request_window,
            neighbour=config.neighbour,
            seed=f"{seed}:neighbour",
        )
        self.rng = random.Random(seed)
        """Draws fault dice and answers; only the server thread uses it."""

    @property
    def faults(self) -> Faults:
        """A copy of the current faults: change them with `set_faults`."""
        with self._lock:
            return replace(self._faults)

    def set_faults(self, **changes: Any) -> Faults:
        unknown = set(changes) - set(Faults.field_names())
        if unknown:
            raise TypeError(f"unknown fault(s): {', '.join(sorted(unknown))}")
        with self._lock:
            self._faults = replace(self._faults, **changes)
            return replace(self._faults)

    def reset(self) -> None:
        """Back to the start: initial faults, empty quota windows, fresh dice."""
        with self._lock:
            self._faults = replace(self._initial_faults)
            self.rng = random.Random(self._seed)
        self.quota.clear()


class Counters:
    """Per-deployment-name counts, including names that do not exist (their 404s)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats: dict[str, DeploymentStats] = {}

    def count(self, deployment: str, outcome: str, *, early: bool = False) -> None:
        """Count one request to `deployment` and how it ended (one of `OUTCOMES`).

        `early`: a 429 to a request sent before an earlier 429's retry-after passed.
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        with self._lock:
            current = self._stats.get(deployment, DeploymentStats())
            self._stats[deployment] = replace(
                current,
                requests=current.requests + 1,
                throttled_early=current.throttled_early + early,
                **{outcome: getattr(current, outcome) + 1},
            )

    def get(self, deployment: str) -> DeploymentStats:
        with self._lock:
            return self._stats.get(deployment, DeploymentStats())

    def clear(self) -> None:
        with self._lock:
            self._stats.clear()
