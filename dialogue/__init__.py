"""The dialogue backend: what the LLM is asked (:mod:`dialogue.prompt`) and who answers it.

Only the light, public names are re-exported here; the backends that need heavy libraries
(:mod:`dialogue.openai_chat` needs openai, :mod:`dialogue.local_llm` llama_cpp) are imported
from their own modules, so ``import dialogue`` loads neither.
"""

from __future__ import annotations

from .backends import ChatBackend, Prefills
from .observation import Observation, ObservedEvent
from .prompt import Conversation, Exchange, ReplyRequest, build_request

__all__ = [
    "ChatBackend",
    "Conversation",
    "Exchange",
    "Observation",
    "ObservedEvent",
    "Prefills",
    "ReplyRequest",
    "build_request",
]
