"""The LLM backends: one line each, naming the loader that builds it from the ``dialogue:``
settings. ``dialogue.backend`` picks a line, or ``auto`` picks for the user (see
:func:`choose_backend`). Adding a backend is its own module, with a ``from_settings``, plus one
line here; its fields, if it has any, go into :mod:`dialogue.settings`. A loader is imported only
when its backend is chosen (``openai`` and ``llama_cpp`` are not loaded otherwise).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from kernel.errors import ConfigError
from kernel.plugins import import_attribute

from .backends import ChatBackend, local_model_installed
from .shipped import DEFAULT_MODEL

if TYPE_CHECKING:
    from .settings import DialogueSettings

BACKENDS: dict[str, str] = {
    "openai": "dialogue.openai_chat:OpenAIChat.from_settings",
    "local": "dialogue.local_llm:LocalLlm.from_settings",
    "offline": "dialogue.offline:OfflineResponder.from_settings",
}

AUTO = "auto"


def choose_backend(backend: str, api_key_env: str = "OPENAI_API_KEY", local_model: str = DEFAULT_MODEL) -> str:
    """``auto`` means: the OpenAI-compatible backend when the environment points at one
    (``OPENAI_BASE_URL``, or a key in the variable named by ``api_key_env``); otherwise the
    local model when it is installed; otherwise the offline responder."""
    if backend == AUTO:
        if os.environ.get("OPENAI_BASE_URL") or os.environ.get(api_key_env):
            return "openai"
        return "local" if local_model_installed(local_model) else "offline"
    if backend not in BACKENDS:
        raise ConfigError(f"dialogue.backend: unknown backend '{backend}' (known: {', '.join([AUTO, *BACKENDS])})")
    return backend


def make_llm(settings: DialogueSettings) -> ChatBackend:
    """The backend ``settings.backend`` names (or ``auto`` chooses), built from ``settings``."""
    chosen = choose_backend(settings.backend, settings.api_key_env, settings.local.model)
    llm: ChatBackend = import_attribute(BACKENDS[chosen])(settings)
    return llm
