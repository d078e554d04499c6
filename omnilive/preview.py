"""``--preview``: the camera in an OpenCV window, with the latest description and captions.

Needs a display and a GUI build of OpenCV (``opencv-python``); without either it
says so once and the session carries on headless.
"""

from __future__ import annotations

import asyncio
import os
import textwrap
from pathlib import Path

import numpy as np
from rich.console import Console

from kernel.events import Event, ReplyChunk, SceneDescribed, Transcribed, WatchCleared, WatchFired, WatchSet
from perception.frames import Frame, Image

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


CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")  # Debian fonts-wqy-microhei (make installs it)


def overlay(image: Image, scene: str, caption: str, watching: str = "") -> Image:
    """A copy of ``image`` with the description (three lines at most), the caption (two) and what it
    watches for (one) written on it: by OpenCV, or by PIL in a font with Chinese when a line needs it
    (OpenCV's fonts draw '?')."""
    import cv2

    image = image.copy()
    lines = _wrap(scene)[:3] + _wrap(caption)[:2] + _wrap(watching)[:1]
    if any(not line.isascii() for line in lines) and CJK_FONT.is_file():
        from PIL import Image as PILImage
        from PIL import ImageDraw, ImageFont

        picture = PILImage.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        draw, font = ImageDraw.Draw(picture), ImageFont.truetype(str(CJK_FONT), 18)
        for i, line in enumerate(lines):
            draw.text((10, 8 + 22 * i), line, font=font, fill=(255, 255, 255), stroke_width=2, stroke_fill=(0, 0, 0))
        drawn: Image = cv2.cvtColor(np.asarray(picture), cv2.COLOR_RGB2BGR)
        return drawn
    for i, line in enumerate(lines):
        y = 24 + 22 * i
        cv2.putText(image, line, (10, y), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 3)
        cv2.putText(image, line, (10, y), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1)
    return image


def _wrap(text: str) -> list[str]:
    """Lines of about 70 columns; a Chinese character takes two, so Chinese wraps at 35."""
    return textwrap.wrap(text, 35 if any(ord(c) > 0x2E80 for c in text) else 70)


class Preview:
    """Keeps the newest frame and captions; :meth:`run` draws them ten times a second."""

    def __init__(self) -> None:
        self.frame: Frame | None = None
        self.scene = ""
        self.caption = ""
        self.watches: dict[int, str] = {}  # standing watches, by id: what each looks for

    def show(self, frame: Frame) -> None:
        self.frame = frame

    def __call__(self, event: Event) -> None:
        if isinstance(event, SceneDescribed):
            self.scene = event.text
        elif isinstance(event, Transcribed):
            self.caption = f"You: {event.text}"
        elif isinstance(event, ReplyChunk):
            self.caption = f"Assistant: {event.text}"
        elif isinstance(event, WatchSet):
            self.watches[event.watch] = event.name if event.kind != "text" else f"the sign to say {event.text}"
        elif isinstance(event, WatchCleared):
            self.watches.pop(event.watch, None)
        elif isinstance(event, WatchFired):
            self.caption = f"Seen: {event.said}"

    @property
    def watching(self) -> str:
        return f"Watching for: {', '.join(self.watches.values())}" if self.watches else ""

    async def run(self) -> None:
        import cv2

        try:
            while True:
                if self.frame is not None:
                    cv2.imshow(WINDOW, overlay(self.frame.image, self.scene, self.caption, self.watching))
                cv2.waitKey(1)
                await asyncio.sleep(0.1)
        finally:
            cv2.destroyWindow(WINDOW)
