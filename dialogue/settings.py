"""The ``dialogue:`` section: which LLM answers, and how the prompt is built."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from kernel.settings_base import ENV_NAME, StrictModel

from .registry import AUTO, BACKENDS


class LocalLlmSettings(StrictModel):
    """``dialogue.backend: local``: llama.cpp in process (llama-cpp-python)."""

    model: str = "qwen2.5-coder-1.5b"  # a shipped name (see dialogue/shipped.py) or a GGUF file
    threads: int = Field(2, ge=1)
    context: int = Field(2048, ge=256, le=32768)
    batch: int = Field(256, ge=8)
    max_tokens: int = Field(160, ge=1)
    temperature: float = Field(0.3, ge=0, le=2)
    # Each reply is sampled from this seed, whatever came before it: a replayed session gives the same
    # answers (null: a new seed every reply).
    seed: int | None = Field(0, ge=0, lt=2**32)


class DialogueSettings(StrictModel):
    backend: str = AUTO  # a name in dialogue.registry.BACKENDS, or auto
    local: LocalLlmSettings = LocalLlmSettings()
    base_url: str | None = None
    model: str | None = None
    # The name of the environment variable holding the API key; the key itself is never a setting.
    api_key_env: str = "OPENAI_API_KEY"
    system_prompt: str | None = None
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(200, ge=1)
    seed: int | None = Field(None, ge=0, lt=2**32, description="sent to a served model that honours it")
    timeout_s: float = Field(30.0, gt=0)
    max_retries: int = Field(2, ge=0)
    history_turns: int = Field(6, ge=0)
    first_chunk_words: int = Field(1, ge=0)  # the first spoken piece may end at a clause once it has this many words
    # ...else at the first phrase boundary ("a red board | with…") known by the time this many words and two more
    # have come, else after at most this many words (0: never; see dialogue/chunker.py)
    first_chunk_max_words: int = Field(5, ge=0)
    history_tokens: int = Field(600, ge=0, description="budget for past turns, at ~4 characters a token")
    # Ask the LLM on the early transcript (the decode at the first pause), before the end of the turn
    # is confirmed; nothing is spoken until it is. A request whose words then change, or whose
    # speaker goes on, is cancelled: wasted, which a paid API bills (benchmarks/latency.py counts them).
    # null: on, except for a server off this machine and the local network (dialogue.backends.billed).
    speculative: bool | None = None
    observations: int = Field(3, ge=1, description="recent scene descriptions given to the LLM")
    # Questions the describer's own findings settle ("how many cups?", "what does the sign say?") are
    # answered from them, not by the LLM (perception/answers.py); false: the LLM answers everything.
    grounded: bool = True

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value != AUTO and value not in BACKENDS:
            raise ValueError(f"Input should be one of {', '.join(repr(n) for n in (AUTO, *BACKENDS))}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _key_env_is_a_name(cls, data: Any) -> Any:
        # A model-level check, so the error never echoes the value: it may be a key pasted by mistake.
        name = data.get("api_key_env") if isinstance(data, dict) else None
        if name is not None and not (isinstance(name, str) and ENV_NAME.fullmatch(name)):
            raise ValueError("api_key_env must be the name of an environment variable (letters, digits, _), not a key")
        return data
