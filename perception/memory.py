"""Scene memory: the freshest descriptions in a short window, and a rolling, bounded
summary of what happened before them.

- Each :class:`SceneDescription` carries the media time of its frame and ``seen_t``,
  the newest frame time at which the view still matched it (the change gate found
  nothing new). Its age, and whether it is stale, count from ``last_seen``.
- A description that leaves the window is folded into the summary as one
  :class:`SceneEvent`, in the style of the OmniLMM demo's ``Event: …`` lines. A
  description much like the event before it extends that event's time span instead
  of adding a line, so a static scene described again and again is one line.
- The summary keeps its newest ``summary_chars`` characters (whole events), so memory
  stays flat however long the assistant runs.
"""

from __future__ import annotations

import collections
import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz, utils

from .frames import Frame

EVENT_CHARS = 80  # an event keeps this much of its description
DEFAULT_SUMMARY_CHARS = 600
DEFAULT_SIMILARITY = 90.0  # rapidfuzz token_sort_ratio at or above which two descriptions are the same view

_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class SceneDescription:
    text: str
    frame_t: float
    described_at: float
    backend: str
    seen_t: float | None = None  # the newest frame time at which the view still matched (None: frame_t)
    # What the describer found (perception.scene.SceneDetails), for answers that need no model; None: text only.
    details: Any = field(default=None, compare=False, repr=False)

    @property
    def last_seen(self) -> float:
        """When the camera last showed this view, in media seconds."""
        return self.frame_t if self.seen_t is None else max(self.frame_t, self.seen_t)


@dataclass(frozen=True, slots=True)
class SceneEvent:
    """One summary line: a view the camera showed from ``start_t`` to ``end_t``."""

    text: str
    start_t: float
    end_t: float

    def line(self) -> str:
        start, end = round(self.start_t), round(self.end_t)
        when = f"at {start} s" if start == end else f"from {start} s to {end} s"
        return f"Event: {self.text} ({when})"


def shorten(text: str, n: int = EVENT_CHARS) -> str:
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


class SceneMemory:
    def __init__(
        self,
        keep: int = 8,
        *,
        summary_chars: int = DEFAULT_SUMMARY_CHARS,
        similarity: float = DEFAULT_SIMILARITY,
    ) -> None:
        self._history: collections.deque[SceneDescription] = collections.deque(maxlen=max(keep, 1))
        self._events: collections.deque[SceneEvent] = collections.deque()
        self._summary_len = 0  # len(self.summary()), kept up to date as events come and go
        self.summary_chars = summary_chars
        self.similarity = similarity
        self.latest_frame: Frame | None = None  # the freshest sampled frame, for a question-aware look
        self.observers: list[Callable[[SceneDescription], None]] = []  # told of every frame described or confirmed

    def update(self, description: SceneDescription) -> None:
        if len(self._history) == self._history.maxlen:
            self._fold(self._history[0])
        self._history.append(description)
        self._tell(description)

    def confirm(self, t: float) -> None:
        """The frame at media time ``t`` still shows the newest description's view."""
        if self._history and t > self._history[-1].last_seen:
            self._history[-1] = dataclasses.replace(self._history[-1], seen_t=t)
            self._tell(self._history[-1])

    def _tell(self, description: SceneDescription) -> None:
        for observer in self.observers:  # each frame described, or confirmed (standing watches)
            observer(description)

    def latest(self) -> SceneDescription | None:
        return self._history[-1] if self._history else None

    def history(self) -> list[SceneDescription]:
        return list(self._history)

    def events(self) -> list[SceneEvent]:
        """The summary, oldest first."""
        return list(self._events)

    def summary(self) -> str:
        """The summary as ``Event: … (at 12 s)`` lines, at most ``summary_chars`` characters."""
        return "\n".join(e.line() for e in self._events)

    def _fold(self, old: SceneDescription) -> None:
        text = shorten(old.text)
        if not text:
            return
        last = self._events[-1] if self._events else None
        if last is not None and fuzz.token_sort_ratio(last.text, text, processor=utils.default_process) >= (
            self.similarity
        ):
            self._replace_last(dataclasses.replace(last, end_t=max(last.end_t, old.last_seen)))
        else:
            self._append(SceneEvent(text=text, start_t=old.frame_t, end_t=old.last_seen))
        while self._summary_len > self.summary_chars and self._events:
            self._drop_oldest()

    def _append(self, event: SceneEvent) -> None:
        self._summary_len += len(event.line()) + (1 if self._events else 0)
        self._events.append(event)

    def _replace_last(self, event: SceneEvent) -> None:
        self._summary_len += len(event.line()) - len(self._events[-1].line())
        self._events[-1] = event

    def _drop_oldest(self) -> None:
        gone = self._events.popleft()
        self._summary_len -= len(gone.line()) + (1 if self._events else 0)
