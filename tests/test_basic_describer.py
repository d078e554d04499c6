"""BasicDescriber on real frames: the bundled sample session, real photos, odd frame sizes."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data as photos

from perception.basic import BasicDescriber, render
from perception.people import count_people, people_detector
from perception.scene import SceneDetails, SeenShape
from perception.shapes import Shape, colour_labels

VIDEO = Path(__file__).resolve().parents[1] / "examples" / "sessions" / "desk" / "video.mp4"
FPS = 10
# Scene times in seconds, each with the frame one second earlier (the sampling interval) for motion.
SECONDS = {"desk": 3.0, "sign": 12.0, "ball": 22.0, "ball later": 25.0}

Frame = np.ndarray

# Every word a description may use outside the text it reads: colours, rough forms, places,
# counts. A word outside it would be a guess at what a thing is ("mug", "ball", "cat").
_, COLOURS = colour_labels(np.zeros((1, 1, 3), np.uint8))
VOCABULARY = {
    *COLOURS, "object", "objects", "round", "oval", "rectangle", "rectangles", "square", "squares",
    "a", "an", "and", "on", "in", "background", "scene", "dark", "very", "plain", "view", "mostly",
    "moving", "left", "right", "to", "the", "middle", "up", "down", "face", "faces", "person", "people", "no", "or",
    "nothing", "i", "can", "name", "readable", "text", "two", "three", "four", "is",
}


def words_outside_vocabulary(line: str) -> set[str]:
    """Words of ``line`` (without what follows ``text:``) that the describer has no business saying."""
    seen = re.sub(r"text: [^;]*", "text", line.lower())
    return set(re.findall(r"[a-z]+", seen)) - VOCABULARY


@pytest.fixture(scope="module")
def frames() -> dict[float, Frame]:
    """The session's first frame, and its frames at each scene time and one second before it."""
    if not VIDEO.exists():
        pytest.fail(f"{VIDEO} is missing; run scripts/make_sample_session.py")
    wanted = {0} | {round((s - d) * FPS) for s in SECONDS.values() for d in (0.0, 1.0)}
    capture = cv2.VideoCapture(str(VIDEO))
    found: dict[float, Frame] = {}
    index = 0
    try:
        while len(found) < len(wanted):
            ok, frame = capture.read()
            if not ok:
                break
            if index in wanted:
                found[index / FPS] = frame
            index += 1
    finally:
        capture.release()
    assert len(found) == len(wanted), "video ended early"
    return found


@pytest.fixture(scope="module")
def describer() -> BasicDescriber:
    """One describer with RapidOCR for the module; tests that look at motion make their own."""
    return BasicDescriber()


def scene_line(describer: BasicDescriber, frames: dict[float, Frame], scene: str, question: str | None = None) -> str:
    """The line for a scene's frame, after the describer saw the frame one second before it."""
    t = SECONDS[scene]
    describer.describe(frames[t - 1.0])
    return describer.describe(frames[t], question)


def test_session_scenes_are_named_by_what_is_in_them(describer: BasicDescriber, frames: dict[float, Frame]) -> None:
    desk = scene_line(describer, frames, "desk")
    sign = scene_line(describer, frames, "sign")
    ball = scene_line(describer, frames, "ball")
    assert "a blue object" in desk and "a white rectangle" in desk and "brown background" in desk, desk
    assert sign.endswith("; text: OPEN"), sign
    assert "a red rectangle" in sign and "a white rectangle" in sign, sign
    assert ball.startswith("a green round object moving to the right") and ball.endswith("in a dark scene"), ball
    assert "text:" not in desk and "text:" not in ball
    for line in (desk, sign, ball):
        assert not words_outside_vocabulary(line), line
        assert "green" not in line or line == ball


def test_a_pencil_on_paper_is_not_read_as_text(describer: BasicDescriber, frames: dict[float, Frame]) -> None:
    # RapidOCR reads the first frame's paper and pencil as "一" (one) at 0.98: a lone stroke glyph.
    line = describer.describe(frames[0.0])
    assert "text:" not in line and line.startswith("a blue object and a white rectangle"), line


def test_the_paper_slides_and_the_mug_holds_still(frames: dict[float, Frame]) -> None:
    describer = BasicDescriber(text="off")
    line = scene_line(describer, frames, "desk")
    assert "a white rectangle moving to the right" in line, line  # the paper slides 30 px/s
    assert line.startswith("a blue object and"), line
    first = BasicDescriber(text="off").describe(frames[SECONDS["desk"]])
    assert "moving" not in first, first  # nothing to compare with yet


def test_ball_keeps_rolling_to_the_right(frames: dict[float, Frame]) -> None:
    describer = BasicDescriber(text="off")
    line = scene_line(describer, frames, "ball later")
    assert line == "a green round object moving to the right in a dark scene", line
    # The same frame again (the question-aware look at the frame just described) keeps its motion:
    # compared with itself, the ball would seem to hold still.
    assert describer.describe(frames[SECONDS["ball later"]], "Where is it going?") == line
    # A frame after a held-still one: nothing moved between the two.
    assert describer.describe(frames[SECONDS["ball later"]].copy()) == line
    still = BasicDescriber(text="off")
    still.describe(frames[SECONDS["ball later"]])
    assert still.describe(frames[SECONDS["ball later"]] + 0) == "a green round object in a dark scene"


def test_question_about_text_puts_text_first(describer: BasicDescriber, frames: dict[float, Frame]) -> None:
    read = "Can you read the sign for me?"
    assert scene_line(describer, frames, "sign", read).startswith("text: OPEN; a red rectangle")
    assert scene_line(describer, frames, "desk", "What does the sign say?").startswith("no readable text; a blue")
    assert not scene_line(describer, frames, "desk", "What is in front of you?").startswith("no readable")


def test_question_about_people_counts_zero_first(describer: BasicDescriber, frames: dict[float, Frame]) -> None:
    line = scene_line(describer, frames, "desk", "Who is there?")
    assert line.startswith("nobody in view; a blue object"), line


@pytest.mark.parametrize(
    ("photo", "must", "must_not"),
    [
        ("astronaut", {"a face"}, {"text:"}),  # a portrait: one frontal face
        ("coffee", set(), {"face", "person", "text:"}),  # a cup of coffee on a wooden table
        ("chelsea", set(), {"face", "person", "text:"}),  # a cat, close up
    ],
)
def test_real_photos_are_described_without_false_claims(
    describer: BasicDescriber, photo: str, must: set[str], must_not: set[str]
) -> None:
    image = np.ascontiguousarray(cv2.cvtColor(getattr(photos, photo)(), cv2.COLOR_RGB2BGR))
    line = describer.describe(image)
    assert line and "\n" not in line
    assert all(part in line for part in must), line
    assert not any(part in line for part in must_not), line
    assert not words_outside_vocabulary(line), line


@pytest.mark.parametrize(("height", "width"), [(1, 1), (2, 2), (90, 160), (480, 1920), (7, 300), (300, 7)])
def test_odd_frame_sizes_give_a_sensible_line(describer: BasicDescriber, height: int, width: int) -> None:
    black = np.zeros((height, width, 3), np.uint8)
    noise = np.random.default_rng(height * width).integers(0, 256, (height, width, 3), dtype=np.uint8)
    assert describer.describe(black) == "a plain black view"
    assert describer.describe(np.full_like(black, 128)) == "a plain gray view"
    line = describer.describe(noise)
    assert line and "text:" not in line and not words_outside_vocabulary(line), line
    if min(height, width) >= 90:  # big enough to hold a shape: a red block on white, a third of the frame
        sign = np.full_like(black, 255)
        sign[height // 4 : height * 3 // 4, width // 4 : width * 3 // 4] = (30, 30, 210)
        assert describer.describe(sign).startswith("a red rectangle"), describer.describe(sign)


def test_people_are_not_looked_for_in_frames_too_short_for_the_detector() -> None:
    # OpenCV aborts the whole process when HOG gets an image shorter than its 128-px window.
    hog = people_detector()
    assert count_people(hog, np.zeros((80, 320, 3), np.uint8)) == 0
    assert count_people(hog, np.zeros((200, 40, 3), np.uint8)) == 0
    assert count_people(hog, np.zeros((128, 64, 3), np.uint8)) == 0


def test_rejects_frames_that_are_not_bgr() -> None:
    describer = BasicDescriber(text="off")
    with pytest.raises(ValueError, match="BGR"):
        describer.describe(np.zeros((480, 640), np.uint8))
    with pytest.raises(ValueError, match="BGR"):
        describer.describe(np.zeros((0, 0, 3), np.uint8))


def test_detected_objects_come_first() -> None:
    seen: list[tuple[int, ...]] = []

    def detector(image: np.ndarray) -> list[str]:
        seen.append(image.shape)
        return ["cup", "person", "cup", " "]

    describer = BasicDescriber(text="off", objects=detector)
    image = np.full((240, 320, 3), 255, np.uint8)
    cv2.circle(image, (160, 120), 60, (40, 190, 40), -1)
    assert describer.describe(image) == "two cups, a person and a green round object on a white background"
    assert seen == [(240, 320, 3)]
    counted = BasicDescriber(text="off", objects=lambda _image: ["two people", "a cup"])
    assert counted.describe(image) == "two people, a cup and a green round object on a white background"
    # A detector that counts people replaces HOG's count; faces are still said.
    assert render(details(objects=("a person",), people=2, faces=1)) == "a person and a face"


def shape(colour: str, form: str, motion: str = "") -> SeenShape:
    return SeenShape(Shape(colour, form, area=0.1, x=0.5, y=0.5), motion)


def details(**changes: object) -> SceneDetails:
    base: dict[str, object] = {"objects": (), "faces": 0, "people": 0, "shapes": (), "background": "",
                               "light": "", "plain": "", "text": ()}
    return SceneDetails(**{**base, **changes})  # type: ignore[arg-type]


def test_render_counts_alike_things_and_keeps_text_last() -> None:
    two = (shape("white", "rectangle"), shape("white", "rectangle"), shape("orange", "round object", "moving up"))
    assert render(details(shapes=two, background="gray", faces=1, text=("GATE 5", "EXIT"))) == (
        "a face, two white rectangles and an orange round object moving up on a gray background; text: GATE 5 / EXIT"
    )
    assert render(details(people=3, light="dark")) == "three people in a dark scene"
    assert render(details(light="very dark")) == "a very dark scene"
    assert render(details(background="brown")) == "nothing I can name; the view is mostly brown"
    assert render(details()) == "nothing I can name"
    assert render(details(), "What does it say?") == "no readable text"
    assert render(details(faces=2), "Is anyone there?") == "two faces"
