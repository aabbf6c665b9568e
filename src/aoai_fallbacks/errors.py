"""The library's exceptions: one small hierarchy under `AOAIFallbacksError`.

Messages name the variable or backend at fault and never contain a key.
"""

from __future__ import annotations

__all__ = ["AOAIFallbacksError", "ConfigError"]


class AOAIFallbacksError(Exception):
    """Base class of every error this library raises itself."""


class ConfigError(AOAIFallbacksError, ValueError):
    """The configuration (environment, `.env` or arguments) is unusable.

    The message names the variable to fix, e.g.
    ``AOAI_KEY_03 is set but AOAI_ENDPOINT_03 is not``.
    """
