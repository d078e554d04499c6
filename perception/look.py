"""The question-aware look: a question about what is visible ("what is this", "read the
sign", "how many ...") sends the freshest frame and the question to the describer
together, as soon as the transcript is final. It is the one time the describer sits
on the reply path, so it has a deadline; on timeout or failure the reply uses the
background description instead, and the failure is an ``error`` event."""

from __future__ import annotations

import asyncio
import logging
import re
import time

from assistant.eventlog import EventBus
from assistant.events import SceneDescribed

from .describer import Describer
from .memory import SceneDescription, SceneMemory
from .stages import checked_description, describer_error, publish_describer_error

log = logging.getLogger(__name__)

VISUAL_QUESTION = (
    r"\b(what(?:'s| is| are) (?:this|that|these|those|in front|on|in)|read|sign|written|text|label|how many|"
    r"see|look(?:ing)?|colou?r|wearing|holding|show(?:ing)?|camera|who is)\b"
)


class Look:
    def __init__(
        self,
        describer: Describer,
        memory: SceneMemory,
        bus: EventBus,
        *,
        pattern: str = VISUAL_QUESTION,
        timeout_s: float = 3.0,
    ) -> None:
        self.describer = describer
        self.memory = memory
        self.bus = bus
        self.pattern = re.compile(pattern, re.IGNORECASE)
        self.timeout_s = timeout_s

    def wants(self, question: str) -> bool:
        return bool(self.pattern.search(question))

    async def __call__(self, question: str) -> bool:
        """Looks if the question is about what is visible; True when a fresh description was added."""
        frame = self.memory.latest_frame
        if frame is None or not self.wants(question):
            return False
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                answer = await asyncio.to_thread(self.describer.describe, frame.image, question)
            text = checked_description(answer)
        except Exception as exc:  # on the reply path: any failure falls back, never ends the turn
            error = describer_error(exc)
            log.warning("question-aware look failed (%s); answering from the background description", error)
            publish_describer_error(self.bus, error)
            return False
        now = self.bus.clock.now()
        backend = f"{self.describer.name}:look"
        self.memory.update(SceneDescription(text=text, frame_t=frame.t, described_at=now, backend=backend))
        self.bus.publish(
            SceneDescribed(t=now, text=text, frame_t=frame.t, change=0.0, backend=backend,
                           compute_ms=(time.perf_counter() - started) * 1000)
        )
        return True
