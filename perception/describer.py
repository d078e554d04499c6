"""The describer interface: a frame (and optionally a question) in, text out.

It imports no backend: :mod:`perception.registry` picks and builds them. The VLM backends' prompts
in each language, and which language a description is in, are :mod:`perception.prompts`.
"""

from __future__ import annotations

from typing import Any, Protocol

from .frames import Image

# The prompt every VLM backend uses unless ``describer.prompt`` says otherwise: the OmniLMM
# demo's own question, plus a line that brings out text in the scene (signs, labels, screens).
DEFAULT_PROMPT = "What is happening in the image? Read out any text you can see."


class Describer(Protocol):
    name: str

    def describe(self, image: Image, question: str | None = None) -> str:
        """Text describing ``image``; blocking, so stages call it in a worker thread."""
        ...


def describe_frame(describer: Describer, image: Image, question: str | None = None) -> tuple[object, Any]:
    """The description of ``image`` and what the describer found to make it (the basic describer's
    :class:`~perception.scene.SceneDetails`, which answers and watches read without a model), or
    None for a describer that gives text only. The text is unchecked: see
    :func:`perception.stages.checked_description`. Blocking, like ``describe``."""
    found = getattr(describer, "describe_found", None)
    if found is not None:
        text, details = found(image, question)
        return text, details
    return describer.describe(image, question), None
