"""What one backend's answer means for that backend and for the request.

This is DESIGN's classification table as code, in one place, so the transport,
the proxy and the tests agree on it:

======================================  ================  ==========================
the backend answers                     outcome           the balancer then
======================================  ================  ==========================
2xx                                     SUCCESS           remembers remaining quota
429                                     THROTTLED         cools it for Retry-After
500/502/503/504, 408, other 5xx/3xx,    FAILED            counts toward the circuit
timeout, refused/reset, broken stream                     (a 503 with Retry-After
                                                          also cools it)
404 ``DeploymentNotFound``; 401, 403    MISCONFIGURED     quarantines it
on the deployment's own operations
no Entra ID token for it                MISCONFIGURED     quarantines it
400 ``context_length_exceeded``         CONTEXT_OVERFLOW  tries the larger tier
any other 4xx (``content_filter``, a    REJECTED          returns it: the caller's
404 for a file, batch or response id)                     answer
======================================  ================  ==========================

Only what speaks for the deployment itself says the backend is misconfigured:
``DeploymentNotFound``, and a 401/403 to a request that names the deployment
(`aoai_fallbacks._routes`: `Route.names_deployment`). A 404 for a file, a batch or a stored response, or a
401/403 on such an operation, answers the caller's question about *that*
object; quarantining a healthy backend for it would take it away from every
other request.

The error body may be missing, truncated or not JSON at all (a proxy's HTML
page), so the error code is read from the JSON when it parses and picked out
of the raw text when it does not.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from aoai_fallbacks._retry_after import header, retry_after_hint

__all__ = [
    "Outcome",
    "Verdict",
    "classify_failure",
    "classify_response",
    "classify_sign_in_failure",
    "error_code",
]


class Outcome(enum.Enum):
    """The six things an attempt can mean (see the module's table)."""

    SUCCESS = "success"
    THROTTLED = "throttled"
    FAILED = "failed"
    MISCONFIGURED = "misconfigured"
    CONTEXT_OVERFLOW = "context_overflow"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Verdict:
    """One attempt's classification: what the balancer records and the logs report.

    `reason` is short and safe to log: the status (``"429"``), the error code
    (``"DeploymentNotFound"``, ``"content_filter"``) or the failure
    (``"timeout"``, ``"connect"``). `retry_after` is the backend's own wait
    hint in seconds, if it gave one; the balancer applies default and cap.
    """

    outcome: Outcome
    reason: str
    status: int | None = None
    retry_after: float | None = None
    remaining_tokens: int | None = None
    remaining_requests: int | None = None
    retry_exact: bool = False
    """`retry_after` is to the millisecond; else an upper bound (whole seconds)."""


_CODE_IN_TEXT = re.compile(rb'"code"\s*:\s*"([^"\\]{1,100})"')
_CONTEXT_OVERFLOW = "context_length_exceeded"
_DEPLOYMENT_NOT_FOUND = "DeploymentNotFound"


def error_code(body: bytes | None) -> str | None:
    """The ``error.code`` of an Azure/OpenAI error body, or None.

    A truncated or non-JSON body still yields the first ``"code": "..."`` it
    contains, which is where the Azure error envelope puts it.
    """
    if not body:
        return None
    try:
        document = json.loads(body)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
        match = _CODE_IN_TEXT.search(body)
        return match.group(1).decode("utf-8", "replace") if match else None
    error = document.get("error") if isinstance(document, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) and code else None


def _remaining(headers: Mapping[str, str], name: str) -> int | None:
    """A non-negative integer quota header; `-1` (unknown) and garbage give None."""
    text = header(headers, name)
    if text is None:
        return None
    try:
        value = int(text.strip())
    except ValueError:
        try:  # some gateways send "123.0"
            number = float(text)
        except ValueError:
            return None
        if not number.is_integer():
            return None
        value = int(number)
    return value if value >= 0 else None


def classify_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes | None,
    *,
    now_wall: float,
    deployment: bool = True,
) -> Verdict:
    """Classify one HTTP answer from a backend.

    `body` matters only for 4xx answers (it tells a context overflow from a
    content filter, a missing deployment from a missing file); pass None for
    answers not read (2xx, streams). The remaining-quota headers are read from
    every answer: a 429's zeros are as informative as a 200's counts.
    `deployment`: the request was one of the deployment's own operations
    (`Route.names_deployment`), so a 401/403 speaks for the backend.
    """
    tokens = _remaining(headers, "x-ratelimit-remaining-tokens")
    requests = _remaining(headers, "x-ratelimit-remaining-requests")
    reason = str(status)
    if 200 <= status < 300:
        return Verdict(Outcome.SUCCESS, reason, status, None, tokens, requests)
    if status == 429:
        hint = retry_after_hint(headers, now_wall=now_wall)
        if hint is None:
            return Verdict(Outcome.THROTTLED, reason, status, None, tokens, requests)
        return Verdict(
            Outcome.THROTTLED, reason, status, hint.seconds, tokens, requests, hint.exact
        )
    if 400 <= status < 500 and status != 408:
        code = error_code(body)
        if (status == 404 and code == _DEPLOYMENT_NOT_FOUND) or (
            deployment and status in (401, 403)
        ):
            outcome = Outcome.MISCONFIGURED
        elif status == 400 and code == _CONTEXT_OVERFLOW:
            outcome = Outcome.CONTEXT_OVERFLOW
        else:
            outcome = Outcome.REJECTED
        return Verdict(outcome, code or reason, status, None, tokens, requests)
    # 408, 5xx, and anything a healthy Azure endpoint never sends (1xx, 3xx):
    # a fault of this backend, not of the request, so another may do better.
    hint = retry_after_hint(headers, now_wall=now_wall) if status == 503 else None
    wait = None if hint is None else hint.seconds
    return Verdict(Outcome.FAILED, reason, status, wait, tokens, requests)


def classify_failure(reason: str, *, retry_after: float | None = None) -> Verdict:
    """Classify an attempt that got no usable answer: ``"timeout"``, ``"connect"``, ``"stream"``...

    `retry_after` lets the caller also cool the backend down, e.g. after a
    stream cut mid-way, so the next requests avoid it for a while.
    """
    return Verdict(Outcome.FAILED, reason, None, retry_after)


def classify_sign_in_failure(detail: str) -> Verdict:
    """Classify an attempt that never left: no Microsoft Entra ID token could be had for it.

    The backend's credential is broken (no sign-in available, a revoked
    secret, azure-identity missing), which another backend's may not be: it
    is misconfigured, with no HTTP status. `detail` says why, safe to log.
    """
    return Verdict(Outcome.MISCONFIGURED, f"no Entra ID token: {detail}")
