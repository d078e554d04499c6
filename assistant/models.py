"""Loading the models a session needs, once, failing early with a typed error."""

from __future__ import annotations

import os
from dataclasses import dataclass

from dialogue.backends import ChatBackend
from dialogue.registry import make_llm
from perception.describer import Describer
from perception.registry import make_describer
from speech.protocols import Asr, TurnEndModel, Vad
from speech.registry import make_asr, make_tts, make_turn_end, make_vad
from speech.tts import Tts

from .config import RuntimeSettings


@dataclass(slots=True)
class Models:
    vad: Vad | None
    asr: Asr | None
    describer: Describer | None
    tts: Tts | None
    llm: ChatBackend | None
    turn_end: TurnEndModel | None = None  # vad.end_of_turn: smart_turn

def prepare_models(settings: RuntimeSettings, *, hearing: bool, seeing: bool) -> Models:
    """Loads only what the inputs need: no audio, no VAD/ASR/LLM/TTS; no video, no describer. Each
    backend comes from its package's registry, by the name its section's ``backend`` gives."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub
    # Cheap checks and small models first, so a bad path fails before Whisper loads.
    llm = make_llm(settings.dialogue) if hearing else None
    vad = make_vad(settings.vad) if hearing else None
    tts = make_tts(settings.tts) if hearing else None
    if tts is not None and settings.language != "en":  # Chinese pieces go to the Chinese voice
        from speech.zh_voice import BilingualTts, ZhTts

        tts = BilingualTts(tts, ZhTts())
    describer = make_describer(settings.describer, settings.language) if seeing else None
    asr = make_asr(settings.asr_for_language()) if hearing else None
    turn_end = make_turn_end(settings.vad) if hearing else None
    return Models(vad=vad, asr=asr, describer=describer, tts=tts, llm=llm, turn_end=turn_end)
