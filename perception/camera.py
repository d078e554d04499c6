"""The live camera: OpenCV capture on a reader thread, newest frame wins.

``spec`` is a camera index (``0`` or ``"0"``), a device path (``/dev/video2``), a
video file or a stream URL; all go through ``cv2.VideoCapture``. The reader thread
reads continuously (a camera's buffer must be drained or frames go stale), stamps
each frame with ``clock.now()``, and hands over only the frames for which
``want(t)`` is true, with ``loop.call_soon_threadsafe(out.put_nowait, frame)``; the
output channel is meant to be ``DROP_OLDEST`` with ``maxsize=1``.

When a read fails (camera unplugged, stream error, end of a file) the camera is
reported ``"lost"``, released, and reopened with exponential backoff
(``"retrying"`` after each failed try, ``"restored"`` when a frame comes again).
The backoff waits on a ``threading.Event`` so :meth:`CameraSource.close` ends it at
once. A file plays at its own frame rate (``pace_file``) and its end counts as a
loss unless ``loop_file`` is set. ``on_status`` is called on the event loop once
the source is started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2

from kernel.channels import Channel, ChannelClosed
from kernel.clock import Clock
from kernel.errors import DeviceError

from .frames import Frame, Image

log = logging.getLogger(__name__)

PROBE_INDICES = range(10)


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """OpenCV warns on stderr for every index that does not open; silence it while probing."""
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(previous)


def _source(spec: str | int) -> int | str:
    if isinstance(spec, int):
        return spec
    return int(spec) if spec.strip().isdigit() else spec


def _capture(source: int | str) -> tuple[Any, Image] | None:
    """An open capture and its first frame, or None."""
    with _quiet_opencv():
        cap = cv2.VideoCapture(source)
        ok, image = cap.read() if cap.isOpened() else (False, None)
    if not ok or image is None:
        cap.release()
        return None
    return cap, image


def list_cameras() -> list[str]:
    """The camera indices 0–9 that open and give a frame, one line each, for ``--list-devices``."""
    found = []
    for index in PROBE_INDICES:
        opened = _capture(index)
        if opened is not None:
            cap, image = opened
            cap.release()
            found.append(f"{index}: {image.shape[1]}x{image.shape[0]}")
    return found


def _camera_error(spec: str | int, problem: str) -> DeviceError:
    cameras = [line.split(":")[0] for line in list_cameras()]
    listing = "cameras that open: " + ", ".join(cameras) if cameras else "no camera opens at indices 0-9"
    return DeviceError(f"camera '{spec}': {problem}; {listing}", retryable=True)


class CameraSource:
    def __init__(
        self,
        spec: str | int,
        *,
        on_status: Callable[[str, str], None] | None = None,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 5.0,
        loop_file: bool = False,
        pace_file: bool = True,
    ) -> None:
        self.spec = spec
        self.on_status = on_status
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.loop_file = loop_file
        self.pace_file = pace_file
        self._source = _source(spec)
        self.is_file = isinstance(self._source, str) and Path(self._source).is_file()
        self.fps = 0.0
        self.frames_read = 0
        self._cap: Any = None
        self._first: Image | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def open(self) -> None:
        """Open the camera and read a first frame; raises :class:`DeviceError` if it cannot."""
        if self._cap is not None:
            return
        if isinstance(self._source, str) and "://" not in self._source and not Path(self._source).exists():
            raise _camera_error(self.spec, "no such device or file")
        opened = _capture(self._source)
        if opened is None:
            raise _camera_error(self.spec, "cannot open it or read a frame")
        self._cap, self._first = opened
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0 < fps <= 1000 else 25.0
        log.info("camera '%s' open: %dx%d at %.1f fps", self.spec, self._first.shape[1], self._first.shape[0], self.fps)

    def start(
        self,
        loop: asyncio.AbstractEventLoop,
        out: Channel[Frame],
        clock: Clock,
        want: Callable[[float], bool],
    ) -> None:
        if self._thread is not None:
            raise RuntimeError("CameraSource.start() called twice")
        self.open()
        self._loop = loop
        self._thread = threading.Thread(
            target=self._run, args=(loop, out, clock, want), name=f"camera-{self.spec}", daemon=True
        )
        self._thread.start()

    def close(self, timeout: float = 2.0) -> None:
        """Stop the reader thread (promptly: it waits on an event) and release the camera."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("camera '%s': the reader thread did not stop within %.1f s", self.spec, timeout)
        if self._thread is None or not self._thread.is_alive():
            self._release()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- the reader thread ---------------------------------------------------------------

    def _release(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()

    def _report(self, state: str, message: str) -> None:
        log.log(logging.INFO if state == "restored" else logging.WARNING, "camera %s: %s", state, message)
        if self.on_status is None:
            return
        loop = self._loop
        if loop is None:
            self.on_status(state, message)
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens any more
            loop.call_soon_threadsafe(self.on_status, state, message)

    def _reopen(self) -> bool:
        """Retry with backoff until a frame comes or close() is called."""
        delay = self.backoff_initial_s
        while not self._stop.wait(delay):
            opened = _capture(self._source)
            if opened is not None:
                self._cap, self._first = opened
                self._report("restored", f"camera '{self.spec}' is back")
                return True
            self._report("retrying", f"camera '{self.spec}': cannot open it yet; next try in {delay:.1f} s")
            delay = min(delay * 2, self.backoff_max_s)
        return False

    def _run(
        self, loop: asyncio.AbstractEventLoop, out: Channel[Frame], clock: Clock, want: Callable[[float], bool]
    ) -> None:
        def hand_over(frame: Frame) -> None:
            with contextlib.suppress(ChannelClosed):
                out.put_nowait(frame)

        next_due = time.monotonic()
        try:
            while not self._stop.is_set():
                if self._cap is None and not self._reopen():
                    return
                if self._first is not None:
                    image: Image | None = self._first
                    self._first = None
                    ok = True
                else:
                    ok, image = self._cap.read()
                if not ok or image is None:
                    if self.is_file and self.loop_file and self.frames_read:
                        self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                        continue
                    self._release()
                    what = "end of the file" if self.is_file else "no frame from the camera"
                    self._report("lost", f"camera '{self.spec}': {what}")
                    continue
                t = clock.now()
                if want(t):
                    try:
                        loop.call_soon_threadsafe(hand_over, Frame(t, self.frames_read, image))
                    except RuntimeError:
                        return  # the loop is closed
                self.frames_read += 1
                if self.is_file and self.pace_file:
                    next_due = max(next_due + 1 / self.fps, time.monotonic() - 1.0)
                    self._stop.wait(max(0.0, next_due - time.monotonic()))
        except Exception:
            log.exception("camera '%s': the reader thread failed", self.spec)
            self._report("lost", f"camera '{self.spec}': the reader failed")
        finally:
            self._release()
