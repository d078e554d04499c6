"""Frames and video files as a frame source.

A :class:`Frame` is a BGR image with its media time. :class:`VideoFileSource`
reads any container OpenCV's ffmpeg backend reads (mp4/h264, avi/mjpg, mkv, …)
through ``cv2.VideoCapture``, the same API a live camera uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from kernel.errors import InputError

Image = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Frame:
    t: float
    index: int
    image: Image = field(repr=False)


class VideoFileSource:
    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            raise InputError(f"video file '{path}': no such file")
        if not path.is_file():
            raise InputError(f"video file '{path}': not a file")
        cap = cv2.VideoCapture(str(path))
        try:
            ok, first = cap.read() if cap.isOpened() else (False, None)
            if not ok or first is None:
                raise InputError(f"video file '{path}': not a readable video (OpenCV could not decode a frame)")
            fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
            count = float(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0)
        finally:
            cap.release()
        self.fps = fps if math.isfinite(fps) and 0 < fps <= 1000 else 25.0
        self.size = (int(first.shape[1]), int(first.shape[0]))
        self.duration = count / self.fps if count > 0 else 0.0

    def frames(self, want: Callable[[float], bool] = lambda t: True) -> Iterator[Frame]:
        """Frames in order; frames for which ``want(t)`` is false are skipped without
        being decoded into images."""
        cap = cv2.VideoCapture(str(self.path))
        try:
            index = 0
            while cap.grab():
                t = index / self.fps
                if want(t):
                    ok, image = cap.retrieve()
                    if ok and image is not None:
                        yield Frame(t, index, image)
                index += 1
        finally:
            cap.release()
