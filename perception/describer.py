"""The describer interface: a frame (and optionally a question) in, text out.

It imports no backend: :mod:`perception.registry` picks and builds them, and the VLM backends
take their prompts from here.

Descriptions follow the session's ``language`` (``en``, ``zh`` or ``auto``): a background
description is in Chinese for ``zh`` and in English otherwise; a question-aware look is in
the session's language, or in ``auto`` the question's (:func:`description_language`).
"""

from __future__ import annotations

from typing import Protocol

from kernel.text import is_chinese as has_cjk

from .frames import Image

LANGUAGES = ("auto", "en", "zh")

# The prompt every VLM backend uses unless ``describer.prompt`` says otherwise: the OmniLMM
# demo's own question, plus a line that brings out text in the scene (signs, labels, screens).
DEFAULT_PROMPT = "What is happening in the image? Read out any text you can see."
DEFAULT_PROMPT_ZH = "图片里正在发生什么？请读出你能看到的所有文字。"
DEFAULT_PROMPTS = {"en": DEFAULT_PROMPT, "zh": DEFAULT_PROMPT_ZH}

# How a backend puts the question after its prompt, per description language.
THEN_ANSWER = {"en": "{prompt} Then answer: {question}", "zh": "{prompt}然后回答：{question}"}
USER_ASKS = {"en": "{prompt} The user asks: {question}", "zh": "{prompt}用户问：{question}"}



class Describer(Protocol):
    name: str

    def describe(self, image: Image, question: str | None = None) -> str:
        """Text describing ``image``; blocking, so stages call it in a worker thread."""
        ...


def checked_language(language: str) -> str:
    """``language`` if it is one of :data:`LANGUAGES`, else :class:`ValueError`."""
    if language not in LANGUAGES:
        raise ValueError(f"describer language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    return language


def description_language(language: str, question: str | None) -> str:
    """"en" or "zh": what to describe in for a session in ``language``. zh and en are kept;
    auto answers a question in its own language and describes in English otherwise."""
    if language == "zh":
        return "zh"
    if language == "auto" and question is not None and has_cjk(question):
        return "zh"
    return "en"


def vlm_prompt(
    prompt: str | None, language: str, question: str | None, joiner: dict[str, str] = THEN_ANSWER
) -> str:
    """What a VLM backend is asked: ``prompt`` (the user's ``describer.prompt``, used as given) or
    the default prompt of the description language, then the question after ``joiner``'s words."""
    lang = description_language(language, question)
    asked = prompt or DEFAULT_PROMPTS[lang]
    return asked if question is None else joiner[lang].format(prompt=asked, question=question)
