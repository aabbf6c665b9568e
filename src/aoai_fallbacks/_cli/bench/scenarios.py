"""The benchmark's world: three emulated Azure resources with known quotas, and the loads put on them.

Time scaling. The emulator enforces Azure's windows as Azure does: requests
over a sliding 10 s (RPM/6 per window), tokens over a sliding minute. A
minute-long token window lets a fresh deployment absorb a whole minute's
tokens at once, so a run of a few dozen seconds would never meet its token
limit and would measure nothing. The scenarios therefore make the *request*
limit the binding one (as Azure's default of 6 RPM per 1,000 TPM does for
short prompts): each deployment gets `rpm` requests per minute and a token
quota far above what those requests can spend. "Capacity" is then the number
of requests the windows admit over the run, and the share of capacity used is
answers served within the planned duration over that number.

Each scenario offers a share of the total capacity as seeded Poisson arrivals
over a planned duration (a whole number of 10 s windows in the full run), then
waits at most `grace` seconds more for the stragglers: the run's hard
wall-time bound. The quick run (CI's smoke test) keeps the shapes but lasts
2 s a scenario: it proves the machinery and the counts, not the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aoai_fallbacks._cli.bench.approaches import Options

__all__ = [
    "BASELINE",
    "DEPLOYMENT",
    "WINDOW",
    "Emulated",
    "Scenario",
    "Setup",
    "full_setup",
    "quick_setup",
]

DEPLOYMENT = "gpt-35-turbo"
"""The one deployment name every emulated resource serves."""

WINDOW = 10.0
"""Seconds in the emulator's request window (Azure enforces RPM as RPM/6 per 10 s)."""

BASELINE = "unthrottled"
"""The name of the calibration run: one direct client far below one deployment's quota."""


@dataclass(frozen=True)
class Scenario:
    """One load on the resources: its share of capacity, its length and what goes wrong."""

    name: str
    load: float
    """Offered requests per second as a share of the total capacity of all resources."""
    duration: float
    """Planned seconds of arrivals; the full run uses whole 10 s request windows."""
    faults: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Resource name ("01") -> `Faults` fields for its deployment."""
    description: str = ""


@dataclass(frozen=True)
class Emulated:
    """The emulated resources every run of either workload is measured on, and what every
    approach is configured with alike."""

    resources: int = 3
    rpm: int = 120
    """Requests per minute per deployment."""
    tpm: int = 1_000_000
    """Tokens per minute per deployment: far above what `rpm` requests spend (see module doc)."""
    latency: float = 0.25
    """Seconds every emulated answer takes, as a model takes to generate one."""
    max_tokens: int = 60
    attempt_timeout: float = 5.0
    """Per-attempt timeout given to every approach alike (a hung backend must time out)."""
    grace: float = 35.0
    """Seconds allowed beyond the planned run before unfinished requests are cut."""
    seed: int = 7

    def options(self) -> Options:
        return Options(max_tokens=self.max_tokens, attempt_timeout=self.attempt_timeout)


@dataclass(frozen=True)
class Setup(Emulated):
    """Everything an open-loop benchmark run needs to be reproduced: 20 requests per 10 s
    window per deployment, and the scenarios."""

    scenarios: tuple[Scenario, ...] = ()

    @property
    def capacity(self) -> float:
        """Requests per second the resources admit together in steady state."""
        return self.resources * self.rpm / 60.0

    def per_window(self) -> int:
        """Requests one deployment admits per window."""
        return self.rpm * int(WINDOW) // 60


def _scenarios(duration: float) -> tuple[Scenario, ...]:
    return (
        Scenario("50%", 0.5, duration, description="half the total quota"),
        Scenario("100%", 1.0, duration, description="exactly the total quota"),
        Scenario("200%", 2.0, duration, description="twice the total quota"),
        Scenario(
            "faults",
            0.3,
            duration,
            faults={"01": {"outage": True}, "02": {"hang": True}},
            description="01 answers 503, 02 hangs; 03 alone has quota for the load",
        ),
    )


def full_setup() -> Setup:
    """The published run: 20 s per scenario (two windows), a few minutes in all."""
    return Setup(scenarios=_scenarios(20.0))


def quick_setup() -> Setup:
    """CI's smoke test: 2 s per scenario and a short grace, under a minute in all."""
    return Setup(grace=2.5, attempt_timeout=1.0, scenarios=_scenarios(2.0))
