"""Suite-wide test settings.

In CI (``CI=true``) a skipped test is a failure: every dependency a test needs
is installed by ``.ci/run``, so a skip there means a broken install, not an
optional feature.
"""

from __future__ import annotations

import os

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
