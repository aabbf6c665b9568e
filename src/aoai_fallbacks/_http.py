"""The `httpx` library the installed `openai` SDK is built on.

openai 3.x sends through `httpx2` (an API-identical fork of `httpx`), openai
2.x through `httpx`. A transport handed to the SDK must come from the same
library as the SDK's own client, or the SDK cannot tell our exceptions and
responses from foreign ones. So the balancing transport, its inner transport
and the responses it builds all use the module exported here.

Type-checking is done against `httpx`, whose API `httpx2` mirrors; at run
time the module matching the SDK's major version is imported.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import openai

__all__ = ["USES_HTTPX2", "httpx"]


def _major(version: str) -> int | None:
    """The first integer in a version string (``"3.54.0"`` -> 3), or None."""
    match = re.match(r"\D*(\d+)", version)
    return int(match.group(1)) if match else None


USES_HTTPX2 = (_major(str(getattr(openai, "__version__", ""))) or 0) >= 3
"""Whether the installed openai SDK sends through `httpx2` (openai >= 3)."""

if TYPE_CHECKING:
    import httpx
elif USES_HTTPX2:
    import httpx2 as httpx
else:
    import httpx
