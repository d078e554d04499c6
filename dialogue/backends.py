"""LLM backends: a Protocol and the factory that picks one from the settings."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from kernel.errors import ConfigError

from .prompt import ReplyRequest
from .shipped import DEFAULT_MODEL, SHIPPED


class ChatBackend(Protocol):
    name: str

    def stream(self, request: ReplyRequest) -> AsyncIterator[str]:
        """The reply as it is generated, a few characters at a time."""
        ...


def local_model_installed(model: str) -> bool:
    """llama-cpp-python is importable and ``model`` (a shipped name or a GGUF path) is on disk."""
    if importlib.util.find_spec("llama_cpp") is None:
        return False
    path = SHIPPED[model].path if model in SHIPPED else Path(model).expanduser()
    return path.is_file()


def choose_backend(backend: str, api_key_env: str = "OPENAI_API_KEY", local_model: str = DEFAULT_MODEL) -> str:
    """``auto`` means: the OpenAI-compatible backend when the environment points at one
    (``OPENAI_BASE_URL``, or a key in the variable named by ``api_key_env``); otherwise the
    local model when it is installed; otherwise the offline responder."""
    if backend == "auto":
        if os.environ.get("OPENAI_BASE_URL") or os.environ.get(api_key_env):
            return "openai"
        return "local" if local_model_installed(local_model) else "offline"
    if backend not in ("openai", "local", "offline"):
        raise ConfigError(f"dialogue.backend: unknown backend '{backend}' (known: auto, openai, local, offline)")
    return backend
