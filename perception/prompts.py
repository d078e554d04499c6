"""What the describers are asked, and in which language they describe.

Descriptions follow the session's ``language`` (``en``, ``zh`` or ``auto``): a background
description is in Chinese for ``zh`` and in English otherwise; a question-aware look is in
the session's language, or in ``auto`` the question's (:func:`description_language`).
"""

from __future__ import annotations

from kernel.text import is_chinese as has_cjk

from .describer import DEFAULT_PROMPT

LANGUAGES = ("auto", "en", "zh")

DEFAULT_PROMPT_ZH = "图片里正在发生什么？请读出你能看到的所有文字。"
DEFAULT_PROMPTS = {"en": DEFAULT_PROMPT, "zh": DEFAULT_PROMPT_ZH}

# How a backend puts the question after its prompt, per description language.
THEN_ANSWER = {"en": "{prompt} Then answer: {question}", "zh": "{prompt}然后回答：{question}"}
USER_ASKS = {"en": "{prompt} The user asks: {question}", "zh": "{prompt}用户问：{question}"}

__all__ = ["DEFAULT_PROMPT", "DEFAULT_PROMPTS", "DEFAULT_PROMPT_ZH", "LANGUAGES", "THEN_ANSWER", "USER_ASKS",
           "checked_language", "description_language", "has_cjk", "vlm_prompt"]


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
