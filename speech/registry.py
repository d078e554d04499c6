"""The speech backends: one line each, naming the loader that builds it from its section of the
settings. ``asr.backend`` and ``tts.backend`` pick a line. Adding a backend is its own module,
with a ``from_settings``, plus one line here (its fields go into :mod:`speech.settings`). A loader
is imported only when chosen: faster-whisper, piper and pyttsx3 each load a native stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel.plugins import import_attribute

from .protocols import Asr, TurnEndModel, Vad

if TYPE_CHECKING:
    from .settings import AsrSettings, TtsSettings, VadSettings
    from .tts import Tts

ASR_BACKENDS: dict[str, str] = {
    "faster-whisper": "speech.asr:WhisperAsr.from_settings",
}

TTS_BACKENDS: dict[str, str] = {
    "piper": "speech.tts:PiperTts.from_settings",
    "pyttsx3": "speech.tts:Pyttsx3Tts.from_settings",
}


def make_asr(settings: AsrSettings) -> Asr:
    asr: Asr = import_attribute(ASR_BACKENDS[settings.backend])(settings)
    return asr


def make_tts(settings: TtsSettings) -> Tts:
    tts: Tts = import_attribute(TTS_BACKENDS[settings.backend])(settings)
    return tts


def make_vad(settings: VadSettings) -> Vad:
    from .vad import SileroVad

    return SileroVad(settings.model)


def make_turn_end(settings: VadSettings) -> TurnEndModel | None:
    """The turn-end model ``vad.end_of_turn`` asks for (None for ``silence``)."""
    if settings.end_of_turn != "smart_turn":
        return None
    from .smart_turn import SmartTurn

    return SmartTurn(settings.smart_turn.model)
