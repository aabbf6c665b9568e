"""Helpers of the emulator tests: clients for a resource, built the way apps build them."""

from __future__ import annotations

import httpx
import openai

from aoai_fallbacks.emulator import Resource

API_VERSION = "2024-10-21"
DEPLOYMENT = "gpt-35-turbo"
HELLO = [{"role": "user", "content": "Say hello."}]
NINES = "9" * 4300
"""The longest integer Python's parser reads (more digits are a ValueError: bad JSON)."""


def client(
    resource: Resource,
    *,
    key: str | None = None,
    timeout: float = 10.0,
    api_version: str = API_VERSION,
) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        azure_endpoint=resource.endpoint,
        api_key=resource.key if key is None else key,
        api_version=api_version,
        max_retries=0,
        timeout=timeout,
    )


def v1_client(resource: Resource) -> openai.OpenAI:
    """A plain OpenAI client on the resource's v1 path: the model names the deployment."""
    return openai.OpenAI(
        base_url=resource.endpoint + "/openai/v1/", api_key=resource.key, max_retries=0
    )


def async_client(resource: Resource) -> openai.AsyncAzureOpenAI:
    return openai.AsyncAzureOpenAI(
        azure_endpoint=resource.endpoint,
        api_key=resource.key,
        api_version=API_VERSION,
        max_retries=0,
        timeout=10.0,
    )


def chat_url(resource: Resource) -> str:
    return f"{resource.endpoint}/openai/deployments/{DEPLOYMENT}/chat/completions"


def post(
    resource: Resource, content: bytes, *, http: httpx.Client | None = None
) -> httpx.Response:
    """POST raw bytes as a chat-completions body, on `http` if given (to share its connection)."""
    if http is None:
        with httpx.Client() as fresh:
            return post(resource, content, http=fresh)
    return http.post(
        chat_url(resource),
        params={"api-version": API_VERSION},
        headers={"api-key": resource.key, "content-type": "application/json"},
        content=content,
    )


def with_literal(param: str, literal: str) -> bytes:
    """A body whose `param` is written as `literal`, which `json.dumps` would not write."""
    return f'{{"messages": [{{"role": "user"}}], "{param}": {literal}}}'.encode()
