"""The app: the root settings, the command line and its modes (replay, live, the kiosk, the
browser), the console, the report and ``--check``. It sits on top of every other package and
nothing imports it (``tests/test_layers.py``)."""

import os

# Quiet the ffmpeg/OpenCV loggers before anything imports cv2: bad input gets our one line.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")

from .settings import Settings, load_settings, parse_override

__all__ = ["Settings", "load_settings", "parse_override"]
