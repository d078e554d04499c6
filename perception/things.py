"""From an object detector's boxes to the things a description names: one guess per object, where
each one is, what it stands on, and its colour when a coloured region fills it.

- Two boxes of different classes over the same region are two guesses at one object (a cup on a
  saucer is also found as "a bowl"): only the surer one is named, so a doubtful guess is not
  said as a fact beside the good one.
- A table, bed, couch or bench is a surface: what stands in it is said to be on it ("a cup on a
  table"), which is what people ask ("what is on the table?").
- Where a thing is (left, middle, right) is said when two or more things are named, so that
  "where is the cat?" and "what is on the right?" have an answer, and for one thing alone when it
  takes up no more than :data:`ALONE_WIDTH` of the frame and is off to one side (a person on the right
  of an empty room); a thing that fills the view is not "on the left" of anything.
- A face the face detector found that no person's box holds is a person too.
- A coloured region inside a thing's box is part of it (the coffee in a cup, a flag on a
  sleeve), not a thing of its own; one that fills most of the box gives the thing its colour.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from .objects import Detection
from .shapes import Shape

SURFACES = frozenset({"dining table", "bed", "couch", "bench"})
ANIMALS = frozenset({"bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"})
SAME_OBJECT_IOU = 0.6  # boxes of two classes overlapping this much are one object
Box = tuple[float, float, float, float]  # x1, y1, x2, y2 as fractions of the frame
FILLS = 0.4  # a region covering this share of a box gives the thing its colour
# A smaller round or oval region inside a container, at least this share of its box, is what it holds:
# the coffee in a cup seen from above, through its round mouth ("a cup with something orange in it"),
# said by its colour, not guessed at. A patch of another shape (a logo, a stripe) is not.
HOLDS = 0.05
CONTAINERS = frozenset({"cup", "bowl", "wine glass", "vase"})
CONFIRM_IOU = 0.3  # the same kind of thing this close in the frame before confirms a guess
LEFT, RIGHT = 0.4, 0.6  # a box centred left of LEFT is on the left, right of RIGHT on the right
FILLS_VIEW = 0.8  # a box over this share of the frame: the detector cannot tell how many it holds
ALONE_WIDTH = 0.5  # a thing named alone is placed when its box is at most this wide


@dataclass(frozen=True, slots=True)
class Thing:
    """One kind of thing to name, counted."""

    name: str  # the detector's label: "cup", "dining table"
    count: int = 1
    where: str = ""  # "left", "middle", "right", or "" (not said)
    on: str = ""  # the label of the surface it stands on, or ""
    colour: str = ""  # the colour of the region that fills it, or ""
    sure: bool = True  # False: said as "possibly a cat"
    holds: str = ""  # a container's contents, by colour ("orange"), or ""
    fills_view: bool = False  # one box over most of the frame: it may hold more than one (two cats side by side)


def area(box: Box) -> float:
    x1, y1, x2, y2 = box
    return max(0.0, x2 - x1) * max(0.0, y2 - y1)


def iou(a: Box, b: Box) -> float:
    inter = area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def inside(x: float, y: float, box: Box, margin: float = 0.0) -> bool:
    x1, y1, x2, y2 = box
    return x1 - margin <= x <= x2 + margin and y1 - margin <= y <= y2 + margin


def one_guess_each(detections: Sequence[Detection]) -> list[Detection]:
    """The detections, surest first, without a box of another class over the same object."""
    kept: list[Detection] = []
    for d in sorted(detections, key=lambda d: d.score, reverse=True):
        if not any(k.label != d.label and iou(k.box, d.box) >= SAME_OBJECT_IOU for k in kept):
            kept.append(d)
    return kept


def side(box: Box) -> str:
    centre = (box[0] + box[2]) / 2
    return "left" if centre < LEFT else "right" if centre > RIGHT else "middle"


def confirmed(d: Detection, before: Sequence[Detection], sure_score: float, faces: Sequence[Box] = ()) -> bool:
    """Whether ``d`` may be said as a fact: the detector is sure of it, or the frame before showed
    the same kind of thing in about the same place (a guess that flickers on and off is not), or,
    for a person, the face detector found a face inside the box (two detectors that agree)."""
    if d.score >= sure_score or any(b.label == d.label and iou(b.box, d.box) >= CONFIRM_IOU for b in before):
        return True
    return d.label == "person" and any(inside((f[0] + f[2]) / 2, (f[1] + f[3]) / 2, d.box) for f in faces)


def place(detections: Sequence[Detection], regions: Sequence[Shape], before: Sequence[Detection] = (), *,
          sure_score: float = 0.0, moving: Collection[int] = (),
          faces: Sequence[Box] = ()) -> tuple[tuple[Thing, ...], tuple[int, ...]]:
    """The things to name, in the detector's order of sureness, and the indices of ``regions``
    that are not part of any of them (those are still said as shapes). ``before``: the previous
    frame's detections; a detection less sure than ``sure_score`` that they do not confirm is
    said as possible, unless it is a person with a face in ``faces`` (boxes as the detector's).
    ``moving``: indices of regions that move, which stay said, with their motion."""
    kept = one_guess_each(detections)
    # A doubtful surface is left out: "a cup on possibly a bed" helps nobody.
    surfaces = [d for d in kept if d.label in SURFACES and confirmed(d, before, sure_score)]
    objects = [d for d in kept if d.label not in SURFACES]
    parts: set[int] = set()
    singles: list[Thing] = []  # one per detection, with its side; surfaces nothing stands on after them
    for d in objects:
        x1, _, x2, y2 = d.box
        below = ((x1 + x2) / 2, min(max(y2, 0.0), 1.0))
        holders = [s for s in surfaces if area(s.box) > area(d.box) and inside(*below, s.box, margin=0.02)]
        on = min(holders, key=lambda s: area(s.box)).label if holders else ""
        sure = confirmed(d, before, sure_score, faces)
        # Only a sure thing takes in the regions over it; a guess leaves them said as they are.
        within = [i for i, r in enumerate(regions) if i not in moving and inside(r.x, r.y, d.box)] if sure else []
        parts.update(within)
        filling = [regions[i] for i in within if regions[i].area >= FILLS * area(d.box)]
        colour = max(filling, key=lambda r: r.area).colour if filling else ""
        held = [r for r in (regions[i] for i in within) if HOLDS * area(d.box) <= r.area < FILLS * area(d.box)
                and r.colour != colour and r.form in ("round object", "oval object")] if d.label in CONTAINERS else []
        holds = max(held, key=lambda r: r.area).colour if held else ""
        singles.append(Thing(d.label, where=side(d.box), on=on, colour=colour, sure=sure, holds=holds,
                             fills_view=area(d.box) >= FILLS_VIEW and d.label != "person"))
    # A face that no person's (nor animal's) box holds is a person the detector missed: squeezed into
    # half a wide frame, the astronaut was only "a face", and "Who is on the right?" had "no one".
    bodies = [d.box for d in objects if d.label == "person" or d.label in ANIMALS]
    for f in faces:
        if not any(inside((f[0] + f[2]) / 2, (f[1] + f[3]) / 2, box) for box in bodies):
            singles.append(Thing("person", where=side(f)))
    used = {t.on for t in singles}
    singles += [Thing(s.label) for s in surfaces if s.label not in used]
    groups: dict[Thing, list[str]] = {}  # the same thing but for its side -> the sides
    for t in singles:
        groups.setdefault(dataclasses.replace(t, where=""), []).append(t.where)
    narrow = len(objects) == 1 and objects[0].box[2] - objects[0].box[0] <= ALONE_WIDTH
    say_where = len(groups) >= 2 or (len(singles) == 1 and narrow and singles[0].where != "middle")
    things = tuple(
        dataclasses.replace(key, count=len(wheres), where=wheres[0] if say_where and len(set(wheres)) == 1 else "",
                            holds=key.holds if len(wheres) == 1 else "")
        for key, wheres in groups.items()
    )
    rest = tuple(i for i in range(len(regions)) if i not in parts)
    return things, rest


# What people call the detector's things, where it is not the detector's own name. A ball is left out:
# a coloured round shape may be one, so "no ball" would deny what the shapes say.
_CALLED = {"mug": "cup", "kitten": "cat", "puppy": "dog", "table": "dining table", "sofa": "couch",
           "phone": "cell phone", "television": "tv", "motorbike": "motorcycle", "bike": "bicycle",
           "computer": "laptop", "plant": "potted plant"}
_NOT_ASKED = frozenset({"person", "sports ball", "orange", "tie", "remote", "mouse", "skis"})  # people; common words


def asked_things(question: str | None) -> list[str]:
    """The detector's names of the things an English question names ("is there a dog?" -> ["dog"])."""
    from .objects import COCO_LABELS

    lowered = " ".join(re.findall(r"[a-z]+", (question or "").lower()))
    words = set(lowered.split())
    words |= {w[:-1] for w in words if w.endswith("s")}
    found = [label for label in COCO_LABELS.values()
             if label and label not in _NOT_ASKED and (label in words or (" " in label and label in lowered))]
    found += [label for word, label in _CALLED.items() if word in words and label not in found]
    # "What is on the table?" asks about what is on it: "no table" there would answer the wrong question.
    where = set(re.findall(r"\b(?:on|at|in|under|near|by|beside) (?:the|my|this|that|a) ([a-z]+)", lowered))
    def named_as_place(label: str) -> bool:
        names = {label.split(" ")[-1]} | {word for word, called in _CALLED.items() if called == label}
        return label in SURFACES and bool(names & where)

    return [label for label in found if not named_as_place(label)]


def absent(asked: Sequence[str], things: Sequence[Thing], objects: Sequence[str]) -> list[str]:
    """Of the things ``asked`` about, those the frame does not show (``things`` placed, else the
    detector's ``objects`` as phrases)."""
    seen = {name for t in things for name in (t.name, t.on) if name}
    seen = seen or {word for phrase in objects for word in phrase.split(" ")}
    return [label for label in asked if label not in seen and label.split(" ")[-1] not in seen]
