"""Attract mode: greet a person who walks up to an idle kiosk, once per arrival.

:class:`Attract` looks at the freshest camera frame every ``check_interval_s`` on
the bus clock and runs a :class:`PresenceDetector` (OpenCV's Haar face cascade
and/or HOG people detector, the same code the ``basic`` describer uses) on it in a
worker thread. Presence is tracked in frame time:

- a person *arrives* after ``min_hits`` new frames in a row with a detection
  (one stray detection is ignored);
- they *leave* once a frame without a detection comes ``absent_s`` or more after
  the last frame with one (looking away for a moment is not leaving).

A person who has arrived is greeted once, when all of these hold: the kiosk is
idle (the runtime's ``is_idle()``, no speech or reply audio under way, and
nothing heard or said for ``idle_s``), and ``cooldown_s`` has passed since the
last greeting. Someone who arrives while the kiosk is busy, or within the
cooldown, is greeted when it allows, if they are still there; someone who stays
is never greeted twice. Each arrival, greeting and departure is a ``presence``
event on the bus.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Protocol

import cv2
import numpy as np

from assistant.state import StateTracker
from kernel.eventlog import EventBus
from kernel.events import Presence
from perception.frames import Frame, Image
from perception.people import count_faces, count_people, detection_image, face_cascade, people_detector

from .settings import AttractSettings, DetectorKind

log = logging.getLogger(__name__)


class Detector(Protocol):
    """Says whether a person is in a BGR frame. Blocking; called in a worker thread."""

    @property
    def kind(self) -> str: ...

    def detect(self, image: Image) -> bool: ...


class PresenceDetector:
    """Is someone in front of the camera? Haar frontal faces (``"face"``), HOG whole-body
    people (``"person"``) or either (``"any"``), on the copy the ``basic`` describer looks at
    (:func:`perception.people.detection_image`: 320 px wide, or 160 px tall for a wide frame, so
    a banner camera's people still fill the HOG window). A face must be about 50 px wide
    in a 640 px frame to be found, which suits someone standing at a kiosk. Any frame
    size is safe: a frame smaller than a detector's window is not looked at by it."""

    def __init__(self, kind: DetectorKind = "face") -> None:
        if kind not in ("face", "person", "any"):
            raise ValueError(f"unknown presence detector {kind!r}")
        self._kind = kind
        self._faces = face_cascade() if kind in ("face", "any") else None
        self._people = people_detector() if kind in ("person", "any") else None
        self._lock = threading.Lock()  # OpenCV's detectors are not safe to share between threads

    @property
    def kind(self) -> str:
        return self._kind

    def detect(self, image: Image) -> bool:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected a BGR uint8 frame, got {image.dtype} {image.shape}")
        small = detection_image(image)
        with self._lock:
            if self._faces is not None and count_faces(self._faces, cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)):
                return True
            return self._people is not None and count_people(self._people, small) > 0


class Attract:
    """Greets arrivals; see the module docstring. Start :meth:`run` as a task."""

    def __init__(
        self,
        settings: AttractSettings,
        detector: Detector,
        *,
        say: Callable[[str], Awaitable[object]],
        is_idle: Callable[[], bool],
        frames: Callable[[], Frame | None],
        bus: EventBus,
        tracker: StateTracker | None = None,
    ) -> None:
        self.settings = settings
        self._detector = detector
        self._say = say
        self._is_idle = is_idle
        self._frames = frames
        self._bus = bus
        self.present = False
        self.greetings = 0
        self.last_greeting: float | None = None
        self._greeted = False  # this arrival has been greeted
        self._hits = 0
        self._last_seen: float | None = None  # frame time of the newest frame with a detection
        self._frame_t: float | None = None  # frame time of the newest frame looked at
        # speech or reply audio under way, and when there was last any: the bus's tracker if given,
        # else one of its own, fed by the bus
        self._state = tracker if tracker is not None else StateTracker()
        if tracker is None:
            bus.subscribe(self._state)

    async def run(self) -> None:
        """Checks every ``check_interval_s`` on the bus clock, forever (returns at once when disabled)."""
        if not self.settings.enabled:
            log.info("attract mode is off")
            return
        clock = self._bus.clock
        interval = self.settings.check_interval_s
        log.info("attract mode on: %s detector, every %.1f s", self._detector.kind, interval)
        next_t = clock.now()
        while True:
            await clock.sleep_until(next_t)
            await self.check()
            now = clock.now()
            next_t += interval
            if next_t <= now:  # a slow check or a jump of the clock: skip the missed ticks
                next_t += (int((now - next_t) / interval) + 1) * interval

    async def check(self) -> None:
        """One look: the freshest frame if it is new, then a greeting if one is due."""
        frame = self._frames()
        if frame is not None and frame.t != self._frame_t:
            self._frame_t = frame.t
            try:
                seen = await asyncio.to_thread(self._detector.detect, frame.image)
            except (cv2.error, ValueError) as exc:
                log.warning("attract: detection failed on the frame at %.2f s: %s", frame.t, exc)
            else:
                log.debug("attract: frame at %.2f s, person %s", frame.t, "seen" if seen else "not seen")
                self._track(frame.t, seen)
        if self.present and not self._greeted and self._may_greet():
            await self._greet()

    @property
    def last_activity(self) -> float | None:
        """Bus time of the last speech or reply audio starting or ending."""
        return self._state.last_activity

    def idle(self) -> bool:
        """No speech or reply audio under way, none for ``idle_s``, and the runtime idle."""
        if self._state.user_speaking or self._state.reply_playing or not self._is_idle():
            return False
        return self.last_activity is None or self._bus.clock.now() - self.last_activity >= self.settings.idle_s

    def _may_greet(self) -> bool:
        if self.last_greeting is not None and self._bus.clock.now() - self.last_greeting < self.settings.cooldown_s:
            return False
        return self.idle()

    def _track(self, t: float, seen: bool) -> None:
        if seen:
            self._last_seen = t
            self._hits += 1
            if not self.present and self._hits >= self.settings.min_hits:
                self.present, self._greeted = True, False
                log.info("attract: a person arrived")
                self._publish(greeted=False)
            return
        self._hits = 0
        if self.present and self._last_seen is not None and t - self._last_seen >= self.settings.absent_s:
            self.present = False
            log.info("attract: the person left%s", "" if self._greeted else " without a greeting")
            self._publish(greeted=self._greeted)

    async def _greet(self) -> None:
        # Marked first, so a failing or cancelled `say` never makes a second greeting for this arrival.
        self._greeted = True
        self.last_greeting = self._bus.clock.now()
        self.greetings += 1
        log.info("attract: greeting")
        self._publish(greeted=True)
        try:
            await self._say(self.settings.greeting)
        except Exception:
            log.exception("attract: the greeting could not be spoken")

    def _publish(self, *, greeted: bool) -> None:
        self._bus.publish(
            Presence(t=self._bus.clock.now(), present=self.present, greeted=greeted, detector=self._detector.kind)
        )
