"""The seed's joke chain, in today's LangChain: one `AzureChatOpenAI` per deployment, with fallbacks.

`fallback_chain()` is the seed recipe: every deployment's model has
``max_retries=0`` so a 429 moves the request to the next one at once, the last
keeps its retries, and `with_fallbacks()` joins them. It remembers nothing, so
every request starts again at deployment 01, throttled or not; compare
`smart_joke_chain.py`, which skips a throttled deployment until it recovers.

    python examples/joke_chain.py

With `AOAI_*` in the environment or a `.env`, it talks to your deployments.
With nothing configured, it starts the built-in emulator (three resources
that each take three requests per 10 s) and says so, then shows how many
requests each resource served and refused.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable

from aoai_fallbacks import Backend, ConfigError, fallback_chain, load_backends
from aoai_fallbacks.config import is_configured

DEPLOYMENT = "gpt-35-turbo"


def build_chain(
    backends: Sequence[Backend] | None = None,
) -> Runnable[dict[str, str], BaseMessage]:
    """The seed's prompt piped into the fallback chain (None: backends from the environment)."""
    llm = fallback_chain(backends, temperature=0.7, max_tokens=100)
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are an AI assistant that tells jokes."), ("human", "{text}")]
    )
    return prompt | llm


def tell_jokes(chain: Runnable[dict[str, str], BaseMessage], count: int) -> None:
    for number in range(1, count + 1):
        result = chain.invoke({"text": "Tell me a dad joke"})
        print(f"{number}. {result.content}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jokes", type=int, default=9, help="how many jokes to ask for")
    args = parser.parse_args(argv)

    if is_configured():
        try:
            chain = build_chain()
        except ConfigError as error:
            print(f"configuration error: {error}", file=sys.stderr)
            return 2
        tell_jokes(chain, args.jokes)
        return 0

    from aoai_fallbacks.emulator import DeploymentConfig, run_emulator

    # 18 RPM: three requests per 10 s window on each resource, so nine jokes
    # fill 01, then fall back to 02, then to 03, without waiting.
    deployment = DeploymentConfig(DEPLOYMENT, rpm=18)
    with run_emulator(resources=3, deployments=[deployment]) as emulator:
        print(
            "no AOAI_* configuration found (environment or .env): "
            "telling jokes from the built-in Azure OpenAI emulator"
        )
        tell_jokes(build_chain(load_backends(emulator.env())), args.jokes)
        for resource in emulator.resources:
            stats = resource.stats(DEPLOYMENT)
            print(f"resource {resource.name}: served {stats.served}, throttled {stats.throttled}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
