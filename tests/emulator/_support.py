"""Helpers of the emulator tests: clients for a resource, built the way apps build them."""

from __future__ import annotations

import openai

from aoai_fallbacks.emulator import Resource

API_VERSION = "2024-10-21"
DEPLOYMENT = "gpt-35-turbo"
HELLO = [{"role": "user", "content": "Say hello."}]


def client(
    resource: Resource, *, key: str | None = None, timeout: float = 10.0
) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        azure_endpoint=resource.endpoint,
        api_key=resource.key if key is None else key,
        api_version=API_VERSION,
        max_retries=0,
        timeout=timeout,
    )


def async_client(resource: Resource) -> openai.AsyncAzureOpenAI:
    return openai.AsyncAzureOpenAI(
        azure_endpoint=resource.endpoint,
        api_key=resource.key,
        api_version=API_VERSION,
        max_retries=0,
        timeout=10.0,
    )
