"""The speech backends' Protocols that the pipeline depends on: ASR, VAD and the turn-end model.

:class:`speech.asr.WhisperAsr`, :class:`speech.vad.SileroVad` and
:class:`speech.smart_turn.SmartTurn` implement them; stand-ins in the tests and benchmarks need
only the same methods. (The TTS Protocol is :class:`speech.tts.Tts`.) Importing this module loads
no model runtime.
"""

from __future__ import annotations

from typing import Protocol

from .audio import Audio


class Asr(Protocol):
    def transcribe(self, audio: Audio) -> str:
        """The text spoken in one utterance of 16 kHz mono audio; blocking (the stages call it in a thread)."""
        ...


class Vad(Protocol):
    def __call__(self, block: Audio) -> float:
        """Speech probability of one ``BLOCK``-sample block; cheap, called on the event loop."""
        ...

    def reset(self) -> None:
        """Forget the state carried from earlier blocks, before a new stream."""
        ...


class TurnEndModel(Protocol):
    """Says from the audio of an utterance how likely it is that the speaker has finished."""

    def probability(self, audio: Audio) -> float: ...
