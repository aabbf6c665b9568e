"""Which backend created which object: where calls naming a stored response or a file must go.

A stored response, a file or a batch lives on the one resource that created
it; another resource answers 404 for it. The balancer spreads the creating
calls, so it must remember where each went. The memory is this process's,
bounded in size (the oldest ids are forgotten first) and in time (Azure
keeps a stored response 30 days); a call naming an id it does not hold is
refused with that said, rather than sent to a resource picked by chance.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict

from aoai_fallbacks._clock import Clock

__all__ = ["MAX_REMEMBERED", "REMEMBERED_FOR", "Owners", "created_id"]

MAX_REMEMBERED = 100_000
"""Ids kept per balancer: about 10 MB; the least recently used is forgotten first."""

REMEMBERED_FOR = 30 * 24 * 3600.0
"""Seconds an id is kept: Azure's retention of a stored response."""

_ID = re.compile(rb'"id"\s*:\s*"(?P<id>[^"\\]{1,200})"')


class Owners:
    """The backend (its name) that created each object id, thread-safe and bounded."""

    def __init__(
        self,
        clock: Clock,
        *,
        size: int = MAX_REMEMBERED,
        lifetime: float = REMEMBERED_FOR,
    ) -> None:
        self._clock = clock
        self._size = size
        self._lifetime = lifetime
        self._owners: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, object_id: str, backend: str) -> None:
        """`backend` created `object_id`."""
        with self._lock:
            self._owners[object_id] = (backend, self._clock.monotonic())
            self._owners.move_to_end(object_id)
            while len(self._owners) > self._size:
                self._owners.popitem(last=False)

    def owner(self, object_id: str) -> str | None:
        """The backend that created `object_id`, or None if it is not (or no longer) known."""
        with self._lock:
            known = self._owners.get(object_id)
            if known is None:
                return None
            backend, since = known
            if self._clock.monotonic() - since > self._lifetime:
                del self._owners[object_id]
                return None
            self._owners.move_to_end(object_id)
            return backend


def created_id(body: bytes) -> str | None:
    """The id of the object an answer (JSON, or a stream's first event) describes.

    The first ``"id"`` of the document is the object's own: Azure writes it
    before the object's contents, and a stream's first event
    (``response.created``) carries the response first.
    """
    match = _ID.search(body)
    return None if match is None else match["id"].decode("utf-8", "replace")
