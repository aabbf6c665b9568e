"""Classification: DESIGN's table, row by row, with the bodies Azure really sends."""

from __future__ import annotations

import json

import pytest

from aoai_fallbacks._classify import (
    Outcome,
    Verdict,
    classify_failure,
    classify_response,
    classify_sign_in_failure,
    error_code,
)

CONTEXT_OVERFLOW = json.dumps(
    {
        "error": {
            "message": "This model's maximum context length is 8192 tokens. However, your "
            "messages resulted in 9000 tokens. Please reduce the length of the messages.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }
).encode()
CONTENT_FILTER = json.dumps(
    {
        "error": {
            "message": "The response was filtered due to the prompt triggering Azure "
            "OpenAI's content management policy.",
            "code": "content_filter",
            "status": 400,
            "innererror": {"code": "ResponsibleAIPolicyViolation"},
        }
    }
).encode()
NOT_FOUND = b'{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}}'
RESOURCE_NOT_FOUND = b'{"error":{"code":"404","message": "Resource not found"}}'
FILE_NOT_FOUND = b'{"error":{"code":"notFound","message":"File with id \'missing\' not found."}}'


def classify(
    status: int, headers: dict[str, str] | None = None, body: bytes | None = None
) -> Verdict:
    return classify_response(status, headers or {}, body, now_wall=1_700_000_000.0)


def test_success_remembers_remaining_quota() -> None:
    verdict = classify(
        200, {"x-ratelimit-remaining-tokens": "9000", "x-ratelimit-remaining-requests": "54"}
    )
    assert verdict == Verdict(Outcome.SUCCESS, "200", 200, None, 9000, 54)


@pytest.mark.parametrize("bad", ["-1", "lots", "", "1.5", "-3"])
def test_unknown_or_garbage_remaining_quota_is_none(bad: str) -> None:
    verdict = classify(
        200, {"x-ratelimit-remaining-tokens": bad, "x-ratelimit-remaining-requests": bad}
    )
    assert verdict.outcome is Outcome.SUCCESS
    assert (verdict.remaining_tokens, verdict.remaining_requests) == (None, None)


def test_throttled_carries_retry_after_and_quota() -> None:
    verdict = classify(
        429,
        {"retry-after": "7", "retry-after-ms": "6500", "x-ratelimit-remaining-tokens": "0"},
        b'{"error": {"code": "429", "message": "... Please retry after 7 seconds."}}',
    )
    assert verdict.outcome is Outcome.THROTTLED
    assert (verdict.reason, verdict.status, verdict.retry_after) == ("429", 429, 6.5)
    assert verdict.remaining_tokens == 0


def test_throttled_without_headers_leaves_the_default_to_the_balancer() -> None:
    verdict = classify(429)
    assert verdict.outcome is Outcome.THROTTLED
    assert verdict.retry_after is None


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504, 501, 599, 302])
def test_server_faults_are_failures(status: int) -> None:
    verdict = classify(status, {}, b"<html>Bad gateway</html>")
    assert verdict == Verdict(Outcome.FAILED, str(status), status)


def test_503_with_retry_after_carries_it() -> None:
    verdict = classify(503, {"retry-after": "12"})
    assert (verdict.outcome, verdict.retry_after) == (Outcome.FAILED, 12.0)


def test_only_503_carries_retry_after() -> None:
    assert classify(500, {"retry-after": "12"}).retry_after is None


@pytest.mark.parametrize("status", [401, 403])
def test_auth_on_a_deployment_operation_is_misconfiguration(status: int) -> None:
    verdict = classify(
        status, {}, b'{"error": {"code": "%d", "message": "Access denied"}}' % status
    )
    assert (verdict.outcome, verdict.reason) == (Outcome.MISCONFIGURED, str(status))


@pytest.mark.parametrize("deployment", [True, False])
def test_deployment_not_found_is_named(deployment: bool) -> None:
    verdict = classify_response(404, {}, NOT_FOUND, now_wall=0.0, deployment=deployment)
    assert (verdict.outcome, verdict.reason) == (Outcome.MISCONFIGURED, "DeploymentNotFound")


@pytest.mark.parametrize(
    ("status", "body", "deployment"),
    [
        (404, RESOURCE_NOT_FOUND, True),  # e.g. an api-version the resource does not know
        (404, RESOURCE_NOT_FOUND, False),
        (404, FILE_NOT_FOUND, False),
        (404, None, True),
        (404, b"<html>Not Found</html>", False),
        (401, b'{"error": {"code": "401"}}', False),
        (403, b'{"error": {"code": "403"}}', False),
    ],
)
def test_other_404s_and_auth_off_the_deployment_are_the_callers_answer(
    status: int, body: bytes | None, deployment: bool
) -> None:
    """Issue 10: a missing file, batch or response id quarantined a healthy backend."""
    verdict = classify_response(status, {}, body, now_wall=0.0, deployment=deployment)
    assert (verdict.outcome, verdict.status) == (Outcome.REJECTED, status)


def test_context_overflow() -> None:
    verdict = classify(400, {}, CONTEXT_OVERFLOW)
    assert verdict == Verdict(Outcome.CONTEXT_OVERFLOW, "context_length_exceeded", 400)


def test_context_overflow_in_a_truncated_body() -> None:
    verdict = classify(400, {}, CONTEXT_OVERFLOW[:-2])
    assert verdict.outcome is Outcome.CONTEXT_OVERFLOW


def test_content_filter_is_rejected_not_failed_over() -> None:
    verdict = classify(400, {}, CONTENT_FILTER)
    assert (verdict.outcome, verdict.reason) == (Outcome.REJECTED, "content_filter")


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, None),
        (400, b""),
        (400, b"not json at all \xff"),
        (400, b'["error"]'),
        (400, b'{"error": "bad"}'),
        (400, b'{"error": {"code": null}}'),
        (413, b'{"error": {"code": "too_big"}}'),
        (422, None),
    ],
)
def test_other_client_errors_are_rejected(status: int, body: bytes | None) -> None:
    verdict = classify(status, {}, body)
    assert verdict.outcome is Outcome.REJECTED
    assert verdict.status == status


def test_context_length_exceeded_counts_only_on_a_400() -> None:
    assert classify(422, {}, CONTEXT_OVERFLOW).outcome is Outcome.REJECTED


def test_error_code_reads_json_and_raw_text() -> None:
    assert error_code(NOT_FOUND) == "DeploymentNotFound"
    assert error_code(b'<html>{"code": "content_filter", "mess') == "content_filter"
    assert error_code(b"") is None
    assert error_code(None) is None
    assert error_code(b"{}") is None


def test_failures_without_an_answer() -> None:
    assert classify_failure("timeout") == Verdict(Outcome.FAILED, "timeout")
    broken = classify_failure("stream", retry_after=5.0)
    assert (broken.outcome, broken.reason, broken.retry_after) == (Outcome.FAILED, "stream", 5.0)


def test_no_entra_id_token_is_misconfiguration_without_a_status() -> None:
    verdict = classify_sign_in_failure("ClientAuthenticationError: no credential")
    assert verdict == Verdict(
        Outcome.MISCONFIGURED, "no Entra ID token: ClientAuthenticationError: no credential"
    )
