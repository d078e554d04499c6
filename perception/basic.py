"""Offline scene describer: OpenCV for what is visible, RapidOCR (or tesseract) for text.

`BasicDescriber.describe(frame, question=None)` turns one BGR frame into one line of
plain words, things first, then text:

    a blue cup and a white rectangle moving to the right on a brown background; text: OPEN

or, for a session in Chinese (:mod:`perception.basic_zh`):

    一个蓝色的杯子，还有一个白色的长方形正在往右边移动，背景是棕色；写着“OPEN”

Things are, in order: what an optional object detector names (``objects``; with boxes, placed
by :mod:`perception.things`: on a table, left or right, in a colour), faces (Haar cascade) and
people (HOG) from :mod:`perception.people`, and salient coloured shapes (:mod:`perception.shapes`),
each shape with the way it moved since the previous frame this describer saw. People the
detector places come first, and then faces and HOG's count are left out. The light is
mentioned only when the scene is dark. Nothing is named from colour alone:
"a green round object", never "a ball". It is synchronous and CPU-bound; callers run
it in a thread.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from .basic_zh import render_zh
from .frames import Image
from .objects import PLURALS, Detection
from .ocr import MIN_CONFIDENCE, TextEngine, TextReader, make_text_reader
from .people import count_people, detection_image, face_cascade, find_faces, people_detector
from .prompts import checked_language, description_language
from .sampling import ChangeGate
from .scene import ENGLISH, SceneDetails, SeenShape, arrange, asks_about, mentions_people
from .settings import BasicDescriberSettings
from .shapes import Shape, colour_labels, find_shapes, track
from .things import Thing, absent, asked_things, place

logger = logging.getLogger(__name__)

ObjectNames = Callable[[Image], Sequence["str | Detection"]]
"""A hook for an object detector: a BGR frame in, what it found out. Either detections with their
boxes (:class:`perception.objects.Detection`: placed by :func:`perception.things.place`), bare
names, one per thing ("cup", "person", "cup": counted here into "two cups and a person"), or
phrases already counted ("two people", "a cup"), which are said as they are."""

SAME_VIEW = 0.003  # a frame within this change score (perception.sampling) of the last shows the same scene:
# a camera's noise, not a small thing moving (a 40 px disc moving 180 px scores ~0.01)
_DARK = 60.0  # mean grey level below which the scene is dark
_VERY_DARK = 20.0
_PLAIN = 6.0  # standard deviation (of every BGR channel) below which a frame is one plain colour
_NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_DETERMINERS = frozenset({"a", "an", "the", "no", "some", "many", *_NUMBER_WORDS})
_OLDER_SWITCH: dict[bool | None, TextEngine] = {True: "tesseract", False: "off", None: "rapidocr"}


class BasicDescriber:
    """Describes frames with classic computer vision and an OCR model shipped in a wheel.

    ``text``: how text is read (``rapidocr``, ``tesseract`` or ``off``); when it is None,
    the older ``use_tesseract`` decides (True: tesseract, False: off, None: rapidocr).
    ``objects``: an optional detector whose names come first in the description.
    ``language``: the session's (``en``, ``zh`` or ``auto``); see
    :func:`perception.prompts.description_language`.
    Calls are serialised: motion compares each frame's shapes with the previous frame's,
    so one describer should watch one camera.
    """

    name: str = "basic"

    def __init__(
        self,
        *,
        text: TextEngine | None = None,
        use_tesseract: bool | None = None,
        people: bool = True,
        min_text_confidence: float = MIN_CONFIDENCE,
        objects: ObjectNames | None = None,
        language: str = "en",
        sure_score: float = 0.6,
    ) -> None:
        self.language = checked_language(language)
        engine: TextEngine = text if text is not None else _OLDER_SWITCH[use_tesseract]
        self._reader: TextReader | None = make_text_reader(engine, min_confidence=min_text_confidence)
        self._objects = objects
        self._sure_score = sure_score
        self._boxes: list[Detection] = []  # the previous frame's detections
        self._faces = face_cascade()
        self._hog = people_detector() if people else None
        self._lock = threading.Lock()
        self._previous: tuple[Shape, ...] = ()
        self._same = ChangeGate(SAME_VIEW)  # against the last frame looked at
        self._last: SceneDetails | None = None  # what that frame showed

    @classmethod
    def from_settings(cls, settings: BasicDescriberSettings, language: str = "en") -> BasicDescriber:
        """The ``basic`` backend as ``describer:`` configures it (the object detector loads here)."""
        names = None
        if settings.objects:
            from .objects import ObjectDetector

            names = ObjectDetector(min_score=settings.objects_min_score, review=settings.objects_review).detect
        return cls(text=settings.text, min_text_confidence=settings.text_min_confidence,
                   people=settings.people, objects=names, language=language, sure_score=settings.objects_sure_score)

    @property
    def text_engine(self) -> str:
        return self._reader.name if self._reader is not None else "off"

    @property
    def uses_tesseract(self) -> bool:
        return self.text_engine == "tesseract"

    def describe(self, image: Image, question: str | None = None) -> str:
        """One line about `image`, fit to be spoken or put in a prompt; `question` changes emphasis only.
        :meth:`describe_found` gives it with the details it was made from."""
        return self.describe_found(image, question)[0]

    def describe_found(self, image: Image, question: str | None = None) -> tuple[str, SceneDetails]:
        details = self.describe_details(image)
        if description_language(self.language, question) == "zh":
            return render_zh(details, question), details
        return render(details, question), details

    def describe_details(self, image: Image) -> SceneDetails:
        """What is in ``image``. A frame that shows what the last one looked at showed (the same
        frame, or one the camera's noise alone tells apart: the question-aware look at an unchanged
        scene) gets the same details, motion included, at once: compared with the frame before,
        everything in it would seem to hold still, and looking again would put the detector and
        OCR on the reply path for nothing."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or image.size == 0:
            raise ValueError(f"expected a BGR uint8 frame, got {image.dtype} {image.shape}")
        with self._lock:
            changed, _ = self._same.check(image)
            if not changed and self._last is not None:
                return self._last
            details = self._look(image)
            self._last = details
        logger.debug("scene details: %s", details)
        return details

    def _look(self, image: Image) -> SceneDetails:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        small = detection_image(image)
        found = self._objects(image) if self._objects is not None else ()
        boxes = [d for d in found if not isinstance(d, str)]
        before, self._boxes = self._boxes, boxes
        objects = tuple(n for n in (d.strip() if isinstance(d, str) else d.label for d in found) if n)
        layout = find_shapes(image)
        moves = track(self._previous, layout.shapes)
        self._previous = layout.shapes
        seen = tuple(SeenShape(s, m) for s, m in zip(layout.shapes, moves, strict=True))
        faces = find_faces(self._faces, cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
        things: tuple[Thing, ...] = ()
        if boxes:
            things, rest = place(boxes, layout.shapes, before, sure_score=self._sure_score,
                                 moving=[i for i, m in enumerate(moves) if m], faces=faces)
            seen = tuple(seen[i] for i in rest)
            objects = tuple(t.name for t in things for _ in range(t.count))
        return SceneDetails(
            objects=objects,
            faces=len(faces),
            people=count_people(self._hog, small) if self._hog is not None else 0,
            shapes=seen,
            background=layout.background,
            light=_light(gray),
            plain=_plain(small),
            text=tuple(self._reader.read(image)) if self._reader is not None else (),
            things=things, boxed=self._objects is not None and (bool(boxes) or not found),
        )


def render(details: SceneDetails, question: str | None = None) -> str:
    """One line: the things seen, where, then ``text: ...``. A question about text puts the
    text (or "no readable text") first; one about people puts faces and people first,
    zeros included."""
    _, wants_people = asks_about(question)
    who, others = _people_and_things(details)
    shown = [] if wants_people else who
    shown_apart = bool(who) and wants_people  # said first, by arrange(), so the scene is not empty
    # The detector's people come first, as sure as its other things; faces and HOG's people after them.
    things = [*shown, *others] if _detected_people(details) else [*others, *shown]
    things += _shape_phrases(details.shapes)
    scene = _join(things)
    on_surface = any(t.on for t in details.things)
    if details.plain and not scene:
        scene = f"a plain {details.plain} view"  # a lens cap, a wall: its colour says how light it is
    elif details.background and details.background != "black" and not on_surface and (scene or not shown_apart):
        # Around things it is their background; alone it may be the thing itself (a cat's fur, close up).
        bg = details.background
        scene = f"{scene} on {_article(bg)} {bg} background" if scene else f"{ENGLISH.nothing}; the view is mostly {bg}"
    if details.light and not details.plain:
        scene = f"{scene} in a {details.light} scene" if scene else f"a {details.light} scene"

    gone = absent(asked_things(question), details.things, details.objects)
    missing = [f"no {SPOKEN_NAMES.get(label, label)}" for label in gone]
    return arrange(scene, _join(who), details.text, question, ENGLISH, missing)


def _detected_people(details: SceneDetails) -> bool:
    return any(t.name == "person" for t in details.things)


def _people_and_things(details: SceneDetails) -> tuple[list[str], list[str]]:
    """Who is there, and the other things named. A detector that names people counts them better
    than HOG does, and a face it found belongs to one of them, so then only its people are said."""
    if details.things:
        placed = [t for t in details.things if t.name == "person"]
        if placed:
            return [thing_phrase(t) for t in placed], _placed_phrases([t for t in details.things if t.name != "person"])
        return _faces_and_people(details.faces, details.people), _placed_phrases(list(details.things))
    people = 0 if mentions_people(details.objects) else details.people
    return _faces_and_people(details.faces, people), _object_phrases(details.objects)


def _faces_and_people(faces: int, people: int) -> list[str]:
    return [_count(n, one, many) for n, one, many in ((faces, "face", "faces"), (people, "person", "people")) if n]


SPOKEN_NAMES = {"dining table": "table", "sports ball": "ball", "tv": "TV", "cell phone": "phone"}
_WHERE = {"left": "on the left", "middle": "in the middle", "right": "on the right"}


def thing_phrase(thing: Thing) -> str:
    """"a blue cup", "two people on the left": a placed thing, counted, in words."""
    name = SPOKEN_NAMES.get(thing.name, thing.name)
    named = f"{thing.colour} {name}" if thing.colour else name
    plural = f"{thing.colour} {PLURALS.get(name, _plural(name))}" if thing.colour else PLURALS.get(name, _plural(name))
    phrase = _count(thing.count, named, plural)
    phrase = phrase if thing.sure else f"possibly {phrase}"
    phrase = f"{phrase} {_WHERE[thing.where]}" if thing.where else phrase
    return f"{phrase} with something {thing.holds} in it" if thing.holds else phrase


def _placed_phrases(things: Sequence[Thing]) -> list[str]:
    """Each thing's phrase; the things on one surface joined and said once with it ("a cup and a
    bowl on a table"), where the first of them comes."""
    phrases: list[str] = []
    on: dict[str, list[str]] = {}
    for thing in things:
        if thing.on:
            if thing.on not in on:
                on[thing.on] = []
                phrases.append(thing.on)  # a slot, filled below
            on[thing.on].append(thing_phrase(thing))
        else:
            phrases.append(thing_phrase(thing))
    for surface, held in on.items():
        word = SPOKEN_NAMES.get(surface, surface)
        phrases[phrases.index(surface)] = f"{_join(held)} on {_article(word)} {word}"
    return phrases


def _object_phrases(objects: Sequence[str]) -> list[str]:
    """Phrases from the detector hook as they are; bare names counted: ["cup", "cup"] -> ["two cups"]."""
    counts = Counter(objects)
    phrases = []
    for name, n in counts.items():
        if name.split(" ")[0].lower() in _DETERMINERS:
            phrases.extend([name] * n)
        else:
            phrases.append(_count(n, name, _plural(name)))
    return phrases


def _shape_phrases(shapes: Sequence[SeenShape]) -> list[str]:
    """["a blue object", "two white rectangles moving to the right", ...], largest first."""
    counts = Counter((seen.shape.colour, seen.shape.form, seen.motion) for seen in shapes)
    phrases = []
    for (colour, form, motion), n in counts.items():
        phrase = _count(n, f"{colour} {form}", f"{colour} {_plural(form)}")
        phrases.append(f"{phrase} {motion}" if motion else phrase)
    return phrases


def _plain(image: Image) -> str:
    """The colour of a frame that is all one colour, else ""."""
    pixels = image.reshape(-1, 3).astype(np.float32)
    if float(pixels.std(axis=0).max()) >= _PLAIN:
        return ""
    mean = np.round(pixels.mean(axis=0)).astype(np.uint8).reshape(1, 1, 3)
    labels, names = colour_labels(mean)
    return names[int(labels[0, 0])]


def _light(gray: Image) -> str:
    mean = float(np.mean(gray))
    if mean < _VERY_DARK:
        return "very dark"
    return "dark" if mean < _DARK else ""


def _plural(name: str) -> str:
    """The plural of a name, made on its last word: "round object" -> "round objects"."""
    *first, last = name.strip().split(" ")
    if last == "person":
        last = "people"
    elif last.endswith(("s", "x", "z", "ch", "sh")):
        last += "es"
    elif last.endswith("y") and last[-2:-1] not in set("aeiou"):
        last = last[:-1] + "ies"
    else:
        last += "s"
    return " ".join([*first, last])


def _article(word: str) -> str:
    return "an" if word[:1].lower() in set("aeiou") else "a"


def _count(n: int, singular: str, plural: str) -> str:
    if n == 1:
        return f"{_article(singular)} {singular}"
    number = _NUMBER_WORDS[n] if n < len(_NUMBER_WORDS) else str(n)
    return f"{number} {plural}"


def _join(items: Sequence[str]) -> str:
    return "".join(items) if len(items) <= 1 else ", ".join(items[:-1]) + " and " + items[-1]
