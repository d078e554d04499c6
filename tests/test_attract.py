"""Attract mode on real frames: the bundled desk scene, with and without a real face
(scikit-image's astronaut photo, shipped inside its wheel), through OpenCV's real
detectors, and the greeting loop driven by a hand-stepped clock in media time."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from kernel.clock import FakeClock
from kernel.eventlog import EventBus
from kernel.events import Event, Presence, ReplyAudioEnded, ReplyAudioStarted, to_record
from kiosk.attract import Attract, PresenceDetector
from kiosk.settings import DEFAULT_GREETING, AttractSettings
from perception.frames import Frame, Image, VideoFileSource

DESK = Path(__file__).resolve().parents[1] / "examples" / "sessions" / "desk" / "video.mp4"
FPS = 5
# The clip: the empty desk, a visitor, gone, back within the cooldown, gone, back while the kiosk is busy, gone.
VISITS = ((4.0, 10.0), (15.0, 19.0), (26.0, 38.0))
CLIP_SECONDS = 41.0


def _astronaut() -> Image:
    """Head and shoulders of a real portrait (RGB in the wheel), as BGR at 320x320."""
    data = pytest.importorskip("skimage.data")
    portrait = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    crop = np.ascontiguousarray(portrait[0:320, 60:380])
    image: Image = cv2.resize(crop, (320, 320), interpolation=cv2.INTER_AREA)
    return image


def _with_visitor(background: Image, visitor: Image) -> Image:
    """The visitor standing at the bottom centre of the frame, face about 90 px wide."""
    image = background.copy()
    h, w = visitor.shape[:2]
    y, x = image.shape[0] - h, (image.shape[1] - w) // 2
    image[y : y + h, x : x + w] = visitor
    return image


@pytest.fixture(scope="module")
def desk_frames() -> list[Image]:
    """The empty desk: the bundled video's first 10 s (10 fps)."""
    return [frame.image for frame in VideoFileSource(DESK).frames(lambda t: t < 10.0)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, desk_frames: list[Image]) -> Path:
    """A real MJPG video at 5 fps: the desk scene (looped) with the visitor during ``VISITS``."""
    path = tmp_path_factory.mktemp("attract") / "visitor.avi"
    visitor = _astronaut()
    height, width = desk_frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (width, height))
    try:
        for index in range(round(CLIP_SECONDS * FPS)):
            t = index / FPS
            desk = desk_frames[(index * 2) % len(desk_frames)]
            writer.write(_with_visitor(desk, visitor) if any(a <= t < b for a, b in VISITS) else desk)
    finally:
        writer.release()
    return path


class SteppedClock(FakeClock):
    """A fake clock that tells the test when the loop under test is parked on it again."""

    def __init__(self) -> None:
        super().__init__()
        self.parked = asyncio.Event()

    async def sleep_until(self, t: float) -> None:
        while self.now() < t:
            self.parked.set()
            await super().sleep_until(math.nextafter(self.now(), math.inf))  # wake on any step

    async def step_to(self, t: float, task: asyncio.Task[None]) -> None:
        """Move to ``t`` and return once ``task`` has done what was due and waits again."""
        if t <= self.now():
            return
        self.parked.clear()
        self.set(t)
        parked = asyncio.create_task(self.parked.wait())
        done, _ = await asyncio.wait({parked, task}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        parked.cancel()
        if task in done:
            task.result()  # raises what the loop raised
            pytest.fail("the attract loop ended")
        assert parked in done, f"the attract loop did not come back to the clock after t={t}"


def _presence(events: list[Event]) -> list[tuple[float, bool, bool]]:
    return [(e.t, e.present, e.greeted) for e in events if isinstance(e, Presence)]


# --- detection on real frames ---------------------------------------------------------------


def test_detects_the_face_and_not_the_empty_desk(desk_frames: list[Image]) -> None:
    visitor = _astronaut()
    face, anything = PresenceDetector("face"), PresenceDetector("any")
    assert face.detect(_with_visitor(desk_frames[0], visitor))
    assert anything.detect(_with_visitor(desk_frames[50], visitor))
    # the whole bundled video (desk, sign, dark room), every third frame, through both detectors
    empty = [frame.image for frame in VideoFileSource(DESK).frames()][::3]
    assert len(empty) == 100
    assert [i for i, image in enumerate(empty) if anything.detect(image)] == []


def test_detection_survives_the_video_round_trip(clip: Path) -> None:
    detector = PresenceDetector("face")
    seen = {frame.t: detector.detect(frame.image) for frame in VideoFileSource(clip).frames(lambda t: t % 1 == 0)}
    assert len(seen) == CLIP_SECONDS
    assert seen == {t: any(a <= t < b for a, b in VISITS) for t in seen}


def test_detector_rejects_what_is_not_a_bgr_frame() -> None:
    with pytest.raises(ValueError, match="BGR"):
        PresenceDetector("face").detect(np.zeros((48, 64), np.uint8))
    with pytest.raises(ValueError, match="unknown"):
        PresenceDetector("cat")  # type: ignore[arg-type]


# --- the greeting loop, frame by frame in media time -----------------------------------------


async def test_greets_once_per_arrival_after_cooldown_and_when_idle(clip: Path) -> None:
    clock = SteppedClock()
    bus = EventBus(clock)
    events: list[Event] = []
    bus.subscribe(events.append)
    said: list[tuple[float, str]] = []
    busy = False
    latest: Frame | None = None

    async def say(text: str) -> None:
        said.append((clock.now(), text))

    settings = AttractSettings(enabled=True, greeting="Hi there!", cooldown_s=20, idle_s=3, absent_s=3, min_hits=2)
    attract = Attract(settings, PresenceDetector("face"), say=say, is_idle=lambda: not busy,
                      frames=lambda: latest, bus=bus)

    def set_busy(value: bool) -> Callable[[], None]:
        def apply() -> None:
            nonlocal busy
            busy = value
        return apply

    # The third visitor arrives at 27 s while a turn runs (busy until 29 s) and its reply plays
    # until 32.6 s, longer than idle_s=3: the kiosk is idle again from 35.6 s, so the greeting comes at 36 s.
    script: list[tuple[float, Callable[[], None]]] = [
        (25.6, set_busy(True)),
        (28.4, lambda: bus.publish(ReplyAudioStarted(t=clock.now(), turn=1))),
        (29.0, set_busy(False)),
        (32.6, lambda: bus.publish(ReplyAudioEnded(t=clock.now(), turn=1, duration_s=4.2, path=None))),
    ]
    task: asyncio.Task[None] | None = None
    try:
        for frame in VideoFileSource(clip).frames():
            while script and script[0][0] <= frame.t:
                at, action = script.pop(0)
                assert task is not None
                await clock.step_to(at, task)
                action()
            latest = frame
            if task is None:  # the first frame is there before the loop's first look at 0 s
                task = asyncio.create_task(attract.run(), name="attract")
                await asyncio.wait_for(clock.parked.wait(), 10)
            else:
                await clock.step_to(frame.t, task)
            if frame.t == 34.0:
                assert attract.present and not attract.idle()
    finally:
        if task is not None:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    # one greeting per arrival: none while the first visitor stays, none for the second (within the
    # cooldown of the first greeting), and one for the third once the kiosk was idle again
    assert said == [(5.0, "Hi there!"), (36.0, "Hi there!")]
    assert attract.greetings == 2
    assert _presence(events) == [
        (5.0, True, False),  # seen at 4 s and 5 s (min_hits=2): arrived
        (5.0, True, True),  # greeted at once: idle, no greeting before
        (12.0, False, True),  # last seen at 9 s; gone for absent_s=3
        (16.0, True, False),  # back, but 11 s after the greeting (cooldown 20 s)
        (21.0, False, False),  # left before the cooldown was over: never greeted
        (27.0, True, False),  # back while the kiosk is busy
        (36.0, True, True),  # greeted once idle for idle_s
        (40.0, False, True),
    ]
    record = to_record(next(e for e in events if isinstance(e, Presence)))
    assert record == {"type": "presence", "t": 5.0, "present": True, "greeted": False, "detector": "face"}


async def test_a_single_stray_detection_is_not_an_arrival(clip: Path) -> None:
    """min_hits: frames seen one at a time, with an empty frame between, never make a presence;
    and a person who stays is greeted once, however long they stay."""
    clock = FakeClock()
    bus = EventBus(clock)
    events: list[Event] = []
    bus.subscribe(events.append)
    frames = {f.t: f for f in VideoFileSource(clip).frames(lambda t: t in (2.0, 3.0, 5.0, 6.0))}
    order = [frames[3.0], frames[5.0], frames[2.0], frames[6.0]]  # empty, visitor, empty, visitor
    shown: list[Frame] = []
    said: list[str] = []

    async def say(text: str) -> None:
        said.append(text)

    settings = AttractSettings(enabled=True, min_hits=2, cooldown_s=10)
    attract = Attract(settings, PresenceDetector("face"), say=say,
                      is_idle=lambda: True, frames=lambda: shown[-1] if shown else None, bus=bus)
    for i, frame in enumerate(order):
        shown.append(Frame(float(i), i, frame.image))  # a new frame time for each look
        await attract.check()
        await attract.check()  # no newer frame: the same one must not count twice
    assert not attract.present and said == [] and _presence(events) == []
    shown.append(Frame(9.0, 9, frames[6.0].image))
    await attract.check()
    assert attract.present and said == [DEFAULT_GREETING]
    await attract.check()  # the same frame again is not looked at twice, nor greeted twice
    clock.set(100.0)
    shown.append(Frame(100.0, 100, frames[5.0].image))  # still there long after the cooldown
    await attract.check()
    assert attract.present and said == [DEFAULT_GREETING]
    assert _presence(events) == [(0.0, True, False), (0.0, True, True)]


async def test_disabled_run_returns_at_once() -> None:
    async def say(text: str) -> None:
        raise AssertionError("no greeting when disabled")

    attract = Attract(AttractSettings(), PresenceDetector("face"), say=say, is_idle=lambda: True,
                      frames=lambda: None, bus=EventBus(FakeClock()))
    await asyncio.wait_for(attract.run(), 5)


# --- settings --------------------------------------------------------------------------------


def test_settings_defaults_and_validation() -> None:
    default = AttractSettings()
    assert (default.enabled, default.cooldown_s, default.idle_s, default.absent_s) == (False, 60, 10, 5)
    assert (default.check_interval_s, default.detector, default.min_hits) == (1.0, "face", 2)
    assert 1 <= len(default.greeting) <= 300
    assert AttractSettings(greeting="x" * 300, detector="any", cooldown_s=0.5).detector == "any"
    bad: list[dict[str, object]] = [
        {"greeting": ""},
        {"greeting": "x" * 301},
        {"cooldown_s": 0},
        {"absent_s": -1},
        {"check_interval_s": 0},
        {"min_hits": 0},
        {"detector": "cat"},
        {"cooldown": 30},  # a typo is an error, not ignored
    ]
    for fields in bad:
        with pytest.raises(ValidationError) as info:
            AttractSettings.model_validate(fields)
        assert next(iter(fields)) in str(info.value), fields
