"""Offline scene describer built on OpenCV (and tesseract, when present).

`BasicDescriber.describe(frame, question=None)` turns one BGR frame into a
short plain-English description: brightness, dominant colours, faces, people,
motion since the previous frame this describer saw, and any readable text.
It is synchronous and CPU-bound; callers run it in a thread.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from cv2.data import haarcascades

from assistant.errors import ConfigError, ModelError

logger = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]

DETECT_WIDTH = 320  # faces and people are looked for at this width
_MOTION_SIZE = (320, 240)
_MOTION_PIXEL_DELTA = 20  # grey levels a pixel must change by to count as moving
_MOTION_SOME = 0.0015  # share of moving pixels above which there is "some" motion
_MOTION_A_LOT = 0.05
_COLOUR_SHARE = 0.08  # a colour needs this share of the frame to be named
_OCR_MIN_CONFIDENCE = 70.0  # tesseract's 0-100 word confidence; clean print scores 90+
_OCR_MIN_CONFIDENCE_SHORT = 85.0  # for words under four characters, where junk is most common
_OCR_BLOCK = 41  # adaptive-threshold window; wider than the thickest stroke we expect
_OCR_CONTRAST = 15  # grey levels ink must lie below its neighbourhood
_OCR_MAX_WORDS = 8
_OCR_MAX_WIDTH = 1280  # larger frames are shrunk before OCR
_OCR_TIMEOUT_S = 5.0
_TEXT_WORDS = frozenset({"read", "reading", "sign", "signs", "text", "written", "say", "says", "label"})
_PEOPLE_WORDS = frozenset({"who", "person", "people", "face", "faces", "anyone", "someone", "somebody"})
_NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass(frozen=True, slots=True)
class SceneDetails:
    """What `BasicDescriber` measured in one frame."""

    brightness: str  # "dark", "dim" or "bright"
    colours: tuple[str, ...]  # one to three colour names, most common first
    faces: int
    people: int
    motion: str  # "none", "some", "a lot", or "unknown" for the first frame
    text: str  # words read by OCR, space-separated; "" when none or OCR is off


class BasicDescriber:
    """Describes frames with classic computer vision; no model downloads.

    Calls are serialised: the motion estimate compares each frame with the one
    before it, so one describer should watch one camera.
    """

    name: str = "basic"

    def __init__(self, *, use_tesseract: bool | None = None, people: bool = True) -> None:
        self._tesseract: Any = None
        if use_tesseract is not False:
            self._tesseract = _load_tesseract(required=use_tesseract is True)
        self._faces = face_cascade()
        self._hog = people_detector() if people else None
        self._lock = threading.Lock()
        self._previous: Image | None = None

    @property
    def uses_tesseract(self) -> bool:
        return self._tesseract is not None

    def describe(self, image: Image, question: str | None = None) -> str:
        """One or two short sentences about `image`, fit to be spoken."""
        return render(self.describe_details(image), question)

    def describe_details(self, image: Image) -> SceneDetails:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected a BGR uint8 frame, got {image.dtype} {image.shape}")
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        small = resize_to_width(image, DETECT_WIDTH)
        with self._lock:
            details = SceneDetails(
                brightness=_brightness(gray),
                colours=_colours(image),
                faces=count_faces(self._faces, cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)),
                people=count_people(self._hog, small) if self._hog is not None else 0,
                motion=self._motion(gray),
                text=self._read_text(resize_to_width(gray, _OCR_MAX_WIDTH)),
            )
        logger.debug("scene details: %s", details)
        return details

    def _motion(self, gray: Image) -> str:
        current = cv2.GaussianBlur(cv2.resize(gray, _MOTION_SIZE, interpolation=cv2.INTER_AREA), (5, 5), 0)
        previous, self._previous = self._previous, current
        if previous is None:
            return "unknown"
        changed = float(np.mean(cv2.absdiff(current, previous) > _MOTION_PIXEL_DELTA))
        logger.debug("moving share %.4f", changed)
        if changed < _MOTION_SOME:
            return "none"
        return "some" if changed < _MOTION_A_LOT else "a lot"

    def _read_text(self, gray: Image) -> str:
        if self._tesseract is None:
            return ""
        try:
            data = self._tesseract.image_to_data(
                _ink_only(gray),
                config="--psm 11",
                output_type=self._tesseract.Output.DICT,
                timeout=_OCR_TIMEOUT_S,
            )
        except (self._tesseract.TesseractError, RuntimeError, OSError) as exc:
            logger.warning("tesseract failed: %s", exc)
            return ""
        words = [_clean_word(str(raw), float(conf)) for raw, conf in zip(data["text"], data["conf"], strict=True)]
        return " ".join([word for word in words if word][:_OCR_MAX_WORDS])


def face_cascade() -> cv2.CascadeClassifier:
    """OpenCV's Haar frontal-face cascade; :class:`ModelError` if it does not load."""
    path = haarcascades + "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise ModelError(f"could not load the Haar cascade {path}")
    return cascade


def people_detector() -> cv2.HOGDescriptor:
    """OpenCV's HOG people detector (upright, whole bodies)."""
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor.getDefaultPeopleDetector())
    return hog


def count_faces(cascade: cv2.CascadeClassifier, gray: Image) -> int:
    """Frontal faces in a grayscale image (best at :data:`DETECT_WIDTH`). Not thread-safe per cascade."""
    faces = cascade.detectMultiScale(cv2.equalizeHist(gray), scaleFactor=1.1, minNeighbors=6, minSize=(24, 24))
    return len(faces)


def count_people(hog: cv2.HOGDescriptor, image: Image) -> int:
    """Confident HOG detections of people in a BGR image (best at :data:`DETECT_WIDTH`)."""
    boxes, weights = hog.detectMultiScale(image, winStride=(8, 8), padding=(8, 8), scale=1.1)
    return int(sum(1 for w in np.ravel(weights) if w > 0.5)) if len(boxes) else 0


def _load_tesseract(*, required: bool) -> Any:
    """The pytesseract module, or None when tesseract is missing and not `required`."""
    problem = None if shutil.which("tesseract") else "no `tesseract` binary is on PATH"
    if problem is None:
        try:
            import pytesseract
        except ImportError as exc:
            problem = f"the pytesseract package is not installed ({exc})"
        else:
            _single_threaded(pytesseract)
            return pytesseract
    if required:
        raise ConfigError(f"describer: use_tesseract is on but {problem}")
    logger.info("describer: reading text is off, %s", problem)
    return None


def _single_threaded(pytesseract: Any) -> None:
    """Run tesseract with one OpenMP thread: on 2-4 cores its threads make a busy frame
    3-4x slower (1.0 s against 0.28 s) and take the cores Whisper needs. Only the
    environment pytesseract hands to its child processes changes: OMP_THREAD_LIMIT in
    our own process would reach CTranslate2 (faster-whisper) in any process started
    from it, and with cpu_threads=2 that makes Whisper transcribe garbage."""
    module: Any = getattr(pytesseract, "pytesseract", None)
    if "OMP_THREAD_LIMIT" not in os.environ and getattr(module, "environ", None) is os.environ:
        module.environ = {**os.environ, "OMP_THREAD_LIMIT": "1"}


def render(details: SceneDetails, question: str | None = None) -> str:
    """Turns `SceneDetails` into plain sentences; `question` changes emphasis only."""
    asked = set(re.findall(r"[a-z]+", (question or "").lower()))
    wants_text = bool(asked & _TEXT_WORDS)
    wants_people = bool(asked & _PEOPLE_WORDS)
    sentences = [f"A {details.brightness} scene, mostly {_join(details.colours)}."]
    counted = [
        _count(n, singular, plural)
        for n, singular, plural in ((details.faces, "face", "faces"), (details.people, "person", "people"))
        if n or wants_people
    ]
    if counted:
        verb = "is" if len(counted) == 1 and counted[0].startswith("one ") else "are"
        sentences.append(f"{_join(tuple(counted)).capitalize()} {verb} visible.")
    if details.text:
        text = f'Text reads: "{details.text}".'
        sentences.insert(0 if wants_text else len(sentences), text)
    elif wants_text:
        sentences.insert(0, "No readable text is visible.")
    motion = {"none": "No motion.", "some": "Some motion.", "a lot": "A lot of motion."}
    if details.motion in motion:
        sentences.append(motion[details.motion])
    return " ".join(sentences)


def _brightness(gray: Image) -> str:
    mean = float(np.mean(gray))
    if mean < 60:
        return "dark"
    return "dim" if mean < 110 else "bright"


def _colours(image: Image) -> tuple[str, ...]:
    small = cv2.resize(image, (64, 48), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV).reshape(-1, 3).astype(np.int32)
    h, s, v = hsv[:, 0], hsv[:, 1], hsv[:, 2]
    # OpenCV hue runs 0..179; the first matching rule names the pixel.
    rules: list[tuple[str, npt.NDArray[np.bool_]]] = [
        ("black", v < 50),
        ("white", (s < 40) & (v >= 200)),
        ("gray", s < 40),
        ("brown", (h >= 5) & (h < 25) & ((v < 190) | (s < 150))),
        ("pink", ((h >= 150) & (h < 170)) | (((h < 8) | (h >= 170)) & (s < 120) & (v >= 170))),
        ("red", (h < 8) | (h >= 170)),
        ("orange", h < 20),
        ("yellow", h < 34),
        ("green", h < 80),
        ("cyan", h < 100),
        ("blue", h < 130),
        ("purple", h < 150),
    ]
    unnamed = np.ones(h.shape, dtype=bool)
    shares: dict[str, float] = {}
    for name, mask in rules:
        hit = mask & unnamed
        shares[name] = float(np.mean(hit))
        unnamed &= ~hit
    ranked = sorted(shares.items(), key=lambda kv: kv[1], reverse=True)
    named = tuple(name for name, share in ranked[:3] if share >= _COLOUR_SHARE)
    return named or (ranked[0][0],)


def _ink_only(gray: Image) -> Image:
    """Dark strokes as black on white, with frames and panels removed.

    tesseract drops text nested inside a dark outline (a sign's border, a
    panel on a darker wall), so only blobs smaller than half the frame are
    kept. Light text on a dark ground is not handled.
    """
    ink = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, _OCR_BLOCK, _OCR_CONTRAST)
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


def _clean_word(raw: str, confidence: float) -> str:
    """`raw` without edge punctuation, or "" when it looks like OCR junk."""
    word = raw.strip().strip(".,;:!?'\"()[]{}|-_")
    alnum = sum(c.isalnum() for c in word)
    if alnum < 2 or alnum < 0.8 * len(word):
        return ""
    if not (word.isupper() or word.islower() or word.istitle() or word.isdigit()):
        return ""  # "qT", "aN": case flips inside a word are almost always noise
    needed = _OCR_MIN_CONFIDENCE_SHORT if len(word) < 4 else _OCR_MIN_CONFIDENCE
    return word if confidence >= needed else ""


def resize_to_width(image: Image, width: int) -> Image:
    """``image`` shrunk to ``width`` pixels wide, keeping its aspect; unchanged if not wider."""
    if image.shape[1] <= width:
        return image
    height = round(image.shape[0] * width / image.shape[1])
    resized: Image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return resized


def _count(n: int, singular: str, plural: str) -> str:
    number = _NUMBER_WORDS[n] if n < len(_NUMBER_WORDS) else str(n)
    return f"{number} {singular if n == 1 else plural}"


def _join(items: tuple[str, ...]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
