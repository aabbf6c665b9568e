"""The ASGI app of one emulated resource: chat completions, embeddings, the Responses API, and
an admin route.

Per model call, in the order the service applies them: the key (401), the
`api-version` of a classic path (404 "Resource not found", as Azure answers),
the body (413, 400), the deployment (404 `DeploymentNotFound`), whether its
model does the operation (400 `OperationNotSupported`), the parameters (400);
then the deployment's faults (a gateway's 429, outage, hang, error rate,
latency), the content filter (400, chat and responses), the context window
(400 `context_length_exceeded`) and the quota (429), and finally the answer. A
request is charged on the quota only when it passes everything before it.
Stored responses are read, deleted and listed with the key alone, off the quota.

Every answer is an ordinary response, even the 500 of an emulator bug: an
exception that escaped to Starlette would make uvicorn close the connection
after the 500, and a client's next request on that keep-alive connection
would fail for a reason Azure never gives.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from aoai_fallbacks import _wire as wire
from aoai_fallbacks.emulator._answer import Choice, choose, completion, stream_chunks
from aoai_fallbacks.emulator._content import new_id
from aoai_fallbacks.emulator._deployment import Deployment
from aoai_fallbacks.emulator._embeddings import (
    MAX_INPUT_TOKENS,
    embeddings_body,
    input_tokens,
    input_too_long,
    parse_embeddings_request,
)
from aoai_fallbacks.emulator._faults import Faults, InvalidFault, roll_error
from aoai_fallbacks.emulator._prompt import Prompt
from aoai_fallbacks.emulator._request import ChatRequest, InvalidRequest, parse_chat_request
from aoai_fallbacks.emulator._resource import Resource
from aoai_fallbacks.emulator._response_body import response_body, stream_events
from aoai_fallbacks.emulator._responses import PreviousResponseNotFound, parse_responses_request
from aoai_fallbacks.emulator._store import StoredResponse
from aoai_fallbacks.emulator._tokens import prompt_tokens

MAX_BODY_BYTES = 4 * 1024 * 1024
"""Bodies above this are answered 413."""

V1_API_VERSION = "v1"

_log = logging.getLogger(__name__)


class _JSON(JSONResponse):
    """JSON in ASCII: a lone surrogate a client sent, echoed in a message, still encodes."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, allow_nan=False, separators=(",", ":")).encode("ascii")


class StreamCut(Exception):
    """Raised inside a stream to make the server drop the connection mid-answer."""


class _QuietStreamCuts(logging.Filter):
    """Keep the server's error log free of the tracebacks of deliberately cut streams."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        for _ in range(8):  # through exception groups and chains, never around a cycle
            if exc is None:
                break
            if isinstance(exc, StreamCut):
                return False
            group = getattr(exc, "exceptions", None)
            exc = group[0] if group else exc.__cause__ or exc.__context__
        return True


logging.getLogger("uvicorn.error").addFilter(_QuietStreamCuts())


@dataclass
class _Call:
    """What is known about one request as it moves through the checks."""

    resource: Resource
    request_id: str
    deployment_name: str | None = None
    deployment: Deployment | None = None
    cost: int | None = None
    """The request's estimate, once known: its answers (429 or 200) then carry the reset
    headers of a deployment that sends them."""

    def headers(self) -> dict[str, str]:
        headers = {wire.REQUEST_ID: self.request_id}
        if self.deployment is None:
            return headers
        config, quota = self.deployment.config, self.deployment.quota
        if config.remaining_headers == "exact":
            headers.update(wire.remaining_headers(*quota.remaining()))
        elif config.remaining_headers == "unknown":
            headers.update(wire.UNKNOWN_REMAINING)
        if config.reset_headers and self.cost is not None:
            headers.update(wire.reset_headers(*quota.resets(self.cost)))
        return headers

    def answer(
        self,
        outcome: str,
        status_body: tuple[int, dict[str, Any]],
        headers: dict[str, str] | None = None,
        *,
        early: bool = False,
    ) -> _JSON:
        if self.deployment_name is not None:
            self.resource.counters.count(self.deployment_name, outcome, early=early)
        status, body = status_body
        return _JSON(body, status_code=status, headers={**self.headers(), **(headers or {})})


class _Rejected(Exception):
    def __init__(self, status_body: tuple[int, dict[str, Any]]) -> None:
        super().__init__(status_body[0])
        self.status_body = status_body


def _authorized(request: Request, key: str) -> bool:
    given = request.headers.get("api-key")
    if given is None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        given = token if scheme.lower() == "bearer" else None
    return given == key


async def _read_body(request: Request) -> bytes:
    """The body, or 413 once it passes `MAX_BODY_BYTES` (the rest is drained, not kept)."""
    declared = request.headers.get("content-length", "")
    too_big = declared.isdigit() and int(declared) > MAX_BODY_BYTES
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        too_big = too_big or size > MAX_BODY_BYTES
        if not too_big:
            chunks.append(chunk)
    if too_big:
        raise _Rejected(wire.too_large(MAX_BODY_BYTES))
    return b"".join(chunks)


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"{text} is too large for a JSON number")
    return number


def _not_json(constant: str) -> float:
    raise ValueError(f"{constant} is not JSON")


def _decode(raw: bytes, *, strict: bool = True) -> object:
    """The decoded body, or the service's 400 for one that is not JSON.

    Python's parser also takes `NaN` and `Infinity`, and turns `1e999` into an
    infinity; the service's parser takes none of them, and a non-finite number
    could not be written back in an answer, so `strict` refuses them. The admin
    route is not strict, so that `Faults` can name the field a NaN was sent for.
    """
    try:
        if strict:
            return json.loads(raw, parse_float=_finite, parse_constant=_not_json)
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise _Rejected(wire.bad_json()) from None


def _content_rngs(
    resource: Resource, deployment: Deployment, request: ChatRequest
) -> list[random.Random]:
    """One generator per choice: fixed by the prompt at temperature 0 or with a `seed`,
    else drawn from the deployment's seeded generator, so answers vary call to call
    yet repeat run to run."""
    if request.temperature == 0 or request.seed is not None:
        key = json.dumps(
            [resource.seed, deployment.config.name, request.body.get("messages"), request.seed],
            sort_keys=True,
            default=str,
        )
        same = request.temperature == 0
        return [random.Random(f"{key}:{0 if same else i}") for i in range(request.n)]
    return [random.Random(deployment.rng.getrandbits(64)) for _ in range(request.n)]


def _mentions_filter_trigger(request: ChatRequest) -> bool:
    return wire.CONTENT_FILTER_TRIGGER in json.dumps(request.messages)


async def _wait_for_disconnect(request: Request, resource: Resource) -> None:
    """Hold the request until the client gives up (or the emulator stops)."""

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    waiters = {
        asyncio.ensure_future(disconnected()),
        asyncio.ensure_future(resource.closing.wait()),
    }
    _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()


async def _open(
    request: Request, call: _Call, *, v1: bool, in_path: bool, operation: wire.Operation
) -> tuple[object, str, Deployment]:
    """The checks every model call passes first, in Azure's order: the key, a classic
    path's `api-version`, the body, the deployment (named in the path or in `model`) and
    whether its model does `operation`. Returns the body, the api-version and the
    deployment, or raises `_Rejected`."""
    if in_path:
        call.deployment_name = request.path_params["deployment"]
    if not _authorized(request, call.resource.key):
        raise _Rejected(wire.unauthorized())
    api_version = request.query_params.get("api-version")
    if not v1 and not api_version:
        raise _Rejected(wire.resource_not_found())
    body = _decode(await _read_body(request))
    if not in_path:
        model = body.get("model") if isinstance(body, dict) else None
        if not isinstance(model, str) or not model:
            raise _Rejected(
                wire.invalid_request(
                    "Missing required parameter: 'model'.",
                    param="model",
                    code="missing_required_parameter",
                )
            )
        call.deployment_name = model
    call.deployment = call.resource.deployments.get(call.deployment_name or "")
    if call.deployment is None:
        raise _Rejected(wire.deployment_not_found())
    config = call.deployment.config
    if (config.kind == "embeddings") != (operation == "embeddings"):
        raise _Rejected(wire.operation_not_supported(operation, config.model_name))
    return body, api_version or V1_API_VERSION, call.deployment


def _invalid(invalid: InvalidRequest) -> _Rejected:
    return _Rejected(wire.invalid_request(invalid.message, param=invalid.param, code=invalid.code))


async def _chat(request: Request, resource: Resource, *, v1: bool) -> Response:
    call = _Call(resource, request_id=str(new_id(resource.ids, "")))
    try:
        body, api_version, deployment = await _open(
            request, call, v1=v1, in_path=not v1, operation="chat"
        )
        try:
            chat = parse_chat_request(body)
        except InvalidRequest as invalid:
            raise _invalid(invalid) from None
    except _Rejected as rejected:
        return call.answer("rejected", rejected.status_body)
    chosen = await _choices(request, call, deployment, chat, api_version, "chat")
    if isinstance(chosen, Response):
        return chosen
    prompt, choices = chosen
    config = deployment.config
    completion_id = new_id(call.resource.ids, "chatcmpl-")[:38]
    created = int(time.time())
    if not chat.stream:
        call.resource.counters.count(config.name, "served")
        body = completion(
            completion_id=completion_id,
            created=created,
            model=config.model_name,
            prompt_tokens=prompt,
            choices=choices,
        )
        return _JSON(body, headers=call.headers())
    chunks = stream_chunks(
        completion_id=completion_id,
        created=created,
        model=config.model_name,
        prompt_tokens=prompt,
        choices=choices,
        include_usage=chat.include_usage,
    )
    return _streamed(call, deployment, [*map(wire.sse, chunks), wire.sse("[DONE]")])


async def _faulted(
    request: Request,
    call: _Call,
    deployment: Deployment,
    api_version: str,
    operation: wire.Operation,
) -> Response | None:
    """The answer of a deployment's faults to this request, or None when none strikes."""
    faults = deployment.faults
    if faults.gateway_429 is not None:
        return call.answer(
            "throttled",
            wire.rate_limited(api_version, "requests", faults.gateway_429, operation),
            wire.retry_after_headers(
                faults.gateway_429,
                "none" if faults.omit_retry_after else deployment.config.retry_after,
            ),
        )
    if faults.outage:
        return call.answer("failed", wire.server_error(503))
    if faults.hang:
        call.resource.counters.count(deployment.config.name, "failed")
        await _wait_for_disconnect(request, call.resource)
        status, body = wire.server_error(503)  # read by no one unless the emulator is stopping
        return _JSON(body, status_code=status, headers=call.headers())
    if roll_error(faults, deployment.rng):
        await _work(faults)  # the server failed while working on it
        return call.answer("failed", wire.server_error(faults.error_status))
    return None


def _refused(
    call: _Call, deployment: Deployment, api_version: str, operation: wire.Operation, cost: int
) -> Response | None:
    """Charge `cost` on the deployment's quota: None if admitted, else the 429."""
    config = deployment.config
    call.cost = cost
    retry_after = "none" if deployment.faults.omit_retry_after else config.retry_after
    # The reset headers tell a refused caller its wait to the millisecond, whatever else does.
    admission = deployment.quota.admit(
        cost, announce="ms" if config.reset_headers else retry_after
    )
    if admission.admitted:
        return None
    assert admission.limit is not None
    return call.answer(
        "throttled",
        wire.rate_limited(api_version, admission.limit, admission.retry_after, operation),
        wire.retry_after_headers(admission.retry_after, retry_after),
        early=admission.early,
    )


async def _choices(
    request: Request,
    call: _Call,
    deployment: Deployment,
    chat: ChatRequest,
    api_version: str,
    operation: wire.Operation,
) -> Response | tuple[int, list[Choice]]:
    """A chat request (chat completions, or the Responses API's) past the faults, the
    content filter, the context window and the quota: its prompt tokens and the model's
    choices, or the answer that stopped it."""
    stopped = await _faulted(request, call, deployment, api_version, operation)
    if stopped is not None:
        return stopped
    if _mentions_filter_trigger(chat):
        return call.answer("rejected", wire.content_filtered())
    config = deployment.config
    prompt = prompt_tokens(chat.body)
    if prompt > config.context_window or (
        chat.max_tokens is not None and prompt + chat.max_tokens > config.context_window
    ):
        return call.answer(
            "rejected",
            wire.context_length_exceeded(config.context_window, prompt, chat.max_tokens),
        )
    completion_budget = chat.max_tokens
    if completion_budget is None:
        completion_budget = config.default_max_tokens
    if completion_budget is None:
        completion_budget = config.context_window - prompt
    refused = _refused(
        call, deployment, api_version, operation, prompt + completion_budget * chat.n
    )
    if refused is not None:
        return refused
    await _work(deployment.faults)
    limit = min(completion_budget, config.context_window - prompt)
    asked = Prompt.of(chat.messages)
    choices = []
    for rng in _content_rngs(call.resource, deployment, chat):
        choices.append(choose(chat, asked, rng, limit))
        await asyncio.sleep(0)  # let other requests on this loop in between choices
    return prompt, choices


def _streamed(call: _Call, deployment: Deployment, events: list[bytes]) -> Response:
    """A stream of server-sent `events`, cut after `drop_after_chunks` of them if set."""
    faults = deployment.faults
    cut = faults.drop_after_chunks is not None and faults.drop_after_chunks < len(events)
    call.resource.counters.count(deployment.config.name, "failed" if cut else "served")
    return StreamingResponse(
        _stream(events, ttft=faults.ttft, drop_after=faults.drop_after_chunks),
        media_type="text/event-stream",
        headers={**call.headers(), "cache-control": "no-cache"},
    )


async def _embeddings(request: Request, resource: Resource, *, v1: bool) -> Response:
    call = _Call(resource, request_id=str(new_id(resource.ids, "")))
    try:
        body, api_version, deployment = await _open(
            request, call, v1=v1, in_path=not v1, operation="embeddings"
        )
        config = deployment.config
        try:
            embed = parse_embeddings_request(
                body, model=config.model_name, max_dimensions=config.dimensions
            )
        except InvalidRequest as invalid:
            raise _invalid(invalid) from None
    except _Rejected as rejected:
        return call.answer("rejected", rejected.status_body)
    stopped = await _faulted(request, call, deployment, api_version, "embeddings")
    if stopped is not None:
        return stopped
    counts = [input_tokens(item) for item in embed.inputs]
    if max(counts) > MAX_INPUT_TOKENS:
        return call.answer("rejected", input_too_long(max(counts)))
    tokens = sum(counts)
    refused = _refused(call, deployment, api_version, "embeddings", tokens)
    if refused is not None:
        return refused
    await _work(deployment.faults)
    answer = embeddings_body(
        embed,
        deployment=config.name,
        model=config.model_name,
        full=config.dimensions,
        tokens=tokens,
    )
    resource.counters.count(config.name, "served")
    return _JSON(answer, headers=call.headers())


async def _responses(request: Request, resource: Resource, *, v1: bool) -> Response:
    """Create a response: a chat turn on a chat deployment, named in `model`, stored on
    this resource unless `store` is false."""
    call = _Call(resource, request_id=str(new_id(resource.ids, "")))
    try:
        body, api_version, deployment = await _open(
            request, call, v1=v1, in_path=False, operation="responses"
        )
        try:
            asked = parse_responses_request(body, resource.ids, resource.responses.get)
        except InvalidRequest as invalid:
            raise _invalid(invalid) from None
        except PreviousResponseNotFound as unknown:
            raise _Rejected(wire.previous_response_not_found(unknown.response_id)) from None
    except _Rejected as rejected:
        return call.answer("rejected", rejected.status_body)
    chosen = await _choices(request, call, deployment, asked.chat, api_version, "responses")
    if isinstance(chosen, Response):
        return chosen
    prompt, [choice] = chosen
    config = deployment.config
    answer = response_body(
        asked,
        response_id=new_id(resource.ids, "resp_"),
        created=int(time.time()),
        model=config.model_name,
        prompt_tokens=prompt,
        choice=choice,
        rng=resource.ids,
    )
    if asked.store:
        reply = [_message(item) for item in answer["output"]]
        resource.responses.put(
            StoredResponse(
                answer, asked.input_items, [*asked.conversation, *reply], asked.background
            )
        )
    if not asked.chat.stream:
        resource.counters.count(config.name, "served")
        return _JSON(answer, headers=call.headers())
    events = [wire.sse(event, name) for name, event in stream_events(answer)]
    return _streamed(call, deployment, events)


def _message(item: dict[str, Any]) -> dict[str, Any]:
    """An output item as the chat message a follow-up's model sees."""
    if item["type"] == "function_call":
        call = {
            "id": item["call_id"],
            "type": "function",
            "function": {"name": item["name"], "arguments": item["arguments"]},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call]}
    return {"role": "assistant", "content": item["content"][0]["text"]}


async def _stored(request: Request, resource: Resource, *, v1: bool, action: str) -> Response:
    """Retrieve, delete, cancel or list the input items of a response stored here. Needs
    the key, not the quota: Azure does not charge these on a deployment."""
    if not _authorized(request, resource.key):
        raise _Rejected(wire.unauthorized())
    if not v1 and not request.query_params.get("api-version"):
        raise _Rejected(wire.resource_not_found())
    response_id = request.path_params["response_id"]
    stored = resource.responses.get(response_id)
    if stored is None:
        raise _Rejected(wire.response_not_found(response_id))
    headers = {wire.REQUEST_ID: new_id(resource.ids, "")}
    if action == "delete":
        resource.responses.delete(response_id)
        deleted = {"id": response_id, "object": "response.deleted", "deleted": True}
        return _JSON(deleted, headers=headers)
    if action == "cancel" and not stored.background:
        raise _Rejected(
            wire.invalid_request("Only responses created with background=true can be cancelled.")
        )
    if action == "input_items":
        return _JSON(_listing(request, stored.input_items), headers=headers)
    return _JSON(stored.body, headers=headers)  # a finished response cancels to itself


def _listing(request: Request, items: list[dict[str, Any]]) -> dict[str, Any]:
    """A page of input items: `order` (desc by default), `after` an item id, `limit` 1..100."""
    query = request.query_params
    ordered = items[::-1] if query.get("order", "desc") == "desc" else list(items)
    limit = query.get("limit", "20")
    if not limit.isdigit() or not 1 <= int(limit) <= 100:
        raise _Rejected(
            wire.invalid_request(
                f"Invalid 'limit': expected an integer from 1 to 100, but got {limit!r} instead.",
                param="limit",
                code="invalid_value",
            )
        )
    after = query.get("after")
    ids = [item["id"] for item in ordered]
    start = ids.index(after) + 1 if after in ids else 0
    page = ordered[start : start + int(limit)]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": start + len(page) < len(ordered),
    }


async def _work(faults: Faults) -> None:
    """The model's time on a request, `faults.latency`, spent after admission.

    Azure charges a request on arrival and refuses at once what it will not
    serve: a 429 (or a 400, 401, 404) costs the client a round trip, not a
    model's worth of latency, and the remaining-quota headers of an answer
    count every request admitted before it, however long those take.
    """
    if faults.latency:
        await asyncio.sleep(faults.latency)


async def _stream(
    events: list[bytes], *, ttft: float, drop_after: int | None
) -> AsyncIterator[bytes]:
    if ttft:
        await asyncio.sleep(ttft)
    for sent, event in enumerate(events):
        if sent == drop_after:
            raise StreamCut(f"stream cut after {sent} chunks")
        yield event


# The admin route: change faults, read counts and reset while the emulator runs.


def _admin_deployment(request: Request, resource: Resource) -> Deployment:
    if not _authorized(request, resource.key):
        raise _Rejected(wire.unauthorized())
    deployment = resource.deployments.get(request.path_params.get("deployment", ""))
    if deployment is None:
        raise _Rejected(wire.deployment_not_found())
    return deployment


async def _admin_faults(request: Request, resource: Resource) -> Response:
    deployment = _admin_deployment(request, resource)
    if request.method == "POST":
        changes = _decode(await _read_body(request), strict=False)
        if not isinstance(changes, dict):
            raise _Rejected(wire.bad_json())
        try:
            deployment.set_faults(**changes)
        except InvalidFault as problem:
            raise _Rejected(
                wire.invalid_request(str(problem), param=problem.field, code="invalid_value")
            ) from None
        except TypeError as problem:  # a fault that does not exist
            raise _Rejected(wire.invalid_request(str(problem), code="invalid_value")) from None
    return _JSON(deployment.faults.as_dict())


async def _admin_stats(request: Request, resource: Resource) -> Response:
    deployment = _admin_deployment(request, resource)
    stats = resource.stats(deployment.config.name)
    return _JSON({name: getattr(stats, name) for name in stats.__dataclass_fields__})


async def _admin_reset(request: Request, resource: Resource) -> Response:
    if not _authorized(request, resource.key):
        raise _Rejected(wire.unauthorized())
    resource.reset()
    return Response(status_code=204)


def build_app(resource: Resource) -> Starlette:
    """The Starlette app serving `resource`."""

    def bind(handler: Any, **options: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            with resource.handling():
                try:
                    response: Response = await handler(request, resource, **options)
                except _Rejected as rejected:
                    status, body = rejected.status_body
                except ClientDisconnect:  # gone before its body arrived: no one to answer
                    return Response(status_code=499)
                except Exception:
                    _log.exception(
                        "emulator bug answering %s %s", request.method, request.url.path
                    )
                    status, body = wire.server_error(500)
                else:
                    return response
                return _JSON(
                    body, status_code=status, headers={wire.REQUEST_ID: new_id(resource.ids, "")}
                )

        return endpoint

    async def not_found(request: Request, exc: Exception) -> Response:
        status, body = wire.resource_not_found()
        if isinstance(exc, HTTPException) and exc.status_code == 405:
            status, body = wire.method_not_allowed()
        return _JSON(body, status_code=status, headers={wire.REQUEST_ID: new_id(resource.ids, "")})

    routes = [
        Route(
            "/openai/deployments/{deployment}/chat/completions",
            bind(_chat, v1=False),
            methods=["POST"],
        ),
        Route("/openai/v1/chat/completions", bind(_chat, v1=True), methods=["POST"]),
        Route(
            "/openai/deployments/{deployment}/embeddings",
            bind(_embeddings, v1=False),
            methods=["POST"],
        ),
        Route("/openai/v1/embeddings", bind(_embeddings, v1=True), methods=["POST"]),
    ]
    for prefix, v1 in (("/openai", False), ("/openai/v1", True)):
        stored = f"{prefix}/responses/{{response_id}}"
        routes += [
            Route(f"{prefix}/responses", bind(_responses, v1=v1), methods=["POST"]),
            Route(stored, bind(_stored, v1=v1, action="get"), methods=["GET"]),
            Route(stored, bind(_stored, v1=v1, action="delete"), methods=["DELETE"]),
            Route(f"{stored}/cancel", bind(_stored, v1=v1, action="cancel"), methods=["POST"]),
            Route(
                f"{stored}/input_items",
                bind(_stored, v1=v1, action="input_items"),
                methods=["GET"],
            ),
        ]
    routes += [
        Route(
            "/emulator/deployments/{deployment}/faults",
            bind(_admin_faults),
            methods=["GET", "POST"],
        ),
        Route("/emulator/deployments/{deployment}/stats", bind(_admin_stats), methods=["GET"]),
        Route("/emulator/reset", bind(_admin_reset), methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    app.router.redirect_slashes = False  # Azure answers 404, not a redirect, to a trailing /
    return app
