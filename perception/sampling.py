"""Frame selection: sample at an interval, then skip frames whose content has not changed.

The change gate compares a small grayscale thumbnail with the one last let
through; the score is the mean absolute difference in [0, 1].
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from .frames import Image


class Sampler:
    """Lets one frame through per ``interval_s`` of media time."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._next: float | None = None

    def due(self, t: float) -> bool:
        if self._next is None or t >= self._next - 1e-6:
            self._next = t + self.interval_s
            return True
        return False


class ChangeGate:
    def __init__(self, threshold: float, size: int = 64) -> None:
        self.threshold = threshold
        self.size = size
        self._last: npt.NDArray[np.float32] | None = None

    def thumbnail(self, image: Image) -> npt.NDArray[np.float32]:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        h, w = gray.shape[:2]
        scale = self.size / max(h, w)  # fits inside size x size: a tall 2x8000 frame is not a 64x256000 thumbnail
        small = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        thumb: npt.NDArray[np.float32] = np.asarray(small, dtype=np.float32) / np.float32(255.0)
        return thumb

    def reset(self) -> None:
        """Forget the last frame let through, so that the next one passes (after a failed description)."""
        self._last = None

    def check(self, image: Image) -> tuple[bool, float]:
        """Whether the frame differs enough from the last one let through, and the score.

        The first frame always passes (score 1.0)."""
        thumb = self.thumbnail(image)
        if self._last is None or self._last.shape != thumb.shape:
            self._last = thumb
            return True, 1.0
        score = float(np.mean(np.abs(thumb - self._last)))
        if score >= self.threshold:
            self._last = thumb
            return True, score
        return False, score
