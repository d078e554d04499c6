"""Frames of any size, through every per-frame OpenCV/ONNX path: the ``basic`` describer as the
pipeline builds it (faces, people, objects, shapes, RapidOCR), attract mode's presence detector
and the change gate. OpenCV kills the process outright on some sizes (HOG on a frame under its
128-px window: SIGSEGV), which would take pytest down with it, so the frames are looked at in a
child process (this module run as a script) and the test reads what it printed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf

from .conftest import ROOT, SESSION, read_events, run_main

SAMPLE = (1, 2, 7, 8, 12, 31, 32, 33, 40, 64, 127, 128, 129)  # the other side, for every side of 1..40
WIDE = (64, 65, 100, 128, 160, 320, 321, 640, 1920, 4000)  # with a short side: HOG's crashing ground
SHORT = (1, 2, 8, 32, 90, 127)
NAMED = ((1, 1), (2, 2), (1, 500), (500, 1), (160, 90), (1920, 480), (4000, 8), (8, 4000), (96, 100), (100, 96))
EXTREME = ((1, 4000), (4000, 1), (2, 8000), (8000, 2), (10, 10000), (10000, 10), (40, 16000), (16000, 40))


def sizes() -> list[tuple[int, int]]:
    """(width, height): every side of 1..40 against a sample, wide-and-short frames, the sizes that
    killed the process, and extreme aspect ratios; each also turned on its side."""
    found = {(n, other) for n in range(1, 41) for other in SAMPLE}
    found |= {(w, h) for w in WIDE for h in SHORT}
    found |= set(NAMED) | set(EXTREME)
    found |= {(h, w) for w, h in found}
    return sorted(found)


def look_at(sizes: list[tuple[int, int]]) -> None:
    """The child: one line per size, printed (and flushed) once every path has handled it."""
    from kiosk.attract import PresenceDetector
    from perception.frames import VideoFileSource
    from perception.registry import make_describer
    from perception.sampling import ChangeGate
    from perception.settings import BasicDescriberSettings

    describer = make_describer(BasicDescriberSettings(objects=True, text="rapidocr", people=True))
    presence = PresenceDetector("any")
    desk = next(VideoFileSource(SESSION / "video.mp4").frames()).image
    for width, height in sizes:
        image = cv2.resize(desk, (width, height), interpolation=cv2.INTER_AREA)
        line = describer.describe(image)
        seen = presence.detect(image)
        passed, _ = ChangeGate(0.03).check(image)
        print(json.dumps({"size": [width, height], "line": line, "seen": seen, "gate": passed}), flush=True)


def test_every_frame_size_is_handled_by_every_path() -> None:
    wanted = sizes()
    proc = subprocess.run(
        [sys.executable, "-m", "tests.test_odd_frames", *(f"{w}x{h}" for w, h in wanted)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    done = [tuple(r["size"]) for r in results]
    after = f"after {done[-1][0]}x{done[-1][1]}" if done else "before the first size"
    assert proc.returncode == 0, f"the child died ({proc.returncode}) {after}: {proc.stderr[-2000:]}"
    assert done == wanted
    for r in results:
        assert isinstance(r["line"], str) and r["line"], r
        assert isinstance(r["seen"], bool), r  # (a desk stretched to 127x1280 can look like a person)
        assert r["gate"] is True, r  # a fresh gate lets the first frame through


def test_attract_finds_a_face_in_a_wide_banner_frame() -> None:
    """A 1920x480 camera with a face about 130 px wide: shrunk to 320 px wide (320x80) the cascade
    does not find it; the detector looks at it as 640x160, as the describer does, and does."""
    from kiosk.attract import PresenceDetector

    data = pytest.importorskip("skimage.data")
    portrait = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[0:320, 60:380]
    banner = np.full((480, 1920, 3), 200, np.uint8)
    banner[:, 720:1200] = cv2.resize(portrait, (480, 480), interpolation=cv2.INTER_CUBIC)
    assert PresenceDetector("face").detect(banner)
    assert not PresenceDetector("face").detect(np.full((480, 1920, 3), 200, np.uint8))


def write_video(path: Path, width: int, height: int, seconds: float = 3.0, fps: int = 10) -> None:
    """The desk scene shrunk or stretched to ``width`` x ``height``, as MPEG-4 in an mp4."""
    from perception.frames import VideoFileSource

    frames = VideoFileSource(SESSION / "video.mp4").frames(lambda t: t < seconds)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
    try:
        for frame in frames:
            if frame.index % 3 == 0:  # 30 fps in, 10 out
                writer.write(cv2.resize(frame.image, (width, height), interpolation=cv2.INTER_AREA))
    finally:
        writer.release()


@pytest.mark.parametrize(("width", "height"), [(2, 2), (160, 90), (1920, 480)])
def test_replay_of_a_tiny_or_wide_video_runs_to_the_end(tmp_path: Path, width: int, height: int) -> None:
    video = tmp_path / f"{width}x{height}.mp4"
    write_video(video, width, height)
    check = cv2.VideoCapture(str(video))
    ok, first = check.read()
    check.release()
    assert ok and first.shape[:2] == (height, width), f"OpenCV did not write a {width}x{height} mp4"
    audio = tmp_path / "audio.wav"
    samples, rate = sf.read(SESSION / "audio.wav", dtype="float32", frames=3 * 16_000)
    sf.write(audio, samples, rate)
    out = tmp_path / "out"
    proc = run_main("--config", str(ROOT / "configs" / "demo.yaml"), "--video", str(video), "--audio", str(audio),
                    "--speed", "0", "--set", "dialogue.backend=offline", "--out", str(out), "-q")
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    events = read_events(out)
    assert events[-1]["type"] == "session_end" and events[-1]["reason"] == "end_of_media", events[-1]
    scenes = [e for e in events if e["type"] == "scene"]
    assert scenes and all(e["text"] for e in scenes), scenes


if __name__ == "__main__":
    look_at([(int(w), int(h)) for w, h in (arg.split("x") for arg in sys.argv[1:])])
