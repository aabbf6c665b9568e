"""The `httpx` library the installed `openai` SDK is built on.

openai 3.x sends through `httpx2` (an API-identical fork of `httpx`), openai
2.x through `httpx`. A transport handed to the SDK must come from the same
library as the SDK's own client, or the SDK cannot tell our exceptions and
responses from foreign ones. So the balancing transport, its inner transport
and the responses it builds all use the module exported here.

A type checker is shown the same module the SDK's own annotations use (the
``openai._httpx`` the SDK imports for them), so everything built here is typed
as what it is: `httpx2` classes where openai 3 is installed, `httpx` ones
where openai 2 is. Handing a transport of one to a client of the other is a
type error, as it is at run time. At run time the module matching the SDK's
major version is imported.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import openai

__all__ = ["USES_HTTPX2", "check_request", "httpx"]


def _major(version: str) -> int | None:
    """The first integer in a version string (``"3.54.0"`` -> 3), or None."""
    match = re.match(r"\D*(\d+)", version)
    return int(match.group(1)) if match else None


USES_HTTPX2 = (_major(str(getattr(openai, "__version__", ""))) or 0) >= 3
"""Whether the installed openai SDK sends through `httpx2` (openai >= 3)."""

if TYPE_CHECKING:
    from openai import _httpx as httpx  # type: ignore[attr-defined]  # the SDK's private alias
elif USES_HTTPX2:
    import httpx2 as httpx
else:
    import httpx


def check_request(request: object, transport: object) -> None:
    """Refuse a request built by the other library (an `httpx` client on openai 3, or the reverse).

    Without this, a transport of one library handed to a client of the other
    fails deep inside the client with a bare ``AssertionError``.
    """
    if not isinstance(request, httpx.Request):
        sdk = "openai 3" if USES_HTTPX2 else "openai 2"
        theirs = type(request).__module__.partition(".")[0]
        raise TypeError(
            f"{type(transport).__name__} is a transport of {httpx.__name__}, the HTTP library "
            f"the installed {sdk} sends through, but it was given a request from {theirs}: use "
            f"it with openai.DefaultHttpxClient (or {httpx.__name__}.Client), not {theirs}.Client"
        )
