"""A Flask chatbot that keeps answering when Azure OpenAI says 429.

The seed's chatbot caught each 429 itself, printed "Switching to ..." and tried
the next model. Here the balancer does that below the SDK: a throttled
deployment is skipped until its Retry-After has passed, the log tells the story
(the `aoai_fallbacks` logger, at INFO), and the answer names the backend that
served it. When no backend can answer, the client gets a 503 with Retry-After
instead of a stack trace.

    python examples/flask_chatbot.py          # then: curl 'http://127.0.0.1:5000/?query=testing'

With `AOAI_*` in the environment or a `.env`, it talks to your deployments;
with nothing configured, it starts the built-in emulator (three small
resources) so you can watch the switching without an Azure account.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import openai
from flask import Flask, request
from flask.typing import ResponseReturnValue
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate

from aoai_fallbacks import ConfigError, balanced_chat_model
from aoai_fallbacks.config import is_configured

BACKEND_HEADER = "x-aoai-fallbacks-backend"
DEFAULT_RETRY_AFTER = "60"
"""Seconds to tell the client when no backend is expected to recover on its own."""
PROMPT = ChatPromptTemplate.from_messages(
    [("system", "You are an AI assistant that tells jokes."), ("human", "{text}")]
)


def create_app(model: BaseChatModel | None = None) -> Flask:
    """The chatbot: ``GET /?query=...`` answers ``{"answer": ..., "backend": ...}``.

    `model`: a chat model built with ``include_response_headers=True`` so the
    answer can say which backend served it (None: `balanced_chat_model()` from
    the environment).
    """
    if model is None:
        model = balanced_chat_model(include_response_headers=True, temperature=0.7, max_tokens=100)
    chain = PROMPT | model
    app = Flask(__name__)

    @app.get("/")
    def answer() -> ResponseReturnValue:
        query = request.args.get("query", "").strip()
        if not query:
            return {"error": "ask something: GET /?query=..."}, 400
        try:
            reply: BaseMessage = chain.invoke({"text": query})
        except openai.RateLimitError as exc:
            # The balancer's NoBackendAvailableError, as LangChain re-raises it (keeping its
            # response), or a bare 429 from a plain model: nobody can answer now, and the
            # response's retry-after says when one should be free again.
            wait = exc.response.headers.get("retry-after", DEFAULT_RETRY_AFTER)
            app.logger.warning("%s", exc)
            return (
                {"error": "every backend is busy, try again later", "retry_after": wait},
                503,
                {"Retry-After": wait},
            )
        headers = reply.response_metadata.get("headers", {})
        return {"answer": reply.content, "backend": headers.get(BACKEND_HEADER)}

    return app


@contextmanager
def _backends_or_emulator() -> Iterator[None]:
    """Leave a real configuration alone; with none at all, serve from the built-in emulator."""
    if is_configured():
        yield
        return
    from aoai_fallbacks.emulator import DeploymentConfig, run_emulator

    # Small quotas (one request per resource every 10 s), so a few quick requests are
    # enough to see a backend throttled and the next one take over.
    tight = DeploymentConfig("gpt-35-turbo", tpm=10_000, rpm=6)
    with run_emulator(resources=3, deployments=[tight]) as emulator:
        os.environ.update(emulator.env())
        print("no AOAI_* configuration found: serving from the built-in emulator")
        yield


def main() -> int:
    # The balancer tells the switching story on the `aoai_fallbacks` logger at INFO; the
    # HTTP client's own INFO lines would only show the placeholder URL the balancer rewrites.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("aoai_fallbacks").setLevel(logging.INFO)
    with _backends_or_emulator():
        try:
            app = create_app()
        except ConfigError as error:
            print(f"configuration error: {error}", file=sys.stderr)
            return 2
        app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
