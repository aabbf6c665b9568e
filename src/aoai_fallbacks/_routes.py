"""Which way a request goes: balanced over a pool, pinned to one resource, or refused.

Azure OpenAI serves two kinds of calls. Inference (chat completions,
embeddings, Responses) runs on a *deployment* and is charged on its quota:
any deployment of the right pool can answer it, so it is balanced. Everything
else acts on an *object that lives on one resource* (a stored response, a
file, a batch, a vector store): only that resource knows it, so a call naming
one goes there (pinned), and a call creating one goes to a backend the normal
policy picks, which then owns it.

The rest is refused, with the reason, before anything is sent: listing files
or batches would have to merge every resource's list; image and audio
deployments, the realtime API and the organisation's administration have no
pool here. Sending them anywhere would answer with another resource's view,
or with a chat deployment named for an image model.

The table is by path, after the endpoint's ``/openai/`` (and the ``v1/`` of
the v1 API, or the ``deployments/{name}/`` of the classic one). It is pure
and cached: every request is routed, and a process sends the same few paths
over and over.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from aoai_fallbacks.config import Pool

__all__ = ["Route", "referenced_id", "route"]

Kind = Literal["balanced", "pinned", "creates", "refused"]

_STATEFUL = (
    # Objects that live on the resource that created them: `C/{id}...` is pinned to it,
    # `POST C` creates one (and the answer's id is remembered), `GET C` lists them.
    "chat/completions",  # stored completions (`store: true`)
    "fine_tuning/jobs",
    "responses",
    "files",
    "batches",
    "vector_stores",
    "uploads",
    "conversations",
    "containers",
    "evals",
    "assistants",
    "threads/runs",  # a thread created and run at once: `threads/runs` is no thread's id
    "threads",
    "skills",
)
_BALANCED: dict[tuple[str, str], tuple[str, Pool]] = {
    ("POST", "chat/completions"): ("chat completions", "chat"),
    ("POST", "completions"): ("completions", "chat"),
    ("POST", "responses"): ("responses", "chat"),
    ("POST", "responses/compact"): ("responses", "chat"),
    ("POST", "responses/input_tokens"): ("responses", "chat"),
    ("POST", "embeddings"): ("embeddings", "embeddings"),
}
"""Inference: charged on a deployment's quota, answered by any deployment of the pool."""
_ON_ANY = frozenset({"models"})
"""Read-only calls every resource answers alike (the models it offers)."""
_REMEMBERED = frozenset({"responses"})
"""Balanced operations whose answer is an object later calls name (a stored response)."""
_DEPLOYMENT = re.compile(r"deployments/[^/]+/(?P<operation>.+)")
_REFERENCE = re.compile(
    rb'"(?:previous_response_id|conversation|input_file_id|file_id|file_ids)"'
    rb'\s*:\s*(?:\[\s*|\{\s*"id"\s*:\s*)?"(?P<id>[^"\\]{1,200})"'
)


@dataclass(frozen=True, slots=True)
class Route:
    """Where one request goes, as `route` decides it.

    `operation` names what the caller asked for, in the words errors use
    (``"embeddings"``, ``"files"``). `pool`: the deployments that serve a
    balanced (or created) one. `names_deployment`: the request names a
    deployment (path segment or body ``model``) that each attempt rewrites.
    `object_id`: the id a pinned call names. `remembers`: the answer creates
    an object whose id later calls name. `reason`: why a refused one is.
    """

    kind: Kind
    operation: str
    pool: Pool = "chat"
    names_deployment: bool = False
    object_id: str | None = None
    remembers: bool = False
    reason: str = ""


def route(method: str, path: str) -> Route:
    """The route of a request for `path` (its ``/openai/...`` part, percent-encoded)."""
    return _route(method.upper(), path)


@functools.lru_cache(maxsize=1024)
def _route(method: str, path: str) -> Route:
    start = path.find("/openai/")
    rest = path[start + len("/openai/") :] if start >= 0 else path.lstrip("/")
    rest = rest.removeprefix("v1/").rstrip("/")
    deployment = _DEPLOYMENT.fullmatch(rest)
    if deployment is not None:
        rest = deployment["operation"]
    balanced = _BALANCED.get((method, rest))
    if balanced is not None:
        operation, pool = balanced
        return Route(
            "balanced",
            operation,
            pool,
            names_deployment=True,
            remembers=rest in _REMEMBERED,
        )
    if deployment is not None:
        return _refused(
            rest,
            "it runs on a deployment of a kind no pool holds (only chat completions, "
            "Responses and embeddings are balanced): call that deployment with a plain client",
        )
    first = rest.partition("/")[0]
    if method == "GET" and first in _ON_ANY:
        return Route("balanced", first)
    for collection in _STATEFUL:
        if rest == collection:
            if method == "POST":
                return Route("creates", collection, remembers=True)
            return _refused(
                collection,
                "each resource keeps its own; aoai-fallbacks does not merge lists across "
                "resources: list them with a plain client of one resource",
            )
        if rest.startswith(collection + "/"):
            object_id = rest[len(collection) + 1 :].partition("/")[0]
            return Route("pinned", collection, object_id=object_id)
    return _refused(
        rest or "/", "it is neither inference on a deployment nor an object of one resource"
    )


def _refused(operation: str, why: str) -> Route:
    return Route(
        "refused", operation, reason=f"aoai-fallbacks does not balance {operation!r}: {why}"
    )


def referenced_id(content: bytes) -> str | None:
    """The first object a request body builds on (``previous_response_id``, a file...), or None.

    A response that continues another, or a batch over an uploaded file, can
    only be answered by the resource that holds that object.
    """
    if not content:
        return None
    match = _REFERENCE.search(content)
    return None if match is None else match["id"].decode("utf-8", "replace")
