"""The describer interface: a frame (and optionally a question) in, text out."""

from __future__ import annotations

from typing import Protocol

from kernel.errors import ConfigError

from .frames import Image
from .settings import DescriberSettings

# The prompt every VLM backend uses unless ``describer.prompt`` says otherwise: the OmniLMM
# demo's own question, plus a line that brings out text in the scene (signs, labels, screens).
DEFAULT_PROMPT = "What is happening in the image? Read out any text you can see."


class Describer(Protocol):
    name: str

    def describe(self, image: Image, question: str | None = None) -> str:
        """Text describing ``image``; blocking, so stages call it in a worker thread."""
        ...


def make_describer(settings: DescriberSettings) -> Describer:
    if settings.backend == "basic":
        from .basic import BasicDescriber

        names = None
        if settings.objects:
            from .objects import ObjectDetector

            names = ObjectDetector(min_score=settings.objects_min_score).names
        return BasicDescriber(text=settings.text, min_text_confidence=settings.text_min_confidence,
                              people=settings.people, objects=names)
    if settings.backend == "openai":
        from .openai_vision import OpenAIVisionDescriber

        return OpenAIVisionDescriber(
            base_url=settings.base_url,
            model=settings.model,
            api_key_env=settings.api_key_env,
            prompt=settings.prompt,
            timeout_s=settings.timeout_s,
            max_retries=settings.max_retries,
            max_side=settings.max_side,
        )
    if settings.backend == "omnilmm":
        from .omnilmm import OmniLMMDescriber

        return OmniLMMDescriber(settings.repo, settings.model, prompt=settings.prompt)
    if settings.backend == "minicpmv":
        from .minicpmv import MiniCPMVDescriber

        return MiniCPMVDescriber(
            settings.model,
            revision=settings.revision,
            api=settings.api,
            device=settings.device,
            dtype=settings.dtype,
            prompt=settings.prompt,
            max_new_tokens=settings.max_new_tokens,
            max_side=settings.max_side,
            allow_download=settings.allow_download,
            warmup=settings.warmup,
        )
    raise ConfigError(
        f"describer.backend: unknown backend '{settings.backend}' (known: basic, openai, omnilmm, minicpmv)"
    )
