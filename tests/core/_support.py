"""Helpers for the core's unit tests: backends with a distinctive key, and verdicts.

Verdicts are made by the real `classify_response` from real headers, so these
tests also pin the path a transport takes from an answer to the board.
"""

from __future__ import annotations

from typing import Any

from aoai_fallbacks._classify import Verdict, classify_failure, classify_response
from aoai_fallbacks.balancer import Balancer, Wait
from aoai_fallbacks.config import Backend

SECRET = "sk-DISTINCTIVE-7f3a9c-never-print-me"


def backend(name: str, **fields: Any) -> Backend:
    fields.setdefault("endpoint", f"https://aoai-{name}.openai.azure.com")
    fields.setdefault("deployment", "gpt-35-turbo")
    fields.setdefault("api_key", f"{SECRET}-{name}")
    return Backend(name=name, **fields)


def ok(tokens: int | None = None, requests: int | None = None) -> Verdict:
    headers = {}
    if tokens is not None:
        headers["x-ratelimit-remaining-tokens"] = str(tokens)
    if requests is not None:
        headers["x-ratelimit-remaining-requests"] = str(requests)
    return classify_response(200, headers, None, now_wall=0.0)


def throttled(**headers: str) -> Verdict:
    """A 429; keyword `retry_after_ms="1500"` becomes header `retry-after-ms: 1500`."""
    named = {k.replace("_", "-"): v for k, v in headers.items()}
    return classify_response(429, named, b'{"error": {"code": "429"}}', now_wall=0.0)


def failed(status: int = 503) -> Verdict:
    return classify_response(status, {}, None, now_wall=0.0)


def timeout() -> Verdict:
    return classify_failure("timeout")


def unauthorized() -> Verdict:
    return classify_response(401, {}, b'{"error": {"code": "401"}}', now_wall=0.0)


def pick(balancer: Balancer, **select: Any) -> str:
    """The name of the backend `select` returns; fails the test on a `Wait`."""
    choice = balancer.select(**select)
    assert not isinstance(choice, Wait), choice
    return choice.name


def names(
    balancer: Balancer, draws: int = 200, *, give_back: bool = False, **select: Any
) -> set[str]:
    """The set of backend names `select` returns over many draws (Wait -> "wait").

    Every draw stays in flight (as a request awaiting its verdict) unless
    `give_back`, which releases each at once: what one new request is offered.
    """
    seen: set[str] = set()
    for _ in range(draws):
        choice = balancer.select(**select)
        seen.add("wait" if isinstance(choice, Wait) else choice.name)
        if give_back and not isinstance(choice, Wait):
            balancer.release(choice)
    return seen
