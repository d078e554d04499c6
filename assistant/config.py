"""The runtime's settings: what a session needs to run, whatever mode runs it.

The sections a backend reads are its package's own (``speech.settings``, ``dialogue.settings``,
``perception.settings``); this model gathers them with the runtime's own (input, replay, output,
video, live, supervisor). The app's root settings (``omnilive.settings.Settings``) add the modes'
sections and load the file (:mod:`kernel.settings_file`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from dialogue.settings import DialogueSettings
from kernel.settings_base import StrictModel as _Strict
from perception.registry import DescriberSettings
from perception.settings import BasicDescriberSettings
from speech.settings import AsrSettings, EchoSettings, TtsSettings, VadSettings


class InputSettings(_Strict):
    session: Path | None = None
    video: Path | None = None
    audio: Path | None = None

    @model_validator(mode="after")
    def _one_source(self) -> InputSettings:
        if self.session is not None and (self.video is not None or self.audio is not None):
            raise ValueError("give either a session folder or video/audio files, not both")
        return self


class ReplaySettings(_Strict):
    speed: float = Field(1.0, ge=0, description="1 = real time, 0 = as fast as the models allow")
    loops: int = Field(1, ge=0, description="play the input this many times in a row; 0 = until stopped")


class OutputSettings(_Strict):
    dir: Path | None = None
    # Live and kiosk modes only (a replay writes where it is told and removes nothing):
    # run folders beside this run's, and this run's reply WAVs, stay under max_mb together,
    # oldest removed first; runs older than max_age_days go. Folders beside an --out or
    # --record folder are never touched. null: no cap.
    max_mb: float | None = Field(1024, gt=0)
    max_age_days: float | None = Field(30, gt=0)
    events_max_mb: float | None = Field(20, gt=0)  # events.jsonl rotates past this (null: never; a replay's never does)
    events_keep: int = Field(3, ge=1)  # rotated logs kept: events.1.jsonl, events.2.jsonl, ...


class VideoSettings(_Strict):
    sample_interval_s: float = Field(1.0, gt=0)
    change_threshold: float = Field(0.03, ge=0, le=1)


class LiveSettings(_Strict):
    camera: str | None = "0"  # index, device path, file or stream URL; null for no camera
    microphone: str | None = None  # name (substring) or index; null for the default input
    speaker: str | None = None  # name (substring) or index; null for the default output
    barge_in: bool = True
    # Speech this long heard over the reply stops it (and, live, starts an utterance). From the user's first
    # sound to the reply's silence on the live probe (tests/test_live.py): 330 ms at 250, 237 ms at 160 (Silero
    # itself starts ~100 ms late); the echo guard still tells the assistant's own voice at 160 and at 128.
    barge_in_min_speech_ms: int = Field(160, ge=32)
    echo: EchoSettings = EchoSettings()
    preview: bool = False
    record: Path | None = None


class SupervisorSettings(_Strict):
    """Restart a stage that crashes, or stalls (work waiting, nothing taken for ``stall_s``)."""

    enabled: bool = True
    stall_s: float = Field(60.0, gt=0)
    backoff_initial_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(30.0, gt=0)


class RuntimeSettings(_Strict):
    # The language spoken: en (the default), zh (Mandarin), or auto (detected per utterance, and the
    # reply given in the language of the question). Not en needs a multilingual asr.model.
    language: Literal["auto", "en", "zh"] = "en"
    input: InputSettings = InputSettings()
    replay: ReplaySettings = ReplaySettings()
    output: OutputSettings = OutputSettings()
    video: VideoSettings = VideoSettings()
    describer: DescriberSettings = BasicDescriberSettings()  # describer.backend picks the model
    vad: VadSettings = VadSettings()
    asr: AsrSettings = AsrSettings()
    dialogue: DialogueSettings = DialogueSettings()
    tts: TtsSettings = TtsSettings()
    live: LiveSettings = LiveSettings()
    supervisor: SupervisorSettings = SupervisorSettings()

    @model_validator(mode="after")
    def _language_needs_a_model_that_hears_it(self) -> RuntimeSettings:
        if self.language != "en" and self.asr.model.endswith(".en"):
            raise ValueError(f"language {self.language} needs a multilingual asr.model such as base; "
                             f"{self.asr.model} hears English only")
        return self

    def asr_for_language(self) -> AsrSettings:
        """``asr`` with the session's language: fixed for zh, detected (null) for auto."""
        if self.language == "en":
            return self.asr
        return self.asr.model_copy(update={"language": None if self.language == "auto" else self.language})


# The fields that hold paths, made relative to the file they are written in.
PATH_FIELDS: tuple[tuple[str, ...], ...] = (
    ("input", "session"),
    ("input", "video"),
    ("input", "audio"),
    ("output", "dir"),
    ("vad", "model"),
    ("live", "record"),
    ("describer", "repo"),
)
