"""Typed events. Every stage reports what it did as one of these.

Each event is a frozen dataclass with ``t``, the session-clock time at which it
happened, and a ``type`` name used in ``events.jsonl``. Serialization is generic
(:func:`to_record`); no event writes its own JSON.

``speech_end_at`` and similar fields hold media/session times of things that
happened before the event was emitted (the VAD reports the end of speech only
after it has heard enough silence).
"""

from __future__ import annotations

import dataclasses
import enum
import re
from dataclasses import dataclass
from typing import Any, ClassVar

_WORD = re.compile(r"\w")


class Stage(enum.Enum):
    SESSION = "session"
    VIDEO = "video"
    DESCRIBER = "describer"
    VAD = "vad"
    ASR = "asr"
    DIALOGUE = "dialogue"
    TTS = "tts"
    PLAYER = "player"


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    type: ClassVar[str] = "event"
    t: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStarted(Event):
    type: ClassVar[str] = "session_start"
    source: str
    speed: float
    config: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionEnded(Event):
    type: ClassVar[str] = "session_end"
    reason: str
    media_seconds: float
    dropped: dict[str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechStarted(Event):
    type: ClassVar[str] = "speech_start"
    utterance: int
    speech_start_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechEnded(Event):
    type: ClassVar[str] = "speech_end"
    utterance: int
    speech_start_at: float
    speech_end_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Transcribed(Event):
    type: ClassVar[str] = "transcript"
    utterance: int
    text: str
    final: bool
    compute_ms: float
    early: bool = False  # decoded at the first pause, before the VAD was sure the turn had ended
    # Whisper's whole time on it: ``compute_ms`` is only what was left after the utterance ended
    # (0 at ``--speed 0`` when the early decode was done by then)
    decode_ms: float | None = None
    language: str | None = None  # the language it was heard in, when the recognizer says ("en", "zh")

    @property
    def has_words(self) -> bool:
        """Whether the text has a word character: a final transcript without one never becomes a
        turn (the ASR stage drops it), so nothing waits for a reply to it."""
        return _WORD.search(self.text) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptIgnored(Event):
    """A final transcript that starts no turn (for example, the assistant's own echo)."""

    type: ClassVar[str] = "transcript_ignored"
    utterance: int
    text: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BargeIn(Event):
    """The user spoke over the assistant: playback stopped and the turn was cancelled."""

    type: ClassVar[str] = "barge_in"
    utterance: int
    turn: int
    echo_score: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SceneDescribed(Event):
    type: ClassVar[str] = "scene"
    text: str
    frame_t: float
    change: float
    backend: str
    compute_ms: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyRequested(Event):
    """The request went to the LLM."""

    type: ClassVar[str] = "llm_request"
    turn: int
    utterance: int
    backend: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Speculated(Event):
    """What became of a reply asked for on an early transcript, before the end of the turn was
    confirmed: ``used`` when the turn ended with the same words, else cancelled (wasted: a paid
    API bills it)."""

    type: ClassVar[str] = "speculation"
    utterance: int
    text: str
    used: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyStarted(Event):
    """The first token of a reply arrived from the LLM."""

    type: ClassVar[str] = "reply_first_token"
    turn: int
    utterance: int
    backend: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyChunk(Event):
    """A piece of the reply handed to TTS (a sentence, or a clause)."""

    type: ClassVar[str] = "reply_chunk"
    turn: int
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyText(Event):
    """The whole reply text, once the LLM finished (or was cut off)."""

    type: ClassVar[str] = "reply_text"
    turn: int
    utterance: int
    text: str
    question: str
    interrupted: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyAudioStarted(Event):
    type: ClassVar[str] = "reply_audio_start"
    turn: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyAudioEnded(Event):
    type: ClassVar[str] = "reply_audio_end"
    turn: int
    duration_s: float
    path: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnMetrics(Event):
    """Per-turn latencies in ms, measured on the session clock from the end of speech.

    ``*_ms`` fields are offsets from ``speech_end_at``; ``compute`` holds the wall
    time each model call took, which is what matters at ``--speed 0``.
    """

    type: ClassVar[str] = "turn_metrics"
    turn: int
    utterance: int
    speech_end_at: float
    vad_end_ms: float
    asr_final_ms: float
    llm_request_ms: float | None
    first_token_ms: float | None
    first_chunk_ms: float | None
    first_audio_ms: float | None
    compute: dict[str, float]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceStatus(Event):
    """A camera, microphone or speaker was lost, is being retried, or came back."""

    type: ClassVar[str] = "device"
    kind: str  # "camera" | "microphone" | "speaker"
    device: str
    state: str  # "lost" | "retrying" | "restored"
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorOccurred(Event):
    type: ClassVar[str] = "error"
    stage: str
    code: str
    message: str
    retryable: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class StageRestarted(Event):
    """A stage crashed or stalled and is restarted after ``backoff_s``."""

    type: ClassVar[str] = "stage_restart"
    stage: str
    reason: str
    restart: int
    backoff_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Presence(Event):
    """Attract mode: a person arrived (``present``) or left, or was greeted (``greeted``)."""

    type: ClassVar[str] = "presence"
    present: bool
    greeted: bool
    detector: str  # "face" | "person" | "any"


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchSet(Event):
    """A standing watch was set ("tell me when you see a cat"): what it looks for, in the request's words."""

    type: ClassVar[str] = "watch_set"
    watch: int
    kind: str  # "appears" | "text" | "gone" | "change"
    name: str
    text: str
    every: bool
    until: float | None
    language: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchFired(Event):
    """A watch's condition held on enough frames in a row: the assistant says so when it may speak."""

    type: ClassVar[str] = "watch_fired"
    watch: int
    name: str
    since_t: float  # media time of the first frame of the run that fired it
    said: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchCleared(Event):
    """A watch ended: cleared by the user, fired once, lapsed, or dropped for a newer one."""

    type: ClassVar[str] = "watch_cleared"
    watch: int
    name: str
    reason: str  # "cleared" | "fired" | "lapsed" | "dropped"


def to_record(event: Event) -> dict[str, Any]:
    """The JSON-ready form of an event: ``type``, ``t``, then its payload."""
    record: dict[str, Any] = {"type": event.type, "t": round(event.t, 4)}
    for field in dataclasses.fields(event):
        if field.name == "t":
            continue
        value = getattr(event, field.name)
        record[field.name] = round(value, 4) if isinstance(value, float) else value
    return record
