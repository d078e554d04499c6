"""Salient coloured shapes in a frame, found with OpenCV alone (no neural detector).

A shape is a large, compact, fairly uniform region of one colour: at least
``min_area`` of the frame (1.5%), not a thin strip, filled rather than a ring of
specks. It is named by its colour and rough form only ("a blue rectangle", "a green
round object", "a red object"): colour and outline never say what a thing *is*.
The even region that fills most of the frame and reaches its edges is the background.
Successive calls can follow a shape across frames (:func:`track`) to tell which way
it moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from .frames import Image

WORK_PIXELS = 160 * 120  # shapes are looked for on the frame shrunk to about this many pixels
MIN_AREA = 0.015  # share of the frame a shape must cover
MAX_SHAPES = 4
MIN_SHIFT = 0.03  # share of the frame's width (or height) a centroid must move to count as moving
_MIN_WORK_SIDE = 12  # smaller working images are too coarse to hold a shape
_MIN_SATURATION = 60  # mean saturation a coloured shape needs (0-255)
_MAX_TEXTURE = 40.0  # standard deviation of brightness inside a shape, grey levels
_MIN_FILL = 0.4  # share of its outline a shape's own pixels must fill (else it is a ring or a scatter)
_MIN_SOLIDITY = 0.85  # outline area / convex hull area: compact, not sprawling
_MAX_ELONGATION = 5.0  # longer side / shorter side of the rotated bounding box
_RECTANGLE_FILL = 0.9  # outline area / rotated bounding box area (a mug with its handle: 0.86)
_SQUARE_ASPECT = 1.15
_ROUND_IOU = 0.93  # overlap of the region with the ellipse fitted to its free edge (a ball: 0.97+, a mug: 0.87)
_ROUND_ASPECT = 1.35  # longer / shorter axis of that ellipse; up to _OVAL_ASPECT it is oval
_OVAL_ASPECT = 3.0
_BACKGROUND_SHARE = 0.3  # a region reaching three edges of the frame and covering this much is the background
_UNNAMED = ("black", "gray")  # shadows, walls and print: never called shapes
_ACHROMATIC = ("black", "gray", "white")


@dataclass(frozen=True, slots=True)
class Shape:
    """One salient region; positions and sizes are shares of the frame's width, height and area."""

    colour: str
    form: str  # "round object", "oval object", "rectangle", "square" or "object"
    area: float
    x: float  # centroid
    y: float

    @property
    def name(self) -> str:
        return f"{self.colour} {self.form}"


@dataclass(frozen=True, slots=True)
class Layout:
    shapes: tuple[Shape, ...]  # largest first
    background: str  # the colour of the background, "" when there is none


def colour_labels(image: Image) -> tuple[npt.NDArray[np.int8], tuple[str, ...]]:
    """A colour name index per pixel of a BGR image, and the names; the first matching rule wins."""
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV).astype(np.int32)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    # OpenCV hue runs 0..179.
    rules: list[tuple[str, npt.NDArray[np.bool_]]] = [
        ("black", v < 50),
        ("white", (s < 40) & (v >= 190)),
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
    labels = np.full(h.shape, -1, np.int8)
    for index, (_, mask) in enumerate(rules):
        labels[(labels < 0) & mask] = index
    return labels, tuple(name for name, _ in rules)


def find_shapes(image: Image, *, min_area: float = MIN_AREA, max_shapes: int = MAX_SHAPES) -> Layout:
    """The salient shapes of a BGR frame, largest first, and its background colour."""
    small = _work_image(image)
    height, width = small.shape[:2]
    if min(height, width) < _MIN_WORK_SIDE:
        return Layout((), "")
    small = cv2.medianBlur(small, 3)  # fine texture (wood grain, noise) takes its surroundings' colour
    labels, names = colour_labels(small)
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    total = float(height * width)
    shapes: list[Shape] = []
    background, background_share = "", 0.0
    for index, colour in enumerate(names):
        mask = (labels == index).astype(np.uint8)
        if mask.sum() < min_area * total:
            continue
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
        count, components, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
        for label in range(1, count):
            area = int(stats[label, cv2.CC_STAT_AREA])
            share = area / total
            if share < min_area:
                continue
            region = (components == label).astype(np.uint8)
            even = _uniform(hsv, region & (labels == index), colour)
            if _edges_touched(stats[label], width, height) >= 3 and share >= _BACKGROUND_SHARE:
                if even and share > background_share:
                    background, background_share = colour, share
                continue
            if colour in _UNNAMED or not even:
                continue
            form = _form(region, area)
            if form:
                x, y = centroids[label]
                shapes.append(Shape(colour, form, share, float(x) / width, float(y) / height))
    shapes.sort(key=lambda s: s.area, reverse=True)
    return Layout(tuple(shapes[:max_shapes]), background)


def track(previous: Sequence[Shape], current: Sequence[Shape], *, min_shift: float = MIN_SHIFT) -> list[str]:
    """For each current shape, which way it moved since ``previous`` ("" when it did not or is new).

    A shape is matched with the nearest earlier shape of the same colour and a similar
    size (half to twice); each earlier shape matches once."""
    unused = list(previous)
    moves: list[str] = []
    for shape in current:
        candidates = [p for p in unused if p.colour == shape.colour and 0.5 <= shape.area / p.area <= 2.0]
        if not candidates:
            moves.append("")
            continue
        match = min(candidates, key=lambda p: (p.x - shape.x) ** 2 + (p.y - shape.y) ** 2)
        unused.remove(match)
        moves.append(direction(shape.x - match.x, shape.y - match.y, min_shift=min_shift))
    return moves


def direction(dx: float, dy: float, *, min_shift: float = MIN_SHIFT) -> str:
    """Words for a move by ``dx``, ``dy`` (shares of the frame; y grows downwards)."""
    if max(abs(dx), abs(dy)) < min_shift:
        return ""
    if abs(dx) >= abs(dy):
        # The direction once, as where it is going: "moving left to right" names both sides, and a
        # small language model then answers "where is it going?" with either.
        return "moving to the right" if dx > 0 else "moving to the left"
    return "moving down" if dy > 0 else "moving up"


def _work_image(image: Image) -> Image:
    height, width = image.shape[:2]
    scale = (WORK_PIXELS / float(height * width)) ** 0.5
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small: Image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return small


def _edges_touched(stat: npt.NDArray[np.int32], width: int, height: int) -> int:
    left, top = int(stat[cv2.CC_STAT_LEFT]), int(stat[cv2.CC_STAT_TOP])
    right, bottom = left + int(stat[cv2.CC_STAT_WIDTH]), top + int(stat[cv2.CC_STAT_HEIGHT])
    return (left == 0) + (top == 0) + (right == width) + (bottom == height)


def _uniform(hsv: npt.NDArray[np.uint8], region: npt.NDArray[np.uint8], colour: str) -> bool:
    """Of one even colour: not strongly textured, and saturated enough if it is a hue."""
    inside = region.astype(bool)
    if colour not in _ACHROMATIC and float(np.mean(hsv[..., 1][inside])) < _MIN_SATURATION:
        return False
    return float(np.std(hsv[..., 2][inside])) <= _MAX_TEXTURE


def _form(region: npt.NDArray[np.uint8], area: int) -> str:
    """A rough form (see :attr:`Shape.form`); "" when the region is not compact."""
    contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = max(contours, key=cv2.contourArea)
    filled = np.zeros_like(region)
    cv2.drawContours(filled, [outline], -1, 1, thickness=-1)
    # Ratios of outlines use polygon areas throughout; pixel counts run larger by half the perimeter.
    outline_area = float(cv2.contourArea(outline))
    hull_area = float(cv2.contourArea(cv2.convexHull(outline)))
    (_, _), (box_w, box_h), _ = cv2.minAreaRect(outline)
    long_side, short_side = max(box_w, box_h), min(box_w, box_h)
    if outline_area <= 0 or short_side < 1 or long_side / short_side > _MAX_ELONGATION:
        return ""
    if area / float(filled.sum()) < _MIN_FILL or outline_area / hull_area < _MIN_SOLIDITY:
        return ""
    if outline_area / (box_w * box_h) >= _RECTANGLE_FILL:
        return "square" if long_side / short_side <= _SQUARE_ASPECT else "rectangle"
    return _round(outline, filled) or "object"


def _round(outline: npt.NDArray[np.int32], filled: npt.NDArray[np.uint8]) -> str:
    """"round object" or "oval object" when the region matches the ellipse fitted to the part
    of its edge inside the frame (so a ball cut off by the frame's edge is still round), else ""."""
    height, width = filled.shape
    points = outline.reshape(-1, 2)
    inner = (points[:, 0] > 0) & (points[:, 0] < width - 1) & (points[:, 1] > 0) & (points[:, 1] < height - 1)
    free = points[inner]
    if len(free) < 8:
        return ""
    (cx, cy), (axis_a, axis_b), angle = cv2.fitEllipse(free.reshape(-1, 1, 2).astype(np.float32))
    if min(axis_a, axis_b) < 1 or max(axis_a, axis_b) / min(axis_a, axis_b) > _OVAL_ASPECT:
        return ""
    ellipse = np.zeros_like(filled)
    centre = (round(cx), round(cy))
    axes = (max(1, round(axis_a / 2)), max(1, round(axis_b / 2)))
    cv2.ellipse(ellipse, centre, axes, angle, 0, 360, 1, thickness=-1)
    union = float(np.count_nonzero(ellipse | filled))
    if union <= 0 or float(np.count_nonzero(ellipse & filled)) / union < _ROUND_IOU:
        return ""
    return "round object" if max(axis_a, axis_b) / min(axis_a, axis_b) <= _ROUND_ASPECT else "oval object"
