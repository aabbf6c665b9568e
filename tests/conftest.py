"""Suite-wide test settings, a fixture that hides the optional azure-identity, and a real
redis-server for the tests of the shared throttle state.

In CI (``CI=true``) a skipped test is a failure: every dependency a test needs
is installed by ``.ci/run``, so a skip there means a broken install, not an
optional feature. That includes `redis-server`, which ``scripts/test`` installs
from Debian's packages when it is missing.
"""

from __future__ import annotations

import importlib.abc
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from aoai_fallbacks._cli.bench.redis_server import RedisServer


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = (
            f"skipped in CI, where every dependency must be installed: {report.longrepr}"
        )


class _NoAzurePackage(importlib.abc.MetaPathFinder):
    """Finds no `azure` package, as on an install without azure-identity."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname == "azure" or fullname.startswith("azure."):
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)


@pytest.fixture
def without_azure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Import as if no `azure` package were installed (the ``entra`` extra left out).

    Not ``sys.modules["azure.identity"] = None``: that answers a look-up of
    the submodule without ever importing its parent, which is exactly what
    fails on a bare install.
    """
    for name in [n for n in sys.modules if n == "azure" or n.startswith("azure.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_NoAzurePackage(), *sys.meta_path])


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server on a free loopback port for the whole session, killed at its end.

    A test may `stop()` it (a crash) and `start()` it again (a restart on the
    same port); `redis_url` brings it back for the next test if it was left
    stopped. Skipped when redis-server is not installed.
    """
    from aoai_fallbacks._cli.bench.redis_server import RedisServer

    if not RedisServer.installed():
        pytest.skip(
            "redis-server is not installed: bash scripts/test installs it "
            "(apt-get install redis-server)"
        )
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's redis-server, running and empty: its ``redis://`` URL."""
    if not redis_server.running:
        redis_server.start()
    redis_server.flush()
    return redis_server.url
