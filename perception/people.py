"""Faces and people in a frame: OpenCV's Haar face cascade and HOG people detector, on the frame shrunk."""

from __future__ import annotations

import cv2
import numpy as np
from cv2.data import haarcascades

from kernel.errors import ModelError

from .frames import Image

DETECT_WIDTH = 320  # faces and people are looked for at this width
_DETECT_MIN_HEIGHT = 160  # ...or taller, for wide frames (1920x480 is looked at as 640x160)


def face_cascade() -> cv2.CascadeClassifier:
    """OpenCV's Haar frontal-face cascade; :class:`ModelError` if it does not load."""
    path = haarcascades + "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise ModelError(f"could not load the Haar cascade {path}")
    return cascade


def people_detector() -> cv2.HOGDescriptor:
    """OpenCV's HOG people detector (upright, whole bodies)."""
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor.getDefaultPeopleDetector())
    return hog


def count_faces(cascade: cv2.CascadeClassifier, gray: Image) -> int:
    """Frontal faces in a grayscale image (best at :data:`DETECT_WIDTH`). Not thread-safe per cascade."""
    return len(find_faces(cascade, gray))


def find_faces(cascade: cv2.CascadeClassifier, gray: Image) -> list[tuple[float, float, float, float]]:
    """The frontal faces in a grayscale image, each as (x1, y1, x2, y2) in fractions of its width
    and height, as the object detector gives its boxes. Not thread-safe per cascade."""
    faces = cascade.detectMultiScale(cv2.equalizeHist(gray), scaleFactor=1.1, minNeighbors=6, minSize=(24, 24))
    height, width = gray.shape[:2]
    return [(x / width, y / height, (x + w) / width, (y + h) / height) for x, y, w, h in faces]


def count_people(hog: cv2.HOGDescriptor, image: Image) -> int:
    """Confident HOG detections of people in a BGR image (best at :data:`DETECT_WIDTH`).

    An image smaller than the detector's window (64x128) holds no whole person, and
    OpenCV kills the process on one under it (SIGSEGV or SIGABRT: 160x90 does), so it is
    not looked at; :func:`detection_image` keeps a wide frame tall enough to be."""
    window_w, window_h = hog.winSize
    if image.shape[0] < window_h or image.shape[1] < window_w:
        return 0
    boxes, weights = hog.detectMultiScale(image, winStride=(8, 8), padding=(8, 8), scale=1.1)
    return int(sum(1 for w in np.ravel(weights) if w > 0.5)) if len(boxes) else 0


def detection_image(image: Image) -> Image:
    """``image`` shrunk for the face and people detectors: :data:`DETECT_WIDTH` wide, or
    :data:`_DETECT_MIN_HEIGHT` tall when that would leave a wide frame too short; never enlarged."""
    height, width = image.shape[:2]
    scale = max(DETECT_WIDTH / width, _DETECT_MIN_HEIGHT / height)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized: Image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return resized
