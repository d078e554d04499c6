"""Any OpenAI-compatible vision endpoint as a describer: vLLM serving MiniCPM-V,
llama.cpp's llama-server with ``--mmproj``, Ollama, LM Studio or OpenAI.

The frame goes as a base64 JPEG data URL in a chat-completions request. The client
applies the timeout and retries transient errors with exponential backoff.
"""

from __future__ import annotations

import base64
import logging
import os

import cv2
import openai

from kernel.errors import BackendError
from kernel.openai_compat import backend_error, key_from_env

from .frames import Image
from .prompts import DEFAULT_PROMPTS, USER_ASKS, checked_language, description_language, vlm_prompt
from .settings import OpenAIDescriberSettings

log = logging.getLogger(__name__)


def data_url(image: Image, *, max_side: int = 768, quality: int = 80) -> str:
    """The frame, shrunk so its longer side is at most ``max_side``, as a JPEG data URL."""
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise BackendError("describer: could not encode the frame as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode("ascii")


class OpenAIVisionDescriber:
    name = "openai"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        model: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        prompt: str | None = None,
        language: str = "en",
        timeout_s: float = 20.0,
        max_retries: int = 2,
        max_side: int = 768,
        max_tokens: int = 120,
    ) -> None:
        self.base_url = base_url or os.environ.get("OPENAI_VISION_BASE_URL") or os.environ.get("OPENAI_BASE_URL")
        self.model = model or os.environ.get("OPENAI_VISION_MODEL") or "gpt-4o-mini"
        self.language = checked_language(language)
        self._custom_prompt = prompt  # describer.prompt: asked as given, in either language
        self.prompt = prompt or DEFAULT_PROMPTS[description_language(self.language, None)]
        self.max_side = max_side
        self.max_tokens = max_tokens
        self._client = openai.OpenAI(
            base_url=self.base_url, api_key=key_from_env(api_key_env), timeout=timeout_s, max_retries=max_retries
        )

    @classmethod
    def from_settings(cls, settings: OpenAIDescriberSettings, language: str = "en") -> OpenAIVisionDescriber:
        """The ``openai`` backend as ``describer:`` configures it, describing in ``language``."""
        return cls(base_url=settings.base_url, model=settings.model, api_key_env=settings.api_key_env,
                   prompt=settings.prompt, language=language, timeout_s=settings.timeout_s,
                   max_retries=settings.max_retries, max_side=settings.max_side)

    def describe(self, image: Image, question: str | None = None) -> str:
        text = vlm_prompt(self._custom_prompt, self.language, question, USER_ASKS)
        try:
            response = self._client.chat.completions.create(
                model=self.model,
                max_tokens=self.max_tokens,
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": text},
                            {"type": "image_url", "image_url": {"url": data_url(image, max_side=self.max_side)}},
                        ],
                    }
                ],
            )
        except openai.APIError as exc:
            raise backend_error(exc, "describer", self.base_url) from exc
        content = response.choices[0].message.content if response.choices else None
        return (content or "").strip()
