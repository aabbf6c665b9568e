"""Run local Azure OpenAI resources to test an app against throttling, without spending quota.

Starts --resources emulated resources on 127.0.0.1, each with every
--deployment, enforcing Azure's quotas (tokens and requests per minute over
sliding windows, 429 with retry-after) and context windows, speaking one of
Azure's dialects (the dialect flags, also a neighbour app sharing the quota),
and optionally misbehaving (the fault flags). Prints each endpoint and a ready-to-paste .env
block, then serves until Ctrl-C (or for --duration seconds).

A prompt containing EMULATOR_CONTENT_FILTER is refused with Azure's 400
content_filter answer. While it runs, each resource's admin route changes
faults and reads counts (same api-key header as the chat calls):
  GET/POST {endpoint}/emulator/deployments/{deployment}/faults   e.g. {"outage": true}
  GET      {endpoint}/emulator/deployments/{deployment}/stats
  POST     {endpoint}/emulator/reset

Chat deployments also serve the Responses API; --embedding-deployment adds an
embeddings one (printed as AOAI_EMBEDDING_DEPLOYMENT).

example:
  aoai-fallbacks emulate --resources 3 --deployment gpt-35-turbo --tpm 10000 \
      --embedding-deployment text-embedding-3-small:100000
"""

from __future__ import annotations

import argparse
import sys
import threading
from contextlib import ExitStack, suppress

from aoai_fallbacks._cli import positive_int
from aoai_fallbacks._wire import REMAINING_DIALECTS, RETRY_AFTER_DIALECTS
from aoai_fallbacks.emulator._deployment import DeploymentConfig
from aoai_fallbacks.emulator._quota import REQUEST_WINDOWS

DEFAULT_DEPLOYMENT = "gpt-35-turbo"


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"cannot be negative, not {value}")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"is a share between 0 and 1, not {value}")
    return value


def _neighbour_share(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"is a share from 0 up to (not including) 1, not {value}")
    return value


def _embedding_deployment(text: str) -> tuple[str, int | None]:
    """NAME or NAME:TPM."""
    name, colon, tpm = text.partition(":")
    if not name or (colon and not tpm.isdigit()):
        raise argparse.ArgumentTypeError(f"is NAME or NAME:TPM, not {text!r}")
    return name, int(tpm) if colon else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--resources", metavar="N", type=positive_int, default=1, help="resources to start"
    )
    parser.add_argument(
        "--deployment",
        metavar="NAME",
        action="append",
        help=f"a deployment on every resource; repeat for several (default: {DEFAULT_DEPLOYMENT})",
    )
    parser.add_argument(
        "--embedding-deployment",
        metavar="NAME[:TPM]",
        type=_embedding_deployment,
        help="an embeddings deployment on every resource, at --tpm unless TPM is given",
    )
    parser.add_argument(
        "--tpm", metavar="N", type=int, default=10_000, help="tokens per minute per deployment"
    )
    parser.add_argument(
        "--rpm",
        metavar="N",
        type=int,
        help="requests per minute per deployment (default: 6 per 1,000 TPM)",
    )
    parser.add_argument(
        "--context-window",
        metavar="TOKENS",
        type=positive_int,
        default=8_192,
        help="largest prompt plus max_tokens a deployment accepts",
    )
    parser.add_argument(
        "--port",
        metavar="PORT",
        type=int,
        help="port of resource 01; the others take the next ones (default: free ports)",
    )
    parser.add_argument(
        "--key",
        metavar="KEY",
        action="append",
        help="api-key: once for every resource, or once per resource (default: random keys)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument(
        "--duration",
        metavar="SECONDS",
        type=_non_negative_float,
        help="stop after this many seconds (default: run until Ctrl-C)",
    )
    dialect = parser.add_argument_group(
        "dialect", "how every deployment speaks about throttling, and who else uses its quota"
    )
    dialect.add_argument(
        "--retry-after",
        choices=RETRY_AFTER_DIALECTS,
        default="ms",
        help="what a 429 says: retry-after-ms and retry-after (ms), only whole-second "
        "retry-after (seconds), or nothing (none)",
    )
    dialect.add_argument(
        "--reset-headers",
        action="store_true",
        help="add x-ratelimit-reset-requests / -tokens (Go durations) to 429s and 200s",
    )
    dialect.add_argument(
        "--remaining-headers",
        choices=REMAINING_DIALECTS,
        default="exact",
        help="x-ratelimit-remaining-*: the counts (exact), -1 (unknown) or absent (off)",
    )
    dialect.add_argument(
        "--request-window",
        metavar="SECONDS",
        type=float,
        choices=REQUEST_WINDOWS,
        default=REQUEST_WINDOWS[-1],
        help="count requests over 10 s (RPM/6 each) or 1 s (RPM/60 each)",
    )
    dialect.add_argument(
        "--neighbour",
        metavar="SHARE",
        type=_neighbour_share,
        default=0.0,
        help="share (0 up to 1) of each deployment's request capacity another app spends",
    )
    faults = parser.add_argument_group(
        "faults", "misbehaviour of every deployment (or only on the --faulty resources)"
    )
    faults.add_argument(
        "--latency",
        metavar="SECONDS",
        type=_non_negative_float,
        default=0.0,
        help="delay before each answer",
    )
    faults.add_argument(
        "--ttft",
        metavar="SECONDS",
        type=_non_negative_float,
        default=0.0,
        help="delay before a stream's first chunk",
    )
    faults.add_argument(
        "--error-rate",
        metavar="SHARE",
        type=_share,
        default=0.0,
        help="share of requests (0 to 1) answered with --error-status",
    )
    faults.add_argument(
        "--error-status", type=int, choices=(500, 503), default=500, help="status of those errors"
    )
    faults.add_argument("--hang", action="store_true", help="never answer: clients must time out")
    faults.add_argument(
        "--drop-after-chunks",
        metavar="K",
        type=int,
        help="cut every stream's connection after K chunks",
    )
    faults.add_argument(
        "--omit-retry-after",
        action="store_true",
        help="answer 429s without retry-after / retry-after-ms headers",
    )
    faults.add_argument(
        "--outage", action="store_true", help="answer every request 503 (a full outage)"
    )
    faults.add_argument(
        "--faulty",
        metavar="NN",
        action="append",
        help="apply the faults only to this resource (e.g. 02); repeatable (default: all)",
    )


def deployments(args: argparse.Namespace) -> list[DeploymentConfig]:
    """The deployments the flags describe, each with the same quota and dialect (an
    embeddings deployment with its own TPM if it names one)."""
    dialect = {
        "rpm": args.rpm,
        "retry_after": args.retry_after,
        "reset_headers": args.reset_headers,
        "remaining_headers": args.remaining_headers,
        "request_window": args.request_window,
        "neighbour": args.neighbour,
    }
    configs = [
        DeploymentConfig(name, tpm=args.tpm, context_window=args.context_window, **dialect)
        for name in dict.fromkeys(args.deployment or [DEFAULT_DEPLOYMENT])
    ]
    if args.embedding_deployment is not None:
        name, tpm = args.embedding_deployment
        configs.append(
            DeploymentConfig(
                name, kind="embeddings", tpm=args.tpm if tpm is None else tpm, **dialect
            )
        )
    return configs


def _dialect(config: DeploymentConfig) -> str:
    """One line of the banner: what the 429s and quota headers look like, who else is there."""
    parts = [
        f"retry-after {config.retry_after}",
        f"remaining {config.remaining_headers}",
        f"{config.request_window:g} s request window",
    ]
    if config.reset_headers:
        parts.append("reset headers")
    if config.neighbour:
        parts.append(f"a neighbour spends {config.neighbour:.0%}")
    return "Dialect: " + ", ".join(parts)


def run(args: argparse.Namespace) -> int:
    from aoai_fallbacks.emulator import Emulator, Faults, run_emulator

    with ExitStack() as stack:
        try:
            configs = deployments(args)
            faults = Faults(
                latency=args.latency,
                ttft=args.ttft,
                error_rate=args.error_rate,
                error_status=args.error_status,
                hang=args.hang,
                drop_after_chunks=args.drop_after_chunks,
                omit_retry_after=args.omit_retry_after,
                outage=args.outage,
            )
            emu: Emulator = stack.enter_context(
                run_emulator(
                    args.resources,
                    configs,
                    seed=args.seed,
                    keys=args.key,
                    port=args.port,
                    faults=faults,
                    faulty=args.faulty,
                )
            )
        except (ValueError, OSError) as problem:
            print(f"emulate: {problem}", file=sys.stderr)
            return 2
        first = configs[0]
        print(
            f"Azure OpenAI emulator: {len(emu.resources)} resource(s), deployment(s) "
            f"{', '.join(d.name for d in configs)} at {first.tpm} TPM, "
            f"{first.effective_rpm} RPM, {first.context_window}-token context"
        )
        print(_dialect(first))
        for resource in emu.resources:
            print(f"  {resource.name}  {resource.endpoint}")
        print("\n# paste into .env")
        for name, value in emu.env().items():
            print(f"{name}={value}")
        until = "until Ctrl-C" if args.duration is None else f"for {args.duration:g} s"
        print(f"\nServing {until}.", flush=True)
        with suppress(KeyboardInterrupt):
            threading.Event().wait(args.duration)
    return 0
