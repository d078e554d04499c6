"""``--preview``: whether an OpenCV window can be shown here."""

from __future__ import annotations

import os

from rich.console import Console


def start_preview(console: Console) -> bool:
    """Returns True when a window can be shown; otherwise says so and the session goes on headless."""
    import cv2

    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        console.print("[yellow]preview: no display here; running headless[/]")
        return False
    try:
        cv2.namedWindow("omnilive")
    except cv2.error:
        console.print("[yellow]preview: this OpenCV build has no windows (opencv-python-headless); running headless[/]")
        return False
    return True
