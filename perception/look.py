"""The question-aware look: a question about what is visible ("what is this", "read the
sign", "how many ...") sends the freshest frame and the question to the describer
together, as soon as the transcript allows: on the early transcript decoded at the first
pause in speech (:meth:`Look.prefetch`), else on the final one. It is the one time the describer sits
on the reply path, so it has a deadline; on timeout or failure the reply uses the
background description instead, and the failure is an ``error`` event."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

from kernel.channels import Activity
from kernel.eventlog import EventBus

from .describer import Describer, describe_frame
from .frames import Frame
from .memory import SceneMemory
from .stages import checked_description, describer_error, publish_describer_error, record_description

log = logging.getLogger(__name__)

VISUAL_QUESTION = (
    r"\b(what(?:'s| is| are) (?:this|that|these|those|in front|on|in)|read|sign|written|text|label|how many|"
    r"see|look(?:ing)?|colou?r|wearing|holding|show(?:ing)?|camera|who is|is there|are there|"
    r"any(?:one|body)|some(?:one|body)|where is|which way)\b"
    # The same in Chinese (no word boundaries): what is this, written, sign, see, colour, how many, holding...
    r"|这是什么|那是什么|是什么东西|写的|写着|牌子|招牌|文字|看到|看见|看一下|看看|颜色|几个|多少|拿着|穿着|镜头|摄像头|谁"
    r"|有没有|有.{1,6}吗|在哪|哪边"
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
        activity: Activity | None = None,
    ) -> None:
        self.describer = describer
        self.memory = memory
        self.bus = bus
        self.pattern = re.compile(pattern, re.IGNORECASE)
        self.timeout_s = timeout_s
        self.activity = activity  # a prefetched look is pipeline work: ``--speed 0`` waits for it
        self._early: tuple[str, Frame, asyncio.Task[tuple[object, Any]], float] | None = None
        self.prefetched = 0
        self.prefetch_used = 0

    def wants(self, question: str) -> bool:
        return bool(self.pattern.search(question))

    def prefetch(self, utterance: int, text: str) -> None:
        """Starts the look on an early transcript (the decode at the first pause in speech), so it
        overlaps the VAD's end-of-turn silence. The turn uses it if its final transcript is the same."""
        frame = self.memory.latest_frame
        self._drop_early()
        if frame is None or not self.wants(text):
            return
        task = asyncio.create_task(asyncio.to_thread(describe_frame, self.describer, frame.image, text),
                                   name=f"early-look-{utterance}")
        if self.activity is not None:
            self.activity.begin()
            task.add_done_callback(lambda _t: self.activity.end() if self.activity is not None else None)
        self._early = (question_key(text), frame, task, time.perf_counter())
        self.prefetched += 1

    def _drop_early(self) -> None:
        if self._early is not None:
            task = self._early[2]
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # nobody awaits it now
            task.cancel()
            self._early = None

    async def __call__(self, question: str) -> bool:
        """Looks if the question is about what is visible; True when a fresh description was added."""
        early, self._early = self._early, None
        if early is not None and early[0] == question_key(question):
            _, frame, task, started = early
            self.prefetch_used += 1
        else:
            if early is not None:
                self._early = early
                self._drop_early()
            latest = self.memory.latest_frame
            if latest is None or not self.wants(question):
                return False
            frame, started = latest, time.perf_counter()
            task = asyncio.create_task(asyncio.to_thread(describe_frame, self.describer, frame.image, question))
        try:
            async with asyncio.timeout(self.timeout_s):
                answer, details = await task
            text = checked_description(answer)
        except Exception as exc:  # on the reply path: any failure falls back, never ends the turn
            task.cancel()
            error = describer_error(exc)
            log.warning("question-aware look failed (%s); answering from the background description", error)
            publish_describer_error(self.bus, error)
            return False
        record_description(self.memory, self.bus, frame, text, f"{self.describer.name}:look", started, details=details)
        return True


def question_key(text: str) -> str:
    """Transcripts compared without case, punctuation or spacing."""
    return " ".join(re.findall(r"[^\W_]+(?:'[^\W_]+)*", text.lower()))  # letters and digits of any script
