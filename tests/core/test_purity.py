"""The core stays free of I/O libraries: no HTTP client, no openai, no LangChain."""

from __future__ import annotations

import json
import subprocess
import sys

import aoai_fallbacks

FORBIDDEN = {
    "httpx",
    "httpx2",
    "httpcore",
    "openai",
    "langchain",
    "langchain_core",
    "langchain_openai",
    "starlette",
    "uvicorn",
    "requests",
    "aiohttp",
    "urllib3",
    "redis",
}

# The package's __init__ re-exports the faces, which do import openai; load the
# package as a bare namespace so only the core modules' own imports count.
PROBE = """
import json, sys, types
package = types.ModuleType("aoai_fallbacks")
package.__path__ = {path!r}
sys.modules["aoai_fallbacks"] = package
import aoai_fallbacks.balancer, aoai_fallbacks._classify, aoai_fallbacks._retry_after
import aoai_fallbacks._routes, aoai_fallbacks._owners
print(json.dumps(sorted(sys.modules)))
"""


def test_core_imports_no_http_openai_or_langchain() -> None:
    code = PROBE.format(path=list(aoai_fallbacks.__path__))
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(result.stdout))
    assert "aoai_fallbacks.balancer" in loaded
    assert {m.split(".")[0] for m in loaded} & FORBIDDEN == set()
