"""Every operation the openai SDK offers under `AzureOpenAI` is balanced, pinned or refused.

The test walks the SDK's resources, calls each method with made-up arguments
through a plain client pointed at the emulator, records the requests it
really sends (an httpx event hook) and routes each. The table below says
what each family of operations must be; an operation the SDK gains in a new
release matches no line and fails the test, so that someone decides.
"""

from __future__ import annotations

import contextlib
import inspect
import io
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai._resource import SyncAPIResource

from aoai_fallbacks._http import httpx
from aoai_fallbacks._routes import route
from aoai_fallbacks.emulator import DeploymentConfig, run_emulator

pytestmark = pytest.mark.integration

NONE = "sends nothing"
EXPECTED: dict[str, str] = {
    # inference: any deployment of the pool answers
    "chat.completions.create": "balanced",
    "chat.completions.parse": "balanced",
    "chat.completions.stream": "balanced",
    "completions.create": "balanced",
    "embeddings.create": "balanced",
    "responses.create": "balanced",
    "responses.parse": "balanced",
    "responses.stream": "balanced",
    "responses.compact": "balanced",
    "responses.input_tokens.count": "balanced",
    "models.list": "balanced",
    "models.retrieve": "balanced",
    # objects of one resource: created where the policy says, then pinned there
    "chat.completions": "pinned",  # stored completions: retrieve, update, delete, messages
    "chat.completions.list": "refused",
    "responses": "pinned",
    "responses.connect": NONE,  # a websocket, not an HTTP request
    "conversations": "pinned",
    "conversations.create": "creates",
    "files": "pinned",
    "files.create": "creates",
    "files.list": "refused",
    "batches": "pinned",
    "batches.create": "creates",
    "batches.list": "refused",
    "vector_stores": "pinned",
    "vector_stores.create": "creates",
    "vector_stores.list": "refused",
    # these upload the file first (created where the policy says), then attach it
    "vector_stores.files.upload": "creates",
    "vector_stores.files.upload_and_poll": "creates",
    "vector_stores.file_batches.upload_and_poll": "creates",
    "uploads": "pinned",
    "uploads.create": "creates",
    "uploads.upload_file_chunked": "creates",
    "containers": "pinned",
    "containers.create": "creates",
    "containers.list": "refused",
    "evals": "pinned",
    "evals.create": "creates",
    "evals.list": "refused",
    "fine_tuning.jobs": "pinned",
    "fine_tuning.jobs.create": "creates",
    "fine_tuning.jobs.list": "refused",
    "fine_tuning.alpha": "refused",
    "fine_tuning.checkpoints": "refused",
    "skills": "pinned",
    "skills.create": "creates",
    "skills.list": "refused",
    "beta.assistants": "pinned",
    "beta.assistants.create": "creates",
    "beta.assistants.list": "refused",
    "beta.threads": "pinned",
    "beta.threads.create": "creates",
    "beta.threads.create_and_run": "creates",
    "beta.threads.create_and_run_poll": "creates",
    "beta.threads.create_and_run_stream": "creates",
    "beta.chat.completions": "pinned",
    "beta.chat.completions.create": "balanced",
    "beta.chat.completions.parse": "balanced",
    "beta.chat.completions.stream": "balanced",
    "beta.chat.completions.list": "refused",
    "beta.responses": "pinned",
    "beta.responses.create": "balanced",
    "beta.responses.compact": "balanced",
    "beta.responses.input_tokens.count": "balanced",
    "beta.responses.connect": NONE,
    # no pool, or lists across resources, or not inference at all
    "admin": "refused",
    "audio": "refused",
    "images": "refused",
    "videos": "refused",
    "moderations": "refused",
    "models.delete": "refused",
    "realtime": "refused",
    "realtime.connect": NONE,
    "realtime.translations.connect": NONE,
    "beta.realtime": "refused",
    "beta.realtime.connect": NONE,
    "live": "refused",
    "live.connect": NONE,
    "live.forks.connect": NONE,
    "live.sideband.connect": NONE,
    "webhooks": "refused",
    "webhooks.unwrap": NONE,
    "webhooks.verify_signature": NONE,
    "safety": "refused",
    "decisions": "refused",
    "content_provenance_checks": "refused",
    "beta.agents": "refused",
    "beta.chatkit": "refused",
}


ARGUMENTS: dict[str, dict[str, object]] = {
    # methods whose required arguments the signature does not show (overloads)
    "responses.stream": {"model": "x", "input": "hi"},
    "uploads.upload_file_chunked": {
        "file": b"{}\n",
        "filename": "notes.jsonl",
        "bytes": 3,
        "mime_type": "application/jsonl",
        "purpose": "batch",
    },
}


def _expected(name: str) -> str | None:
    """The table's word for `name`: its own line, else its closest family's."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        found = EXPECTED.get(".".join(parts[:end]))
        if found is not None:
            return found
    return None


def _operations(client: openai.AzureOpenAI) -> Iterator[tuple[str, Any]]:
    seen: set[int] = set()

    def walk(resource: object, prefix: str) -> Iterator[tuple[str, Any]]:
        for name in dir(resource):
            if name.startswith("_") or name in ("with_raw_response", "with_streaming_response"):
                continue
            value = getattr(resource, name)
            if isinstance(value, SyncAPIResource):
                if id(value) not in seen:
                    seen.add(id(value))
                    yield from walk(value, f"{prefix}{name}.")
            elif isinstance(resource, SyncAPIResource) and inspect.ismethod(value):
                yield f"{prefix}{name}", value

    yield from walk(client, "")


def _argument(name: str, annotation: str) -> object:
    """A made-up value the SDK accepts for a required parameter."""
    if name in ("file", "data") or "FileTypes" in annotation:
        return ("notes.jsonl", io.BytesIO(b"{}\n"), "application/jsonl")
    if name == "messages":
        return [{"role": "user", "content": "hi"}]
    if name in ("model", "input", "prompt", "purpose", "text") or "str" in annotation:
        return "obj_123" if name.endswith("id") else "x"
    if "int" in annotation or "float" in annotation:
        return 1
    if "bool" in annotation:
        return False
    if "Iterable" in annotation or "List" in annotation or "Sequence" in annotation:
        return []
    return {}


def _call(name: str, method: Any) -> None:
    kwargs: dict[str, object] = {}
    for parameter in inspect.signature(method).parameters.values():
        if name in ARGUMENTS:
            kwargs = ARGUMENTS[name]
            break
        if parameter.default is inspect.Parameter.empty and parameter.kind in (
            parameter.POSITIONAL_OR_KEYWORD,
            parameter.KEYWORD_ONLY,
        ):
            kwargs[parameter.name] = _argument(parameter.name, str(parameter.annotation))
    result = method(**kwargs)
    if hasattr(result, "__enter__"):  # the stream helpers send when entered
        with result:
            pass


def test_every_sdk_operation_is_balanced_pinned_or_refused() -> None:
    sent: list[httpx.Request] = []
    with run_emulator(1, [DeploymentConfig("gpt-4o")]) as emu:
        resource = emu.resources[0]
        client = openai.AzureOpenAI(
            azure_endpoint=resource.endpoint,
            api_key=resource.key,
            api_version="2025-04-01-preview",
            max_retries=0,
            timeout=5,
            http_client=openai.DefaultHttpxClient(event_hooks={"request": [sent.append]}),
        )
        wrong: list[str] = []
        unknown: list[str] = []
        operations = dict(_operations(client))
        for name, method in sorted(operations.items()):
            expected = _expected(name)
            if expected is None:
                unknown.append(name)
                continue
            sent.clear()
            with contextlib.suppress(Exception):  # the emulator's 404s, the SDK's own checks
                _call(name, method)
            if not sent:
                # A call the SDK itself refuses (arguments it needs in a shape made-up
                # values miss) sends nothing: for a refused family, that is the same.
                got = "refused" if expected == "refused" else NONE
            else:
                first = sent[0]
                got = route(first.method, first.url.path).kind
            if got != expected:
                wrong.append(f"{name}: {got}, expected {expected}")
    assert len(operations) > 100  # the walk found the SDK's resources
    assert unknown == [], "operations the table does not decide"
    assert wrong == [], "\n".join(wrong)
