"""What every LLM backend is (:class:`ChatBackend`), and whether the local one can run here.
The table of backends, and ``auto``, are in :mod:`dialogue.registry`."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol, runtime_checkable

from .prompt import ReplyRequest
from .shipped import SHIPPED


class ChatBackend(Protocol):
    name: str

    def stream(self, request: ReplyRequest) -> AsyncIterator[str]:
        """The reply as it is generated, a few characters at a time."""
        ...


def billed(backend: ChatBackend) -> bool:
    """Whether a request to ``backend`` may cost money (a remote paid API): its ``billed``
    attribute, False for backends without one (the local model, the offline responder)."""
    return bool(getattr(backend, "billed", False))


@runtime_checkable
class Prefills(Protocol):
    """A backend that can evaluate a prompt before the request comes (llama.cpp keeps it in its
    cache): the runtime warms the stable part of the prompt while the user is still speaking."""

    async def prefill(self, messages: list[dict[str, str]]) -> None: ...


def local_model_installed(model: str) -> bool:
    """llama-cpp-python is importable and ``model`` (a shipped name or a GGUF path) is on disk."""
    if importlib.util.find_spec("llama_cpp") is None:
        return False
    path = SHIPPED[model].path if model in SHIPPED else Path(model).expanduser()
    return path.is_file()
