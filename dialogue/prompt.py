"""What the LLM is asked: the system prompt, the conversation so far, what the camera sees."""

from __future__ import annotations

import collections
from dataclasses import dataclass

from perception.memory import SceneDescription

DEFAULT_SYSTEM_PROMPT = (
    "You are omnilive, a friendly assistant that can see through a camera and hear the user. "
    "You do not see images directly: you are given short text descriptions of the camera view. "
    "Answer in one to three short spoken sentences, with no lists or markdown."
)


@dataclass(frozen=True, slots=True)
class Exchange:
    user: str
    assistant: str
    interrupted: bool = False


@dataclass(frozen=True, slots=True)
class ReplyRequest:
    """Everything a backend needs for one reply."""

    question: str
    scene: SceneDescription | None
    scene_age_s: float | None
    messages: list[dict[str, str]]


class Conversation:
    """The last ``max_turns`` exchanges; older ones are forgotten, so memory stays flat."""

    def __init__(self, max_turns: int = 6) -> None:
        self._turns: collections.deque[Exchange] = collections.deque(maxlen=max(max_turns, 1))

    def add(self, exchange: Exchange) -> None:
        self._turns.append(exchange)

    def exchanges(self) -> list[Exchange]:
        return list(self._turns)


def scene_line(scene: SceneDescription | None, age_s: float | None) -> str:
    if scene is None:
        return "Camera: nothing seen yet."
    age = f"{age_s:.0f} s ago" if age_s is not None else "just now"
    return f"Camera ({age}): {scene.text}"


def build_request(
    question: str,
    conversation: Conversation,
    scene: SceneDescription | None,
    now: float,
    system_prompt: str = DEFAULT_SYSTEM_PROMPT,
) -> ReplyRequest:
    age = max(0.0, now - scene.frame_t) if scene is not None else None
    messages = [{"role": "system", "content": system_prompt}]
    for ex in conversation.exchanges():
        messages.append({"role": "user", "content": ex.user})
        said = ex.assistant + (" [interrupted by the user]" if ex.interrupted else "")
        messages.append({"role": "assistant", "content": said})
    messages.append({"role": "system", "content": scene_line(scene, age)})
    messages.append({"role": "user", "content": question})
    return ReplyRequest(question=question, scene=scene, scene_age_s=age, messages=messages)
