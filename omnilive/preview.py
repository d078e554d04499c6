"""``--preview``: the camera in an OpenCV window, with the latest description and captions.

Needs a display and a GUI build of OpenCV (``opencv-python``); without either it
says so once and the session carries on headless.
"""

from __future__ import annotations

import asyncio
import os
import textwrap

from rich.console import Console

from kernel.events import Event, ReplyChunk, SceneDescribed, Transcribed
from perception.frames import Frame

WINDOW = "omnilive"


def can_show(console: Console) -> bool:
    import cv2

    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        console.print("[yellow]preview: no display here; running headless[/]")
        return False
    try:
        cv2.namedWindow(WINDOW)
    except cv2.error:
        console.print("[yellow]preview: this OpenCV build has no windows (opencv-python-headless); running headless[/]")
        return False
    return True


class Preview:
    """Keeps the newest frame and captions; :meth:`run` draws them ten times a second."""

    def __init__(self) -> None:
        self.frame: Frame | None = None
        self.scene = ""
        self.caption = ""

    def show(self, frame: Frame) -> None:
        self.frame = frame

    def __call__(self, event: Event) -> None:
        if isinstance(event, SceneDescribed):
            self.scene = event.text
        elif isinstance(event, Transcribed):
            self.caption = f"You: {event.text}"
        elif isinstance(event, ReplyChunk):
            self.caption = f"Assistant: {event.text}"

    async def run(self) -> None:
        import cv2

        try:
            while True:
                if self.frame is not None:
                    image = self.frame.image.copy()
                    lines = textwrap.wrap(self.scene, 70)[:3] + textwrap.wrap(self.caption, 70)[:2]
                    for i, line in enumerate(lines):
                        y = 24 + 22 * i
                        cv2.putText(image, line, (10, y), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 3)
                        cv2.putText(image, line, (10, y), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1)
                    cv2.imshow(WINDOW, image)
                cv2.waitKey(1)
                await asyncio.sleep(0.1)
        finally:
            cv2.destroyWindow(WINDOW)
