#!/usr/bin/env python3
"""How long the offline describer takes per 640x480 frame, and each of its parts, on this CPU.

    .venv/bin/python benchmarks/describer_speed.py [--repeats 10]

Frames: the bundled session's three scenes and three real photos from scikit-image (a cup
of coffee, a cat, a person). Prints the median ms per frame of the object detector (one
thread, as the describer runs it), of RapidOCR (one thread), and of the whole describe,
with what it said, all from one run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perception.basic import BasicDescriber  # noqa: E402
from perception.objects import ObjectDetector  # noqa: E402
from perception.ocr import make_text_reader  # noqa: E402


def frames() -> dict[str, np.ndarray]:
    from skimage import data

    out: dict[str, np.ndarray] = {}
    cap = cv2.VideoCapture(str(ROOT / "examples" / "sessions" / "desk" / "video.mp4"))
    for name, t in (("desk", 3.0), ("sign", 12.0), ("ball", 25.0)):
        cap.set(cv2.CAP_PROP_POS_MSEC, t * 1000)
        ok, image = cap.read()
        assert ok, f"no frame at {t} s"
        out[name] = image
    for name in ("coffee", "chelsea", "astronaut"):
        rgb = getattr(data, name)()
        out[name] = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), (640, 480))
    return out


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=10)
    args = p.parse_args()
    detector = ObjectDetector(threads=1)
    reader = make_text_reader("rapidocr")
    assert reader is not None
    describer = BasicDescriber(text="rapidocr", objects=detector.names)
    print(f"{'frame':10s} {'objects':>8s} {'text':>8s} {'describe':>9s}  (median ms of {args.repeats})")
    totals = []
    for name, image in frames().items():
        objects = median_ms(lambda image=image: detector.detect(image), args.repeats)
        text = median_ms(lambda image=image: reader.read(image), args.repeats)
        whole = median_ms(lambda image=image: describer.describe(image), args.repeats)
        totals.append(whole)
        print(f"{name:10s} {objects:8.0f} {text:8.0f} {whole:9.0f}  {describer.describe(image)}")
    print(f"median describe: {statistics.median(totals):.0f} ms per frame")


if __name__ == "__main__":
    main()
