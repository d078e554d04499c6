"""LLM backends: a Protocol and the factory that picks one from the settings."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Protocol

from assistant.errors import ConfigError

from .prompt import ReplyRequest


class ChatBackend(Protocol):
    name: str

    def stream(self, request: ReplyRequest) -> AsyncIterator[str]:
        """The reply as it is generated, a few characters at a time."""
        ...


def choose_backend(backend: str, api_key_env: str = "OPENAI_API_KEY") -> str:
    """``auto`` means the OpenAI-compatible backend when the environment points at one:
    ``OPENAI_BASE_URL``, or a key in the variable named by ``api_key_env``."""
    if backend == "auto":
        return "openai" if os.environ.get("OPENAI_BASE_URL") or os.environ.get(api_key_env) else "offline"
    if backend not in ("openai", "offline"):
        raise ConfigError(f"dialogue.backend: unknown backend '{backend}' (known: auto, openai, offline)")
    return backend
