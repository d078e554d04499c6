"""Any OpenAI-compatible chat-completions server, streamed (OpenAI, vLLM, llama.cpp, Ollama, LM Studio)."""

from __future__ import annotations

import ipaddress
import logging
import os
import urllib.parse
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, cast

import openai
from openai.types.chat import ChatCompletionMessageParam

from kernel.errors import BackendError
from kernel.openai_compat import backend_error, key_from_env

from .prompt import ReplyRequest

if TYPE_CHECKING:
    from .settings import DialogueSettings

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gpt-3.5-turbo"
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"


class OpenAIChat:
    name = "openai"

    @classmethod
    def from_settings(cls, settings: DialogueSettings) -> OpenAIChat:
        d = settings
        return cls(base_url=d.base_url, model=d.model, api_key_env=d.api_key_env, temperature=d.temperature,
                   max_tokens=d.max_tokens, timeout_s=d.timeout_s, max_retries=d.max_retries, seed=d.seed)

    def __init__(
        self,
        *,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        api_key_env: str = DEFAULT_API_KEY_ENV,
        temperature: float = 0.7,
        max_tokens: int = 200,
        timeout_s: float = 30.0,
        max_retries: int = 2,
        seed: int | None = None,
    ) -> None:
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self.model = model or os.environ.get("OPENAI_MODEL") or DEFAULT_MODEL
        # The key comes from the environment variable named by ``api_key_env``, never from a
        # config file, and is handed to the client only: it is never logged or kept on self.
        if not api_key and not os.environ.get(api_key_env) and api_key_env != DEFAULT_API_KEY_ENV:
            log.warning("dialogue: the API key variable %s is not set; sending no key", api_key_env)
        key = api_key or key_from_env(api_key_env)
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed  # sent when set: servers that honour it (OpenAI, vLLM, llama.cpp) then repeat themselves
        self._client = openai.AsyncOpenAI(
            base_url=self.base_url, api_key=key, timeout=timeout_s, max_retries=max_retries
        )

    @property
    def billed(self) -> bool:
        """Whether each request may cost money: any server but one on this machine or the local
        network (``dialogue.speculative`` is off by default for such a server)."""
        return not is_local_url(self.base_url)

    async def stream(self, request: ReplyRequest) -> AsyncIterator[str]:
        try:
            response = await self._client.chat.completions.create(
                model=self.model,
                messages=cast(list[ChatCompletionMessageParam], request.messages),
                stream=True,
                temperature=self.temperature,
                max_tokens=self.max_tokens,
                seed=self.seed if self.seed is not None else openai.omit,
            )
            async for chunk in response:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except openai.APIError as exc:
            raise backend_error(exc, "dialogue", self.base_url) from exc
        except ValueError as exc:  # a stream that is not server-sent JSON events
            raise BackendError(f"dialogue: {self.base_url or 'OpenAI'} sent a malformed stream: {exc}") from exc

    async def aclose(self) -> None:
        await self._client.close()


def is_local_url(url: str | None) -> bool:
    """A URL on this machine or a private network (None is OpenAI's own API: not local)."""
    if not url:
        return False
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith((".local", ".localhost", ".lan", ".internal")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local
