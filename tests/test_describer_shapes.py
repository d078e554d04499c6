"""Coloured shapes and which way they move, on frames drawn with OpenCV."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from perception.basic import BasicDescriber
from perception.shapes import find_shapes

WIDTH, HEIGHT = 640, 480


def wall() -> np.ndarray:
    return np.full((HEIGHT, WIDTH, 3), (150, 150, 150), np.uint8)


def with_disc(x: int, y: int = 240, colour: tuple[int, int, int] = (40, 190, 40)) -> np.ndarray:
    image = wall()
    cv2.circle(image, (x, y), 70, colour, -1, cv2.LINE_AA)
    return image


def test_forms_and_colours_largest_first() -> None:
    image = wall()
    cv2.rectangle(image, (20, 40), (300, 200), (30, 30, 210), -1)  # red, 280x160
    cv2.rectangle(image, (400, 60), (560, 220), (190, 80, 25), -1)  # blue, 160x160
    cv2.circle(image, (200, 360), 60, (40, 210, 240), -1)  # yellow disc
    cv2.line(image, (0, 470), (640, 470), (40, 190, 40), 3)  # a thin green line is no shape
    cv2.circle(image, (560, 400), 10, (200, 0, 200), -1)  # a small purple dot is too small
    layout = find_shapes(image)
    assert [s.name for s in layout.shapes] == ["red rectangle", "blue square", "yellow round object"]
    assert layout.background == "gray"
    red = layout.shapes[0]
    assert red.x == pytest.approx(160 / WIDTH, abs=0.02) and red.y == pytest.approx(120 / HEIGHT, abs=0.02)


def test_at_most_four_shapes() -> None:
    image = wall()
    for i, colour in enumerate(((30, 30, 210), (190, 80, 25), (40, 190, 40), (40, 210, 240), (200, 0, 200))):
        cv2.rectangle(image, (20 + 120 * i, 100), (110 + 120 * i, 300 - 20 * i), colour, -1)
    assert len(find_shapes(image).shapes) == 4


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        ((150, 240), (330, 240), "moving to the right"),
        ((450, 240), (300, 240), "moving to the left"),
        ((320, 120), (320, 330), "moving down"),
        ((320, 330), (330, 200), "moving up"),
    ],
)
def test_motion_between_two_calls(start: tuple[int, int], end: tuple[int, int], words: str) -> None:
    describer = BasicDescriber(text="off")
    assert describer.describe(with_disc(*start)) == "a green round object on a gray background"
    assert describer.describe(with_disc(*end)) == f"a green round object {words} on a gray background"


def test_small_shifts_and_other_colours_are_not_motion() -> None:
    describer = BasicDescriber(text="off")
    describer.describe(with_disc(300))
    assert "moving" not in describer.describe(with_disc(308))  # 1% of the width: a shaky camera
    # A red disc where the green one was is a different thing, not the green one moving.
    assert describer.describe(with_disc(500, colour=(30, 30, 210))) == "a red round object on a gray background"
