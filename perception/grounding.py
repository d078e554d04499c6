"""What the answers from the scene share (:mod:`perception.answers`, :mod:`perception.answers_zh`):
the answer itself, and the details read the same way in either language."""

from __future__ import annotations

from dataclasses import dataclass

from .scene import SceneDetails
from .things import Thing


@dataclass(frozen=True, slots=True)
class Grounded:
    """An answer from the details, and which shape of question it answers."""

    text: str
    intent: str  # "count", "there", "read", "colour", "name", "light", "unseen" (perception.answers); "watch"


def sign_colours(details: SceneDetails) -> list[str]:
    """The colours of the two largest flat shapes (rectangles, squares), largest first, when text was
    read: what a sign is made of. Empty when there is no text or no such shape."""
    if not details.text:
        return []
    colours: list[str] = []
    for seen in sorted(details.shapes, key=lambda s: s.shape.area, reverse=True):
        if seen.shape.form in {"rectangle", "square"} and seen.shape.colour not in colours:
            colours.append(seen.shape.colour)
    return colours[:2]


def matching(details: SceneDetails, labels: set[str] | frozenset[str], *, sure_only: bool = True) -> list[Thing]:
    """The placed things of these labels; none when any of them is a doubtful guess (``sure_only``):
    a count of "possibly a cat" is the LLM's to hedge."""
    found = [t for t in details.things if t.name in labels]
    if sure_only and any(not t.sure for t in found):
        return []
    return found
