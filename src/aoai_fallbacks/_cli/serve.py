"""Serve one Azure OpenAI-compatible endpoint that balances over every configured backend.

Apps in any language point their Azure OpenAI SDK at it: the endpoint is
``http://HOST:PORT``, the key one of ``AOAI_PROXY_KEYS``, the deployment the
configured ``AOAI_DEPLOYMENT`` (or an alias from ``AOAI_PROXY_ALIASES``).
Backends are read as every face reads them (``AOAI_ENDPOINT_nn``,
``AOAI_KEY_nn``...). Their keys never leave this process.

Without ``AOAI_PROXY_KEYS`` it serves on loopback only, and accepts any key.
With ``--workers N`` each worker learns alone unless ``AOAI_REDIS_URL`` names
a Redis they share. On SIGTERM or Ctrl-C it stops taking connections and
lets requests in flight, streams included, finish for up to ``--grace``
seconds.

Exit status: 2 when the configuration cannot be read or would be unsafe.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from aoai_fallbacks._cli import positive_int
from aoai_fallbacks.config import _is_loopback
from aoai_fallbacks.errors import ConfigError

if TYPE_CHECKING:
    from aoai_fallbacks.proxy import Proxy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on")
    parser.add_argument(
        "--env-file",
        type=Path,
        metavar="FILE",
        help="read AOAI_* variables from FILE instead of .env (the real environment wins)",
    )
    parser.add_argument(
        "--workers", type=positive_int, default=1, help="worker processes (share state via Redis)"
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="on shutdown, how long requests in flight may take to finish",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=("debug", "info", "warning", "error"),
        help="info logs one line per request (logger aoai_fallbacks.proxy)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        import aoai_fallbacks.proxy  # noqa: F401  # fails here, not in a worker, if an extra is missing
    except ImportError as missing:
        print(
            f"serve needs the proxy extra ({missing.name} is missing): "
            "pip install 'aoai-fallbacks[proxy]'",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    try:
        _check(args)
    except ConfigError as error:
        print(f"aoai-fallbacks serve: {error}", file=sys.stderr)
        return 2
    uvicorn.run(
        "aoai_fallbacks._cli.serve:worker_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        lifespan="on",
        access_log=False,  # the proxy logs its own lines, without query strings
        log_config=None,
        log_level=args.log_level,
        timeout_graceful_shutdown=args.grace,
        server_header=False,
    )
    return 0


def worker_app() -> Proxy:
    """What each uvicorn worker serves: the environment `_check` prepared, and no ``.env``."""
    from aoai_fallbacks.proxy import from_environment

    return from_environment(dotenv=False)


def _check(args: argparse.Namespace) -> None:
    """Read the whole configuration once, here, so a mistake is one clear line, not N workers'.

    The variables found (the environment over ``--env-file``, or over
    ``.env``) are put in the environment the workers inherit, and they read
    nothing else: a ``.env`` beside an ``--env-file`` adds nothing.
    """
    from aoai_fallbacks.config import load_backends, load_redis_url, read_environment
    from aoai_fallbacks.proxy import load_proxy_settings

    if args.env_file is not None and not args.env_file.is_file():
        raise ConfigError(f"--env-file {args.env_file} does not exist")
    environ = read_environment(dotenv=args.env_file or True)
    backends = load_backends(environ, dotenv=False)
    settings = load_proxy_settings(environ, dotenv=False)
    redis = load_redis_url(environ, dotenv=False)
    if not settings.keys and not _is_loopback(args.host):
        raise ConfigError(
            f"--host {args.host} is reachable from other machines but AOAI_PROXY_KEYS is not "
            "set: anyone could spend the backends' quota. Set AOAI_PROXY_KEYS, or serve on "
            "127.0.0.1"
        )
    settings.check_against(backends)
    if args.workers > 1 and redis is None:
        logging.getLogger("aoai_fallbacks").warning(
            "%d workers without AOAI_REDIS_URL: each learns the backends' limits alone",
            args.workers,
        )
    for name, value in environ.items():
        if name.startswith("AOAI_"):
            os.environ.setdefault(name, value)
