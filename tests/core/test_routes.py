"""`route`: which requests run on a deployment, which are pinned, which are refused."""

from __future__ import annotations

import pytest

from aoai_fallbacks._routes import referenced_id, route


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/openai/deployments/gpt-4o/chat/completions", True),
        ("POST", "/team/openai/deployments/gpt-4o/embeddings", True),
        ("POST", "/openai/v1/chat/completions", True),
        ("POST", "/openai/v1/responses", True),
        ("POST", "/openai/responses", True),  # the classic path names it in the body too
        ("GET", "/openai/v1/responses/resp_123", False),
        ("GET", "/openai/v1/files/file-123", False),
        ("GET", "/openai/files/file-123", False),
        ("GET", "/openai/batches/batch_1", False),
        ("POST", "/openai/v1/batches", False),
        ("GET", "/openai/v1/models", False),
    ],
)
def test_deployment_operations_name_the_deployment(method: str, path: str, expected: bool) -> None:
    """Only these quarantine a backend for a 401/403: it speaks for the deployment."""
    assert route(method, path).names_deployment is expected


@pytest.mark.parametrize(
    ("method", "path", "kind", "pool", "object_id"),
    [
        ("POST", "/openai/deployments/ada/embeddings", "balanced", "embeddings", None),
        ("POST", "/openai/v1/responses/input_tokens", "balanced", "chat", None),
        ("GET", "/openai/v1/responses/resp_1/input_items", "pinned", "chat", "resp_1"),
        ("POST", "/openai/v1/chat/completions/chatcmpl-9", "pinned", "chat", "chatcmpl-9"),
        ("GET", "/openai/fine_tuning/jobs/ftjob-2/events", "pinned", "chat", "ftjob-2"),
        ("POST", "/openai/threads/runs", "creates", "chat", None),
        ("POST", "/openai/files", "creates", "chat", None),
        ("GET", "/openai/files", "refused", "chat", None),
        ("POST", "/openai/deployments/dall-e-3/images/generations", "refused", "chat", None),
        ("POST", "/openai/v1/moderations", "refused", "chat", None),
    ],
)
def test_routes(method: str, path: str, kind: str, pool: str, object_id: str | None) -> None:
    found = route(method, path)
    assert (found.kind, found.pool, found.object_id) == (kind, pool, object_id)
    assert (found.reason != "") is (kind == "refused")


def test_a_body_that_builds_on_an_object_names_it() -> None:
    assert referenced_id(b'{"model":"x","previous_response_id": "resp_7"}') == "resp_7"
    assert referenced_id(b'{"conversation": {"id": "conv_3"}}') == "conv_3"
    assert referenced_id(b'{"file_ids": ["file-1", "file-2"]}') == "file-1"
    assert referenced_id(b'{"input": "previous_response_id"}') is None
    assert referenced_id(b"") is None
