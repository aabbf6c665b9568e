"""What `import aoai_fallbacks` costs and offers: no LangChain until asked, its names, version."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from types import ModuleType

import pytest

import aoai_fallbacks
from aoai_fallbacks._cli import main


def python(*args: str) -> str:
    """Run a fresh interpreter (nothing imported yet) with `args`; its standard output."""
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


def test_importing_the_package_imports_no_langchain() -> None:
    """Only langchain-core's exceptions module (a few modules, a few milliseconds): the
    base of `NoBackendAvailableError` that LangChain's retry middleware recognises."""
    loaded = python(
        "-c",
        "import sys, aoai_fallbacks; from aoai_fallbacks import balanced_openai_client; "
        "print(sorted(m for m in sys.modules if m.startswith('langchain')))",
    )
    assert "langchain_core.exceptions" in loaded
    assert "langchain_openai" not in loaded
    assert "langchain_core.language_models" not in loaded
    assert "langchain_core.runnables" not in loaded


def test_the_langchain_faces_are_imported_on_first_use() -> None:
    shown = python(
        "-c",
        "import sys, aoai_fallbacks\n"
        "from aoai_fallbacks import balanced_chat_model\n"
        "import aoai_fallbacks.langchain as face\n"
        "print(balanced_chat_model is face.balanced_chat_model, 'langchain_openai' in sys.modules)",
    )
    assert shown == "True True"
    from aoai_fallbacks.recipe import fallback_chain

    assert aoai_fallbacks.fallback_chain is fallback_chain


def test_all_lists_exactly_the_public_names() -> None:
    """Every name not starting with ``_`` that is not a submodule, and nothing else."""
    public = {
        name
        for name in dir(aoai_fallbacks)
        if not name.startswith("_") and not isinstance(getattr(aoai_fallbacks, name), ModuleType)
    }
    assert set(aoai_fallbacks.__all__) == public
    assert len(aoai_fallbacks.__all__) == len(public)
    assert {"Balancer", "balanced_chat_model", "fallback_chain"} <= public


def test_dir_and_star_import_list_the_lazy_names_before_their_first_use() -> None:
    missing = python(
        "-c",
        "import aoai_fallbacks as package\n"
        "print(sorted(set(package.__all__) - set(dir(package))))\n"
        "from aoai_fallbacks import *\n"
        "print(sorted(set(package.__all__) - set(globals())))",
    )
    assert missing.splitlines() == ["[]", "[]"]


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"aoai_fallbacks.*no attribute 'balanced_chat'"):
        _ = aoai_fallbacks.balanced_chat  # type: ignore[attr-defined]
    assert not hasattr(aoai_fallbacks, "balanced_chat")


def test_the_version_is_the_installed_distributions() -> None:
    assert aoai_fallbacks.__version__ == importlib.metadata.version("aoai-fallbacks")


def test_the_command_line_says_its_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"aoai-fallbacks {aoai_fallbacks.__version__}\n"
    assert (
        python("-m", "aoai_fallbacks", "--version")
        == f"aoai-fallbacks {aoai_fallbacks.__version__}"
    )
