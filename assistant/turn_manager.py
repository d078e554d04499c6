"""One reply at a time: each final transcript becomes a turn, a newer one or a barge-in cancels
the reply in progress, and a reply asked for early (:mod:`assistant.speculation`) is kept or dropped."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from kernel.channels import Activity, Channel
from kernel.events import (
    BargeIn,
    ErrorOccurred,
    Event,
    ReplyAudioStarted,
    Speculated,
    SpeechStarted,
    Stage,
    TranscriptIgnored,
)
from perception.look import question_key
from speech.stages import FinalTranscript

from .speculation import Speculation
from .turns import TurnRunner

log = logging.getLogger(__name__)

Screen = Callable[[FinalTranscript], str | None]


class TurnManager:
    """Runs each reply as a named task, one at a time.

    A new final transcript cancels a reply still in progress (the user moved on);
    :meth:`interrupt` cancels it at once for barge-in. The task counts as pipeline
    activity until it ends, so ``--speed 0`` waits for it. ``screen`` may veto a
    transcript (returning the reason), for example the assistant's own echo.
    """

    def __init__(
        self,
        runner: TurnRunner,
        activity: Activity,
        *,
        screen: Screen | None = None,
        on_interrupt: Callable[[], None] | None = None,
        cancel_timeout_s: float = 1.0,
        speculative: bool = False,
    ) -> None:
        self.runner = runner
        self.activity = activity
        self.screen = screen
        self.on_interrupt = on_interrupt
        self.cancel_timeout_s = cancel_timeout_s
        self.turn = 0
        self._task: asyncio.Task[None] | None = None
        self.speculative = speculative
        self._speculation: Speculation | None = None
        self.speculated = 0  # requests sent on an early transcript
        self.speculation_used = 0  # ...that became the turn's reply
        self.speculation_wasted = 0  # ...cancelled: the words changed, or the voice went on

    @property
    def active(self) -> bool:
        return self._task is not None and not self._task.done()

    def interrupt(self) -> bool:
        """Stop the sound and cancel the reply in progress; False when there was none."""
        if self.on_interrupt is not None:
            self.on_interrupt()
        if not self.active:
            return False
        assert self._task is not None
        self._task.cancel()
        return True

    async def _settle(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            done, _ = await asyncio.wait({self._task}, timeout=self.cancel_timeout_s)
            if not done:
                log.warning("turn %d did not stop within %.1f s", self.turn, self.cancel_timeout_s)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.activity.end()
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("turn task %s failed", task.get_name(), exc_info=exc)
            self.runner.bus.publish(
                ErrorOccurred(
                    t=self.runner.bus.clock.now(), stage=Stage.DIALOGUE.value, code="internal",
                    message=f"{type(exc).__name__}: {exc}", retryable=False,
                )
            )

    async def announce(self, text: str) -> int:
        """Speaks ``text`` now, as its own turn: a reply in progress is cancelled first. Returns the turn."""
        await self._settle()
        self.turn += 1
        self.activity.begin()
        self._task = asyncio.create_task(self.runner.announce(self.turn, text), name=f"turn-{self.turn}-say")
        self._task.add_done_callback(self._finished)
        return self.turn

    def speculate(self, utterance: int, text: str) -> None:
        """An early transcript is ready (the decode at a pause): with ``speculative`` on, the reply
        is asked for now, and kept if the turn ends with the same words. A transcript the screen
        would veto (the assistant's own echo) is not speculated on, nor one heard while a reply is
        in progress: the request would miss that reply, which the confirmed turn records first."""
        self.drop_speculation()
        if not self.speculative or self.active or not question_key(text):
            return
        if self.screen is not None and self.screen(FinalTranscript(utterance, text, 0.0)) is not None:
            return
        self._speculation = self.runner.speculate(utterance, text)
        self.speculated += 1

    def drop_speculation(self) -> None:
        """The voice went on after the pause, or the words changed: the early request is cancelled."""
        speculation, self._speculation = self._speculation, None
        if speculation is not None:
            speculation.cancel()
            self.speculation_wasted += 1
            self._report(speculation, used=False)

    def _report(self, speculation: Speculation, *, used: bool) -> None:
        bus = self.runner.bus
        bus.publish(Speculated(t=bus.clock.now(), utterance=speculation.utterance, text=speculation.question,
                               used=used))

    def _adopt(self, final: FinalTranscript) -> Speculation | None:
        speculation = self._speculation
        if speculation is not None and speculation.utterance == final.utterance \
                and speculation.key == question_key(final.text) and not speculation.task.cancelled():
            self._speculation = None
            self.speculation_used += 1
            self._report(speculation, used=True)
            return speculation
        self.drop_speculation()
        return None

    async def run(self, transcripts: Channel[FinalTranscript]) -> None:
        try:
            async for final in transcripts:
                reason = self.screen(final) if self.screen is not None else None
                if reason is not None:
                    self.drop_speculation()
                    self.runner.bus.publish(
                        TranscriptIgnored(
                            t=self.runner.bus.clock.now(), utterance=final.utterance, text=final.text, reason=reason
                        )
                    )
                    continue
                speculation = self._adopt(final)
                await self._settle()
                self.turn += 1
                self.activity.begin()
                self._task = asyncio.create_task(
                    self.runner.run(self.turn, final.utterance, final.text, speculation, final.language),
                    name=f"turn-{self.turn}",
                )
                self._task.add_done_callback(self._finished)
            if self._task is not None:
                await asyncio.wait({self._task})
        finally:
            self.drop_speculation()
            await self._settle()


class SilentReplyCut:
    """Cuts a reply that is still silent when the user starts speaking again: it would begin over
    the next question (a slow first answer did, in a replay). A reply already playing is the
    barge-in's to judge (the live mode's echo guard), not this. Subscribe it to the bus."""

    def __init__(self, manager: TurnManager) -> None:
        self.manager = manager
        self._audible = 0  # the last turn whose reply audio started

    def __call__(self, event: Event) -> None:
        manager = self.manager
        if isinstance(event, ReplyAudioStarted):
            self._audible = event.turn
        elif isinstance(event, SpeechStarted) and manager.active and self._audible != manager.turn \
                and manager.interrupt():
            manager.runner.bus.publish(BargeIn(t=event.t, utterance=event.utterance, turn=manager.turn, echo_score=0.0))
