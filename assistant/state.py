"""What the assistant is doing right now, worked out once from the events on the bus.

:class:`StateTracker` is the one reducer behind the console's status line
(:class:`omnilive.console.LiveStatus`), the kiosk's published state
(:class:`kiosk.runtime.KioskState`), the browser page's state (``web.server``), attract mode's
"is anything under way" (:class:`kiosk.attract.Attract`) and the reply priority
(:class:`assistant.sharing.ReplyPriority`).
Each of those only translates it into its own words.

It keeps four facts:

- ``hearing``: the utterance the user is speaking (``speech_start`` until its ``speech_end``
  or its final transcript);
- ``playing``: the turn whose reply audio is playing (``reply_audio_start`` until that
  turn's ``reply_audio_end`` or ``reply_text``, or a barge-in);
- the utterances waiting for a reply (``speech_end``, or a final transcript with words,
  until the reply to it or to a later utterance ends with ``reply_text``; until its final
  transcript if it has no words, since it never becomes a turn; until
  ``transcript_ignored``, for an echo or while muted);
- ``muted`` (set by the kiosk's commands and the browser page's mute button) and
  ``last_activity``, the newest bus time of speech or reply audio starting or ending.

``stage_restart`` and ``session_end`` forget all but ``muted`` and ``last_activity``: a
restarted stage may never send the end that matches a start it sent.

The :class:`Phase` shown follows from them, first match wins:

============  ==========================================================================
phase         when
============  ==========================================================================
speaking      reply audio is playing
hearing       the user is speaking, and began after the newest reply audio started (a
              reply that starts over the user's speech takes over the phase)
thinking      an utterance is waiting for its reply
listening     otherwise
============  ==========================================================================
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from kernel.events import (
    BargeIn,
    Event,
    ReplyAudioEnded,
    ReplyAudioStarted,
    ReplyText,
    SessionEnded,
    SpeechEnded,
    SpeechStarted,
    StageRestarted,
    Transcribed,
    TranscriptIgnored,
)


class Phase(enum.Enum):
    LISTENING = "listening"  # waiting for speech
    HEARING = "hearing"  # the user is speaking
    THINKING = "thinking"  # the user has spoken; the transcript or the reply is being made
    SPEAKING = "speaking"  # reply audio is playing


Listener = Callable[["StateTracker"], None]


class StateTracker:
    """Feed it every bus event (it is a subscriber); ``listeners`` are called with it whenever
    the phase, ``muted`` or ``reply_pending`` changes. See the module docstring."""

    def __init__(self) -> None:
        self.hearing: int | None = None  # the utterance being spoken
        self.playing: int | None = None  # the turn whose reply audio plays
        self.muted = False
        self.last_activity: float | None = None
        self.listeners: list[Listener] = []
        self._hearing_shown = False  # the speech began after the newest reply audio started
        self._waiting: set[int] = set()  # utterances whose reply has not ended
        self.phase = Phase.LISTENING
        self._seen = self._snapshot()

    @property
    def reply_pending(self) -> bool:
        """From the end of the user's speech until the reply to it ends (or it turns out not to
        become a turn): the CPU belongs to ASR, the LLM and TTS."""
        return bool(self._waiting)

    @property
    def user_speaking(self) -> bool:
        return self.hearing is not None

    @property
    def reply_playing(self) -> bool:
        return self.playing is not None

    def set_muted(self, muted: bool) -> None:
        self.muted = muted
        self._changed()

    def __call__(self, event: Event) -> None:
        if isinstance(event, SpeechStarted):
            self.hearing, self._hearing_shown = event.utterance, True
            self._active(event.t)
        elif isinstance(event, SpeechEnded):
            self.hearing, self._hearing_shown = None, False
            self._waiting.add(event.utterance)
            self._active(event.t)
        elif isinstance(event, Transcribed) and event.final:
            if self.hearing == event.utterance:
                self.hearing, self._hearing_shown = None, False
            if event.has_words:
                self._waiting.add(event.utterance)
            else:
                self._waiting.discard(event.utterance)
        elif isinstance(event, TranscriptIgnored):
            self._waiting.discard(event.utterance)
        elif isinstance(event, ReplyAudioStarted):
            self.playing, self._hearing_shown = event.turn, False
            self._active(event.t)
        elif isinstance(event, ReplyAudioEnded):
            if self.playing == event.turn:
                self.playing = None
            self._active(event.t)
        elif isinstance(event, BargeIn):
            self.playing = None
            self._hearing_shown = self.hearing is not None
        elif isinstance(event, ReplyText):
            if self.playing == event.turn:
                self.playing = None
            # turns run one at a time: a reply that ended answers its utterance and every earlier one
            self._waiting = {u for u in self._waiting if u > event.utterance}
        elif isinstance(event, StageRestarted | SessionEnded):
            self.hearing = self.playing = None
            self._hearing_shown = False
            self._waiting.clear()
        else:
            return
        self._changed()

    def _active(self, t: float) -> None:
        self.last_activity = t if self.last_activity is None else max(self.last_activity, t)

    def _phase(self) -> Phase:
        if self.playing is not None:
            return Phase.SPEAKING
        if self._hearing_shown:
            return Phase.HEARING
        if self._waiting:
            return Phase.THINKING
        return Phase.LISTENING

    def _snapshot(self) -> tuple[Phase, bool, bool]:
        return self._phase(), self.muted, self.reply_pending

    def _changed(self) -> None:
        self.phase = self._phase()
        seen = self._snapshot()
        if seen != self._seen:
            self._seen = seen
            for listener in self.listeners:
                listener(self)
