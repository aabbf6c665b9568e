"""The responses a resource keeps for `previous_response_id`, retrieval and deletion.

A stored response lives only on the resource that created it, as on Azure: a
client that sends a follow-up (or a retrieve) to another resource gets that
resource's 404 (or 400), which is what a balancer spreading a conversation
over resources must learn to avoid. Bounded, oldest forgotten first, so a
long benchmark does not grow without limit.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_STORED = 10_000
"""Responses kept per resource."""


@dataclass(frozen=True)
class StoredResponse:
    body: Mapping[str, Any]
    """The Response object as answered."""
    input_items: list[dict[str, Any]]
    """Its input items, with their ids, in the order given."""
    conversation: list[dict[str, Any]]
    """Chat messages a follow-up continues from: earlier turns, this input and this answer."""
    background: bool = False
    """Created with `background`: only such responses may be cancelled."""


class ResponseStore:
    """Thread-safe: the server thread stores and reads, a test thread may reset."""

    def __init__(self, limit: int = MAX_STORED) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._responses: OrderedDict[str, StoredResponse] = OrderedDict()

    def put(self, stored: StoredResponse) -> None:
        with self._lock:
            self._responses[stored.body["id"]] = stored
            while len(self._responses) > self._limit:
                self._responses.popitem(last=False)

    def get(self, response_id: str) -> StoredResponse | None:
        with self._lock:
            return self._responses.get(response_id)

    def delete(self, response_id: str) -> bool:
        with self._lock:
            return self._responses.pop(response_id, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._responses.clear()
