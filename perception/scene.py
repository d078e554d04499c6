"""What a describer found in one frame (:class:`SceneDetails`), and how a description is put
together in any language (:func:`arrange`, with a :class:`Wording`): shared by the English
renderer (:mod:`perception.basic`) and the Chinese one (:mod:`perception.basic_zh`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .shapes import Shape
from .things import Thing

_TEXT_WORDS = frozenset(
    {"read", "reading", "sign", "signs", "text", "written", "writing", "say", "says", "label", "word", "words"}
)
_PEOPLE_WORDS = frozenset({"who", "person", "people", "face", "faces", "anyone", "someone", "somebody", "anybody",
                           "everyone", "nobody", "man", "woman", "men", "women", "child", "children", "kid", "kids"})
# Chinese has no spaces between words: these are looked for anywhere in the question.
_TEXT_WORDS_ZH = ("读", "念", "牌", "字", "写", "标志", "标签", "文字")
_PEOPLE_WORDS_ZH = ("谁", "人", "脸")


@dataclass(frozen=True, slots=True)
class SeenShape:
    shape: Shape
    motion: str  # "moving to the right", ... or "" when it held still or was not seen before


@dataclass(frozen=True, slots=True)
class SceneDetails:
    """What `BasicDescriber` found in one frame."""

    objects: tuple[str, ...]  # names or phrases from the object detector hook (a detection's label)
    faces: int
    people: int
    shapes: tuple[SeenShape, ...]  # largest first
    background: str  # its colour; "" when no region dominates the frame
    light: str  # "very dark", "dark" or "" (unremarkable)
    plain: str  # the frame's one colour when it is plain (a lens cap, a wall), else ""
    text: tuple[str, ...]  # lines read, top to bottom
    things: tuple[Thing, ...] = ()  # the detections placed (when the hook gives boxes); said instead of objects
    boxed: bool = False  # a detector that gives boxes looked at this frame: what is not in ``things`` was not found


@dataclass(frozen=True, slots=True)
class Wording:
    """The words :func:`arrange` puts around a description, in one language."""

    nobody: str  # asked about people, and none seen
    text: str  # before the text read
    text_end: str  # after it
    no_text: str  # asked about text, and none read
    separator: str  # between the parts
    nothing: str  # nothing at all to say


ENGLISH = Wording("nobody in view", "text: ", "", "no readable text", "; ", "nothing I can name")


def arrange(scene: str, who: str, text: Sequence[str], question: str | None, words: Wording,
            missing: Sequence[str] = ()) -> str:
    """The parts of a description in order: the scene, then the text read; a question about text puts
    the text (or that there is none) first, one about people puts ``who`` (or that there is nobody) first,
    and one about things the frame does not show says first that they are not there (``missing``,
    already in words: "no dog")."""
    wants_text, wants_people = asks_about(question)
    parts = [scene] if scene else []
    if wants_people:
        parts.insert(0, who or words.nobody)
    if text:
        parts.insert(0 if wants_text else len(parts), words.text + " / ".join(text) + words.text_end)
    elif wants_text:
        parts.insert(0, words.no_text)
    parts[:0] = missing
    return words.separator.join(parts) or words.nothing


def asks_about(question: str | None) -> tuple[bool, bool]:
    """Whether ``question`` asks about text, and about people, in English or in Chinese."""
    lowered = (question or "").lower()
    asked = set(re.findall(r"[a-z]+", lowered))
    text = bool(asked & _TEXT_WORDS) or any(word in lowered for word in _TEXT_WORDS_ZH)
    people = bool(asked & _PEOPLE_WORDS) or any(word in lowered for word in _PEOPLE_WORDS_ZH)
    return text, people


def mentions_people(objects: Sequence[str]) -> bool:
    """Whether the detector hook named people ("person", "two people")."""
    return any(word in {"person", "people"} for phrase in objects for word in phrase.lower().split(" "))
