"""Scene memory: the freshest description plus a short, bounded history."""

from __future__ import annotations

import collections
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SceneDescription:
    text: str
    frame_t: float
    described_at: float
    backend: str


class SceneMemory:
    def __init__(self, keep: int = 8) -> None:
        self._history: collections.deque[SceneDescription] = collections.deque(maxlen=keep)

    def update(self, description: SceneDescription) -> None:
        self._history.append(description)

    def latest(self) -> SceneDescription | None:
        return self._history[-1] if self._history else None

    def history(self) -> list[SceneDescription]:
        return list(self._history)
