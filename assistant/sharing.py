"""How a reply shares the CPU with background work: the describer waits while a reply is
produced, and the local LLM's prompt is warmed while the user speaks."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from kernel.control import Flag
from kernel.events import (
    Event,
    ReplyRequested,
    SceneDescribed,
    SessionEnded,
    SpeechStarted,
)

from .state import StateTracker

if TYPE_CHECKING:
    from .turns import TurnRunner


class ReplyPriority:
    """Tells background work (the describer) to wait while a reply is being produced.

    From the end of the user's speech until the turn ends (its ``reply_text``), or a
    wordless or ignored transcript, the CPU belongs to ASR, the LLM and TTS: on two cores a
    background description would slow the first token and the decoding of the reply. This is
    :attr:`StateTracker.reply_pending <assistant.state.StateTracker.reply_pending>`; pass a
    tracker the bus already feeds to share it, or this feeds its own.
    """

    def __init__(self, tracker: StateTracker | None = None) -> None:
        self.tracker = tracker if tracker is not None else StateTracker()
        self._feeds = tracker is None
        self._idle = asyncio.Event()
        self._changed(self.tracker)
        self.tracker.listeners.append(self._changed)

    def __call__(self, event: Event) -> None:
        if self._feeds:
            self.tracker(event)

    def _changed(self, tracker: StateTracker) -> None:
        if tracker.reply_pending:
            self._idle.clear()
        else:
            self._idle.set()

    @property
    def reply_pending(self) -> bool:
        return self.tracker.reply_pending

    async def wait(self) -> None:
        await self._idle.wait()


class PromptWarmer:
    """Warms the local LLM's prompt while the user speaks: at the start of speech, and again
    whenever the view changes before the request goes out (a new description, the question-aware
    look). At most one warm-up runs, with at most one more queued behind it.

    No warm-up starts while ``hold`` is set: the pipeline holds them while Whisper decodes
    the pause that may end the turn. A warm-up there would halve the speed of both on two
    cores (a 13-token warm-up and the decode took 1.3 s and 1.5 s side by side), and the
    transcript is what the reply waits for; the request evaluates the new tokens itself."""

    def __init__(self, runner: TurnRunner, hold: Flag | None = None) -> None:
        self.runner = runner
        self.hold = hold
        self._pending = False
        self._again = False
        self._task: asyncio.Task[None] | None = None
        self.warmed = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, SpeechStarted):
            self._pending = True
            self._kick()
        elif isinstance(event, SceneDescribed) and self._pending:
            self._kick()
        elif isinstance(event, ReplyRequested | SessionEnded):
            self._pending = False

    def _held(self) -> bool:
        return bool(self.hold)

    def _kick(self) -> None:
        if self._held():
            return
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="prompt-warm")

    async def _run(self) -> None:
        while True:
            self._again = False
            await self.runner.warm()
            self.warmed += 1
            if not (self._again and self._pending) or self._held():
                return
