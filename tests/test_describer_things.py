"""Placing detections (perception.things): one guess per object, what stands on a table, left and
right, a thing's colour; and the default describer's line on real photos side by side."""

from __future__ import annotations

import numpy as np
import pytest

from perception.basic import render
from perception.basic_zh import render_zh
from perception.objects import Detection
from perception.registry import make_describer
from perception.scene import SceneDetails, SeenShape
from perception.settings import BasicDescriberSettings
from perception.shapes import Shape
from perception.things import Thing, one_guess_each, place

from .test_describer_objects import photo


def region(colour: str, x: float, y: float, area: float = 0.05) -> Shape:
    return Shape(colour, "object", area, x, y)


def test_two_classes_on_one_box_are_one_guess_the_surer() -> None:
    cup = Detection("cup", 0.98, (0.27, 0.03, 0.72, 0.6))
    bowl = Detection("bowl", 0.62, (0.25, 0.03, 0.71, 0.63))  # the saucer under it, found as a bowl
    other_cup = Detection("cup", 0.7, (0.3, 0.05, 0.7, 0.6))  # the same class: the detector's own NMS decides
    assert [d.label for d in one_guess_each([bowl, cup])] == ["cup"]
    assert [d.label for d in one_guess_each([bowl, other_cup, cup])] == ["cup", "cup"]


def test_what_stands_in_a_table_is_on_it_and_its_parts_are_not_things() -> None:
    table = Detection("dining table", 0.76, (0.01, 0.0, 0.99, 1.0))
    cup = Detection("cup", 0.98, (0.27, 0.03, 0.72, 0.6))
    coffee = region("orange", 0.5, 0.3, area=0.05)  # inside the cup's box: part of it
    paper = region("white", 0.1, 0.8)  # on the table, beside the cup
    things, rest = place([table, cup], [coffee, paper])
    assert things == (Thing("cup", on="dining table"),)
    assert rest == (1,)


def test_left_and_right_are_said_when_two_things_are_named() -> None:
    cat = Detection("cat", 0.8, (0.0, 0.0, 0.49, 0.98))
    cup = Detection("cup", 0.9, (0.5, 0.03, 0.96, 0.67))
    things, _ = place([cat, cup], [])
    assert things == (Thing("cup", where="right"), Thing("cat", where="left"))
    alone, _ = place([Detection("cat", 0.8, (0.0, 0.0, 0.9, 0.98))], [])
    assert alone == (Thing("cat", fills_view=True),)  # filling the view: "on the left" would say nothing useful,
    # and the count is left open (two cats side by side were one box)
    people = [Detection("person", 0.8, (0.0, 0.0, 0.4, 1.0)), Detection("person", 0.7, (0.6, 0.0, 1.0, 1.0))]
    two, _ = place([*people, cup], [])
    assert Thing("person", count=2) in two  # apart from each other: no one side for both


def test_a_region_that_fills_a_box_gives_the_thing_its_colour() -> None:
    mug = Detection("cup", 0.9, (0.3, 0.3, 0.65, 0.8))  # in the middle: not placed
    things, rest = place([mug], [region("blue", 0.47, 0.55, area=0.12), region("white", 0.2, 0.6)])
    assert things == (Thing("cup", colour="blue"),) and rest == (1,)
    small, _ = place([mug], [region("red", 0.47, 0.55, area=0.02)])  # a patch on it: no colour for the whole
    assert small == (Thing("cup"),)


def details(**changes: object) -> SceneDetails:
    base: dict[str, object] = {"objects": (), "faces": 0, "people": 0, "shapes": (), "background": "",
                               "light": "", "plain": "", "text": ()}
    return SceneDetails(**{**base, **changes})  # type: ignore[arg-type]


def test_placed_things_in_words_in_english_and_chinese() -> None:
    on_table = details(things=(Thing("cup", on="dining table"),), background="brown")
    assert render(on_table) == "a cup on a table"  # the table, not a brown background
    assert render_zh(on_table) == "桌子上有一个杯子"
    apart = details(things=(Thing("person", where="left"), Thing("cat", where="right")), faces=1,
                    background="brown")
    assert render(apart) == "a person on the left and a cat on the right on a brown background"
    assert render(apart, "Who is there?") == "a person on the left; a cat on the right on a brown background"
    assert render_zh(apart) == "左边有一个人，右边有一只猫，背景是棕色"
    alone = details(things=(Thing("person"),), background="gray")
    assert render(alone, "Is anyone there?") == "a person"  # not "a person; nothing I can name; ..."
    mug = details(things=(Thing("cup", colour="blue"),),
                  shapes=(SeenShape(Shape("white", "rectangle", 0.1, 0.2, 0.5), "moving to the right"),))
    assert render(mug) == "a blue cup and a white rectangle moving to the right"
    assert render_zh(mug) == "一个蓝色的杯子，还有一个白色的长方形正在往右边移动"


@pytest.fixture(scope="module")
def describer():  # type: ignore[no-untyped-def]
    return make_describer(BasicDescriberSettings())


def pair(left: str, right: str) -> np.ndarray:
    from benchmarks.answer_set import side_by_side

    return side_by_side(left, right)(0.0)


def test_real_photos_side_by_side_are_placed(describer) -> None:  # type: ignore[no-untyped-def]
    line = describer.describe(pair("chelsea", "coffee"))
    assert "a cat on the left" in line and "a cup on the right" in line, line
    line = describer.describe(pair("astronaut", "chelsea"))
    assert "a person on the left" in line and "a cat on the right" in line and "face" not in line, line
    coffee = describer.describe(photo("coffee"))
    # not "a cup, a dining table, a bowl and an orange oval object": the crema is what the cup holds
    assert coffee == "a cup with something orange in it on a table", coffee


def test_a_thing_asked_about_and_not_seen_is_said_to_be_absent() -> None:
    cat = details(things=(Thing("cat"),), background="brown")
    assert render(cat, "Is there a dog here?") == "no dog; a cat on a brown background"
    assert render(cat, "Is there a kitten?") == "a cat on a brown background"  # what people call a cat
    assert render(cat, "What animal can you see?") == "a cat on a brown background"
    assert render_zh(cat, "这里有狗吗？") == "没有狗；一只猫，背景是棕色"
    cup = details(things=(Thing("cup", on="dining table"),))
    assert render(cup, "What is on the table?") == "a cup on a table"  # the table it stands on is seen
    assert render(cup, "Is there a laptop on the table?") == "no laptop; a cup on a table"
    ball = details(shapes=(SeenShape(Shape("green", "round object", 0.1, 0.5, 0.5), "moving to the left"),))
    assert render(ball, "Where is the ball going?") == "a green round object moving to the left"  # may be the ball
    wall = details(plain="gray")
    assert render(wall, "Is anybody there?") == "nobody in view; a plain gray view"


def test_a_doubtful_detection_is_said_as_possible_until_the_next_frame_confirms_it() -> None:
    cat = Detection("cat", 0.55, (0.0, 0.0, 0.5, 1.0))
    cup = Detection("cup", 0.95, (0.5, 0.0, 1.0, 0.7))
    first, _ = place([cat, cup], [], (), sure_score=0.6)
    assert Thing("cat", where="left", sure=False) in first and Thing("cup", where="right") in first
    again, _ = place([cat, cup], [], [Detection("cat", 0.52, (0.02, 0.0, 0.5, 1.0))], sure_score=0.6)
    assert Thing("cat", where="left") in again
    assert render(details(things=first)) == "a cup on the right and possibly a cat on the left"  # surest first
    bed = Detection("bed", 0.55, (0.0, 0.3, 1.0, 1.0))  # a doubtful surface is not said at all
    things, _ = place([bed, cup], [], (), sure_score=0.6)
    assert things == (Thing("cup", where="right"),)


def test_a_doubtful_person_with_a_face_inside_is_sure() -> None:
    person = Detection("person", 0.55, (0.0, 0.0, 0.45, 1.0))
    cat = Detection("cat", 0.55, (0.5, 0.0, 1.0, 1.0))
    face = (0.12, 0.1, 0.28, 0.3)  # the face cascade's box, in the same fractions
    things, _ = place([person, cat], [], (), sure_score=0.6, faces=[face])
    assert Thing("person", where="left") in things
    assert Thing("cat", where="right", sure=False) in things  # a face says nothing of a cat
    elsewhere, _ = place([person], [], (), sure_score=0.6, faces=[(0.6, 0.1, 0.8, 0.3)])
    # A face outside the box confirms nothing; it is a person of its own, whom the detector missed.
    assert elsewhere == (Thing("person", where="left", sure=False), Thing("person", where="right"))
    cup = Detection("cup", 0.9, (0.0, 0.1, 0.45, 0.6))
    beside, _ = place([cup], [], (), sure_score=0.6, faces=[(0.6, 0.1, 0.8, 0.3)])
    assert beside == (Thing("cup", where="left"), Thing("person", where="right"))  # not "a cup and a face"
    on_the_cat, _ = place([cat], [], (), sure_score=0.6, faces=[(0.6, 0.1, 0.8, 0.3)])
    assert [t.name for t in on_the_cat] == ["cat"]  # a face the cascade finds on a cat is no person


def test_faces_are_found_as_fractions_of_the_frame() -> None:
    import cv2

    from perception.people import face_cascade, find_faces

    image = photo("astronaut")
    small = cv2.resize(image, (320, 320 * image.shape[0] // image.shape[1]), interpolation=cv2.INTER_AREA)
    faces = find_faces(face_cascade(), cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
    assert faces and all(0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1 for x1, y1, x2, y2 in faces)


def test_a_round_region_inside_a_container_is_what_it_holds() -> None:
    cup = Detection("cup", 0.98, (0.27, 0.03, 0.72, 0.6))
    coffee = Shape("orange", "oval object", 0.054, 0.47, 0.36)  # the crema, seen from above
    things, rest = place([cup], [coffee])
    assert things == (Thing("cup", holds="orange"),) and rest == ()
    assert render(details(things=things)) == "a cup with something orange in it"
    assert render_zh(details(things=things)) == "一个装着橙色东西的杯子"
    logo, _ = place([cup], [Shape("orange", "rectangle", 0.054, 0.47, 0.36)])
    assert logo == (Thing("cup"),)  # a patch of another shape is on the cup, not in it
    cat = Detection("cat", 0.9, (0.27, 0.03, 0.72, 0.6))
    assert place([cat], [coffee])[0] == (Thing("cat"),)  # only containers hold things


def test_a_thing_alone_is_placed_only_when_it_is_off_to_one_side() -> None:
    person = Detection("person", 0.9, (0.5, 0.1, 0.85, 1.0))  # the right half of the view
    assert place([person], [])[0] == (Thing("person", where="right"),)
    cat = Detection("cat", 0.9, (0.01, 0.01, 0.95, 0.99))  # fills the view
    assert place([cat], [])[0] == (Thing("cat", fills_view=True),)
    middle = Detection("cup", 0.9, (0.35, 0.2, 0.65, 0.7))
    assert place([middle], [])[0] == (Thing("cup"),)
