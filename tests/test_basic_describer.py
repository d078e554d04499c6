"""BasicDescriber on real frames of the bundled sample session."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from perception.basic import BasicDescriber, SceneDetails, render

VIDEO = Path(__file__).resolve().parents[1] / "examples" / "sessions" / "desk" / "video.mp4"
FPS = 10
SCENE_SECONDS = {"desk": 5.0, "sign": 15.0, "ball": 25.0}
BRIGHTNESS_ORDER = ("dark", "dim", "bright")

needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract binary not installed")

Frame = np.ndarray


@pytest.fixture(scope="module")
def frames() -> dict[int, Frame]:
    """Frames just before and at 5 s, 15 s and 25 s, keyed by frame index."""
    if not VIDEO.exists():
        pytest.fail(f"{VIDEO} is missing; run scripts/make_sample_session.py")
    wanted = {round(s * FPS) + d for s in SCENE_SECONDS.values() for d in (-1, 0)}
    capture = cv2.VideoCapture(str(VIDEO))
    found: dict[int, Frame] = {}
    index = 0
    try:
        while len(found) < len(wanted):
            ok, frame = capture.read()
            if not ok:
                break
            if index in wanted:
                found[index] = frame
            index += 1
    finally:
        capture.release()
    assert sorted(found) == sorted(wanted), "video ended early"
    return found


def scene_details(describer: BasicDescriber, frames: dict[int, Frame], scene: str) -> SceneDetails:
    """Details of a scene's frame, after showing the describer the frame before it."""
    index = round(SCENE_SECONDS[scene] * FPS)
    describer.describe_details(frames[index - 1])
    return describer.describe_details(frames[index])


def scene_text(describer: BasicDescriber, frames: dict[int, Frame], scene: str) -> str:
    index = round(SCENE_SECONDS[scene] * FPS)
    describer.describe(frames[index - 1])
    return describer.describe(frames[index])


def test_scenes_are_described_differently(frames: dict[int, Frame]) -> None:
    describer = BasicDescriber(use_tesseract=False)
    texts = {scene: scene_text(describer, frames, scene) for scene in SCENE_SECONDS}
    assert len(set(texts.values())) == 3, texts

    details = {scene: scene_details(describer, frames, scene) for scene in SCENE_SECONDS}
    assert {"brown", "blue"} <= set(details["desk"].colours)
    assert "red" in details["sign"].colours
    assert "green" in details["ball"].colours
    assert "green" not in details["desk"].colours + details["sign"].colours


def test_dark_scene_is_darker_than_desk(frames: dict[int, Frame]) -> None:
    describer = BasicDescriber(use_tesseract=False)
    desk = scene_details(describer, frames, "desk")
    ball = scene_details(describer, frames, "ball")
    assert BRIGHTNESS_ORDER.index(ball.brightness) < BRIGHTNESS_ORDER.index(desk.brightness)
    assert ball.brightness == "dark"
    assert scene_text(describer, frames, "ball").startswith("A dark scene")


def test_motion_follows_the_previous_frame(frames: dict[int, Frame]) -> None:
    describer = BasicDescriber(use_tesseract=False)
    ball = frames[round(SCENE_SECONDS["ball"] * FPS)]
    assert describer.describe_details(ball).motion == "unknown"
    assert describer.describe_details(ball).motion == "none"
    assert describer.describe(ball).endswith("No motion.")
    # The ball rolls between consecutive frames; the sign holds still.
    assert scene_details(describer, frames, "ball").motion in {"some", "a lot"}
    assert scene_details(describer, frames, "sign").motion == "none"


def test_uniform_image_has_no_faces_people_or_text() -> None:
    describer = BasicDescriber(people=True)
    details = describer.describe_details(np.full((480, 640, 3), 128, np.uint8))
    assert details.faces == 0
    assert details.people == 0
    assert details.text == ""
    assert details.colours == ("gray",)
    assert details.brightness == "bright"


def test_question_about_people_mentions_zero_counts() -> None:
    details = SceneDetails(brightness="dim", colours=("gray",), faces=0, people=0, motion="none", text="")
    assert render(details) == "A dim scene, mostly gray. No motion."
    assert (
        render(details, "Who is there?") == "A dim scene, mostly gray. No faces and no people are visible. No motion."
    )
    one = SceneDetails(brightness="bright", colours=("blue", "white"), faces=1, people=0, motion="some", text="")
    assert render(one) == "A bright scene, mostly blue and white. One face is visible. Some motion."


def test_rejects_frames_that_are_not_bgr() -> None:
    describer = BasicDescriber(use_tesseract=False)
    with pytest.raises(ValueError, match="BGR"):
        describer.describe(np.zeros((480, 640), np.uint8))


@needs_tesseract
def test_sign_is_read(frames: dict[int, Frame]) -> None:
    pytest.importorskip("pytesseract")
    describer = BasicDescriber(use_tesseract=True)
    assert describer.uses_tesseract
    assert scene_details(describer, frames, "sign").text == "OPEN"
    assert 'Text reads: "OPEN".' in scene_text(describer, frames, "sign")
    # No junk words from the scenes without writing, nor from pure texture.
    noise = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    assert describer.describe_details(cv2.GaussianBlur(noise, (7, 7), 0)).text == ""
    assert scene_details(describer, frames, "desk").text == ""
    assert scene_details(describer, frames, "ball").text == ""


@needs_tesseract
def test_reading_question_puts_text_first(frames: dict[int, Frame]) -> None:
    pytest.importorskip("pytesseract")
    describer = BasicDescriber(use_tesseract=True)
    sign = frames[round(SCENE_SECONDS["sign"] * FPS)]
    desk = frames[round(SCENE_SECONDS["desk"] * FPS)]
    assert describer.describe(sign, "Can you read the sign for me?").startswith('Text reads: "OPEN".')
    assert describer.describe(desk, "What does the sign say?").startswith("No readable text is visible.")
    assert not describer.describe(desk, "What is in front of you?").startswith("No readable")
