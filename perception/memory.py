"""Scene memory: the freshest description plus a short, bounded history."""

from __future__ import annotations

import collections
from dataclasses import dataclass

from .frames import Frame


@dataclass(frozen=True, slots=True)
class SceneDescription:
    text: str
    frame_t: float
    described_at: float
    backend: str


class SceneMemory:
    def __init__(self, keep: int = 8) -> None:
        self._history: collections.deque[SceneDescription] = collections.deque(maxlen=keep)
        self.latest_frame: Frame | None = None  # the freshest sampled frame, for a question-aware look

    def update(self, description: SceneDescription) -> None:
        self._history.append(description)

    def latest(self) -> SceneDescription | None:
        return self._history[-1] if self._history else None

    def history(self) -> list[SceneDescription]:
        return list(self._history)
