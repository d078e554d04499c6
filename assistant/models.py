"""Loading the models a session needs, once, failing early with a typed error."""

from __future__ import annotations

import os
from dataclasses import dataclass

from dialogue.backends import ChatBackend, choose_backend
from dialogue.offline import OfflineResponder
from dialogue.openai_chat import OpenAIChat
from perception.describer import Describer
from perception.registry import make_describer
from speech.asr import WhisperAsr
from speech.protocols import Asr, Vad
from speech.tts import PiperTts, Pyttsx3Tts, Tts
from speech.vad import SileroVad

from .config import Settings


@dataclass(slots=True)
class Models:
    vad: Vad | None
    asr: Asr | None
    describer: Describer | None
    tts: Tts | None
    llm: ChatBackend | None


def make_llm(settings: Settings) -> ChatBackend:
    d = settings.dialogue
    chosen = choose_backend(d.backend, d.api_key_env, d.local.model)
    if chosen == "local":
        from dialogue.local_llm import LocalLlm

        loc = d.local
        return LocalLlm(
            loc.model, threads=loc.threads, context=loc.context, batch=loc.batch,
            max_tokens=loc.max_tokens, temperature=loc.temperature,
        )
    if chosen == "openai":
        return OpenAIChat(
            base_url=d.base_url,
            model=d.model,
            api_key_env=d.api_key_env,
            temperature=d.temperature,
            max_tokens=d.max_tokens,
            timeout_s=d.timeout_s,
            max_retries=d.max_retries,
        )
    return OfflineResponder()


def make_tts(settings: Settings) -> Tts:
    t = settings.tts
    if t.backend == "pyttsx3":
        return Pyttsx3Tts(rate=t.rate, voice=None if t.voice == "joe" else t.voice)
    return PiperTts(t.voice, length_scale=t.length_scale)


def prepare_models(settings: Settings, *, hearing: bool, seeing: bool) -> Models:
    """Loads only what the inputs need: no audio, no VAD/ASR/LLM/TTS; no video, no describer."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub
    # Cheap checks and small models first, so a bad path fails before Whisper loads.
    llm = make_llm(settings) if hearing else None
    vad = SileroVad(settings.vad.model) if hearing else None
    tts = make_tts(settings) if hearing else None
    describer = make_describer(settings.describer) if seeing else None
    asr = (
        WhisperAsr(
            settings.asr.model,
            device=settings.asr.device,
            compute_type=settings.asr.compute_type,
            cpu_threads=settings.asr.cpu_threads,
            beam_size=settings.asr.beam_size,
            language=settings.asr.language,
            initial_prompt=settings.asr.initial_prompt,
        )
        if hearing
        else None
    )
    return Models(vad=vad, asr=asr, describer=describer, tts=tts, llm=llm)
