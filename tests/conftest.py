"""Suite-wide test settings, and a fixture that hides the optional azure-identity.

In CI (``CI=true``) a skipped test is a failure: every dependency a test needs
is installed by ``.ci/run``, so a skip there means a broken install, not an
optional feature.
"""

from __future__ import annotations

import importlib.abc
import os
import sys

import pytest


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
