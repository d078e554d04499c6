"""Reading text in a frame: RapidOCR (default) or tesseract.

A :class:`TextReader` turns one BGR frame into the lines of text it can read, in
reading order (top to bottom, then left to right within a line). Both readers load
once, run on one CPU thread (the LLM and Whisper need the other cores), and leave out
what they are unsure of.

- :class:`RapidOcrReader`: ``rapidocr-onnxruntime`` 1.4.4, PP-OCRv4 detection and
  recognition ONNX models from inside the wheel (nothing is downloaded); reads English
  and Chinese, single characters and digits included.
- :class:`TesseractReader`: the ``tesseract`` binary through pytesseract; English
  only; dark print on a light ground.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from typing import Any, Literal, Protocol

import cv2
import numpy as np

from kernel.errors import ConfigError, ModelError

from .frames import Image

logger = logging.getLogger(__name__)

TextEngine = Literal["rapidocr", "tesseract", "off"]

MIN_CONFIDENCE = 0.8  # RapidOCR scores clean print 0.95-1.0 and stray marks on photos ~0.5
_MIN_SIDE = 8  # frames narrower or shorter than this hold nothing legible
_MAX_SIDE = 960  # larger frames are shrunk to this long side first: 1.2 s for 1920x1080 as it is, 0.3 s shrunk
_LINE_OVERLAP = 0.5  # boxes whose vertical spans overlap by this share of the shorter one share a line
# Glyphs that are a single stroke: read on their own they are nearly always an edge or a bar
# (a pencil on paper reads as "一" at 0.98), so a result made only of them is left out.
_STROKES = frozenset("一丨丿乀乁丶亅|-_—–~/\\.,:;'\"`!lI1")

# tesseract
_TESS_MIN_CONFIDENCE = 70.0  # tesseract's 0-100 word confidence; clean print scores 90+
_TESS_MIN_CONFIDENCE_SHORT = 85.0  # for words under four characters, where junk is most common
_TESS_BLOCK = 41  # adaptive-threshold window; wider than the thickest stroke we expect
_TESS_CONTRAST = 15  # grey levels ink must lie below its neighbourhood
_TESS_MAX_SIDE = 1280  # larger frames are shrunk before OCR
_TESS_TIMEOUT_S = 5.0


class TextReader(Protocol):
    name: str

    def read(self, image: Image) -> list[str]:
        """The lines of text in a BGR frame, in reading order; [] when there is none."""
        ...


def make_text_reader(engine: TextEngine, *, min_confidence: float = MIN_CONFIDENCE) -> TextReader | None:
    """The reader for ``describer.text``; None for ``off``. :class:`ConfigError` if it cannot load."""
    if engine == "rapidocr":
        return RapidOcrReader(min_confidence=min_confidence)
    if engine == "tesseract":
        return TesseractReader()
    return None


class RapidOcrReader:
    """RapidOCR (PP-OCRv4, ONNX Runtime on one thread). Not thread-safe: callers serialise."""

    name = "rapidocr"

    def __init__(self, *, min_confidence: float = MIN_CONFIDENCE, threads: int = 1) -> None:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as exc:
            raise ConfigError(
                f"describer.text: rapidocr needs the rapidocr-onnxruntime package ({exc}); "
                "pip install rapidocr-onnxruntime==1.4.4, or set describer.text: tesseract or off"
            ) from exc
        _quiet_rapidocr_loggers()
        try:
            # Keyword arguments override the wheel's config.yaml; the thread counts reach
            # all three ONNX sessions (detection, orientation, recognition).
            self._engine: Any = RapidOCR(
                intra_op_num_threads=threads,
                inter_op_num_threads=threads,
                det_limit_type="max",  # never enlarge a frame for detection (the default takes 480 px to 736)
                det_limit_side_len=_MAX_SIDE,
            )
        except Exception as exc:  # onnxruntime raises its own types; translate them here, at the edge
            raise ModelError(f"describer.text: RapidOCR did not load: {type(exc).__name__}: {exc}") from exc
        _quiet_rapidocr_loggers()
        self.min_confidence = min_confidence

    @property
    def threads(self) -> set[int]:
        """The intra-op thread counts its ONNX sessions (detection, orientation, recognition) run with."""
        sessions = (self._engine.text_det.infer, self._engine.text_cls.infer, self._engine.text_rec.session)
        return {int(s.session.get_session_options().intra_op_num_threads) for s in sessions}

    def read(self, image: Image) -> list[str]:
        image = _shrink(image, _MAX_SIDE)
        if min(image.shape[:2]) < _MIN_SIDE:  # as shrunk: a 4000x8 strip is looked at as 960x2
            return []
        try:
            result, _elapsed = self._engine(image)
        except Exception as exc:  # onnxruntime raises its own types; translate them here, at the edge
            raise ModelError(f"RapidOCR failed on a {image.shape[1]}x{image.shape[0]} frame: {exc}") from exc
        boxes: list[tuple[float, float, float, str]] = []
        for box, text, score in result or ():
            words = str(text).strip()
            if not words or float(score) < self.min_confidence or set(words.replace(" ", "")) <= _STROKES:
                logger.debug("rapidocr dropped %r (%.2f)", words, float(score))
                continue
            xs = [float(p[0]) for p in box]
            ys = [float(p[1]) for p in box]
            boxes.append((min(ys), max(ys), min(xs), words))
        return reading_order(boxes)


def reading_order(boxes: Sequence[tuple[float, float, float, str]]) -> list[str]:
    """Lines of text from ``(top, bottom, left, text)`` boxes: a box whose vertical span
    overlaps a line's joins it; lines run top to bottom, boxes in a line left to right."""
    lines: list[list[tuple[float, float, float, str]]] = []
    for box in sorted(boxes, key=lambda b: (b[0] + b[1]) / 2):
        top, bottom = box[0], box[1]
        for line in lines:
            line_top, line_bottom = min(b[0] for b in line), max(b[1] for b in line)
            overlap = min(bottom, line_bottom) - max(top, line_top)
            if overlap >= _LINE_OVERLAP * min(bottom - top, line_bottom - line_top):
                line.append(box)
                break
        else:
            lines.append([box])
    return [" ".join(b[3] for b in sorted(line, key=lambda b: b[2])) for line in lines]


def _quiet_rapidocr_loggers() -> None:
    """RapidOCR gives its loggers their own DEBUG stream handlers; route them through ours."""
    for name in ("RapidOCR", "OrtInferSession"):
        log = logging.getLogger(name)
        for handler in list(log.handlers):
            log.removeHandler(handler)
        log.setLevel(logging.NOTSET)


class TesseractReader:
    """tesseract through pytesseract, one OpenMP thread; dark print on a light ground."""

    name = "tesseract"

    def __init__(self) -> None:
        if shutil.which("tesseract") is None:
            raise ConfigError("describer.text: tesseract is chosen but no `tesseract` binary is on PATH")
        try:
            import pytesseract
        except ImportError as exc:
            raise ConfigError(f"describer.text: tesseract needs the pytesseract package ({exc})") from exc
        _single_threaded(pytesseract)
        self._tesseract: Any = pytesseract

    def read(self, image: Image) -> list[str]:
        gray = cv2.cvtColor(_shrink(image, _TESS_MAX_SIDE), cv2.COLOR_BGR2GRAY)
        if min(gray.shape[:2]) < _MIN_SIDE:
            return []
        try:
            data = self._tesseract.image_to_data(
                ink_only(gray), config="--psm 11", output_type=self._tesseract.Output.DICT, timeout=_TESS_TIMEOUT_S
            )
        except (self._tesseract.TesseractError, RuntimeError, OSError) as exc:
            logger.warning("tesseract failed: %s", exc)
            return []
        lines: dict[tuple[int, int, int], list[str]] = {}
        tops: dict[tuple[int, int, int], float] = {}
        fields = zip(data["text"], data["conf"], data["block_num"], data["par_num"], data["line_num"], data["top"],
                     strict=True)
        for raw, conf, block, par, line, top in fields:
            word = clean_word(str(raw), float(conf))
            if word:
                key = (int(block), int(par), int(line))
                lines.setdefault(key, []).append(word)
                tops.setdefault(key, float(top))
        # A lone character is kept only beside a longer word ("GATE 5"): on its own it is
        # most often a speck read as "1" or "I", even at confidence 90.
        kept = [key for key in lines if any(len(word) > 1 for word in lines[key])]
        return [" ".join(lines[key]) for key in sorted(kept, key=lambda k: tops[k])]


def _single_threaded(pytesseract: Any) -> None:
    """Run tesseract with one OpenMP thread: on 2-4 cores its threads make a busy frame
    3-4x slower (1.0 s against 0.28 s) and take the cores Whisper needs. Only the
    environment pytesseract hands to its child processes changes: OMP_THREAD_LIMIT in
    our own process would reach CTranslate2 (faster-whisper) in any process started
    from it, and with cpu_threads=2 that makes Whisper transcribe garbage."""
    module: Any = getattr(pytesseract, "pytesseract", None)
    if "OMP_THREAD_LIMIT" not in os.environ and getattr(module, "environ", None) is os.environ:
        module.environ = {**os.environ, "OMP_THREAD_LIMIT": "1"}


def ink_only(gray: Image) -> Image:
    """Dark strokes as black on white, with frames and panels removed.

    tesseract drops text nested inside a dark outline (a sign's border, a
    panel on a darker wall), so only blobs smaller than half the frame are
    kept. Light text on a dark ground is not handled.
    """
    ink = cv2.adaptiveThreshold(
        gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, _TESS_BLOCK, _TESS_CONTRAST
    )
    _, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    height, width = gray.shape
    keep = (
        (stats[:, cv2.CC_STAT_WIDTH] < width // 2)
        & (stats[:, cv2.CC_STAT_HEIGHT] < height // 2)
        & (stats[:, cv2.CC_STAT_AREA] >= 15)
    )
    keep[0] = False  # label 0 is the background
    out = np.full_like(gray, 255)
    out[keep[labels]] = 0
    return out


def clean_word(raw: str, confidence: float) -> str:
    """``raw`` without edge punctuation, or "" when it looks like OCR junk.

    A lone letter or digit ("5" in "GATE 5", "A") passes when tesseract is sure of it;
    lone lower-case letters other than "a" are almost always specks read as text."""
    word = raw.strip().strip(".,;:!?'\"()[]{}|-_")
    alnum = sum(c.isalnum() for c in word)
    if alnum == 0 or alnum < 0.8 * len(word):
        return ""
    if len(word) == 1 and not (word.isdigit() or word.isupper() or word == "a"):
        return ""
    if not (word.isupper() or word.islower() or word.istitle() or word.isdigit()):
        return ""  # "qT", "aN": case flips inside a word are almost always noise
    needed = _TESS_MIN_CONFIDENCE_SHORT if len(word) < 4 else _TESS_MIN_CONFIDENCE
    return word if confidence >= needed else ""


def _shrink(image: Image, side: int) -> Image:
    """``image`` with its longer side shrunk to ``side``; unchanged if not longer."""
    height, width = image.shape[:2]
    scale = side / max(height, width)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized: Image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return resized
