"""The `aoai-fallbacks` command line.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``. Those modules import their heavy dependencies (server,
terminal UI) inside ``run`` so that ``aoai-fallbacks --help`` works on a bare
install.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from aoai_fallbacks import __version__

# name -> (module, one-line help)
_COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("aoai_fallbacks._cli.check", "validate the configuration and probe every backend"),
    "emulate": (
        "aoai_fallbacks.emulator._cli",
        "run local Azure OpenAI resources that throttle and fail on demand",
    ),
    "demo": (
        "aoai_fallbacks._cli.demo",
        "watch the balancer beat the seed recipe on the emulator",
    ),
    "bench": ("aoai_fallbacks._cli.bench.command", "benchmark every approach side by side"),
    "serve": (
        "aoai_fallbacks._cli.serve",
        "serve one Azure OpenAI-compatible endpoint in front of every backend",
    ),
}


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (resources, workers...)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aoai-fallbacks",
        description="Spread Azure OpenAI chat completions over many deployments.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in _COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(
            name, help=help_text, description=module.__doc__, formatter_class=_Formatter
        )
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keep the module docstrings' line breaks and show every default."""


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args._run(args)
    except KeyboardInterrupt:
        return 130
    return code
