"""Generate the bundled sample session (`examples/sessions/desk/`).

30 s of synthetic camera video (640x480, 10 fps, mp4v) in three scenes and a
16 kHz mono track with one spoken question per scene (espeak-ng):

  0-10 s   a wooden desk with a blue mug; a sheet of paper and a pencil slide
  10-20 s  a red sign with a white panel reading "OPEN"
  20-30 s  a dark room with a large green ball rolling left to right

Output is deterministic for a given OpenCV / espeak-ng / soxr build. By default
each question is checked to transcribe word for word with both recognizer
profiles, the accurate default (Whisper base) and the fast tiny.en (`--no-verify`
skips that).

    python scripts/make_sample_session.py [--out DIR] [--no-verify]
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import soundfile as sf
import soxr

logger = logging.getLogger("make_sample_session")

WIDTH, HEIGHT, FPS, SECONDS = 640, 480, 10, 30
SAMPLE_RATE = 16_000
MAX_FOLDER_BYTES = 3 * 1024 * 1024
SILENCE_THRESHOLD = 0.01  # |sample| above this counts as speech when trimming espeak output
# (before, after) seconds of silence kept around a question when checking it
VERIFY_MARGINS_S = ((0.05, 0.05), (0.2, 0.5), (0.5, 0.2), (0.5, 0.5), (1.0, 1.0), (0.3, 1.5))
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "examples" / "sessions" / "desk"
DESCRIPTION = (
    "Synthetic desk camera with three scenes: a wooden desk with a blue mug and a "
    "sheet of paper with a pencil sliding across (0-10 s), a red sign reading OPEN (10-20 s), and a dark "
    "room with a green ball rolling across (20-30 s). One spoken question per scene."
)

Frame = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    at: float  # where the first non-silent sample is placed, seconds


QUESTIONS = (
    Question("What is in front of you?", 2.0),
    Question("Can you read the sign for me?", 11.5),
    Question("Where is the green ball going?", 21.5),
)


def desk_frame(t: float) -> Frame:
    frame = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    frame[:] = (85, 130, 175)  # BGR light wood
    for y in range(12, HEIGHT, 23):  # wood grain, fixed pattern
        shade = 70 + (y * 7) % 17
        cv2.line(frame, (0, y), (WIDTH, y + 6), (shade, 108 + shade // 3, 152), 2, cv2.LINE_AA)
    x = int(20 + 30 * t)  # a sheet of paper with a pencil on it slides 30 px/s
    cv2.rectangle(frame, (x, 190), (x + 150, 400), (235, 240, 242), -1)
    cv2.rectangle(frame, (x + 20, 280), (x + 150, 294), (40, 210, 240), -1)
    pts = np.array([[x + 150, 280], [x + 170, 287], [x + 150, 294]], np.int32)
    cv2.fillConvexPoly(frame, pts, (120, 170, 210), cv2.LINE_AA)
    cv2.rectangle(frame, (380, 150), (580, 380), (190, 80, 25), -1)  # blue mug
    cv2.ellipse(frame, (380, 265), (60, 70), 0, 90, 270, (190, 80, 25), 22, cv2.LINE_AA)
    cv2.ellipse(frame, (480, 150), (100, 22), 0, 0, 360, (120, 50, 15), -1, cv2.LINE_AA)
    return frame


def sign_frame(_t: float) -> Frame:
    frame = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    frame[:] = (150, 150, 150)  # grey wall
    cv2.rectangle(frame, (30, 80), (610, 400), (30, 30, 210), -1)  # red board
    cv2.rectangle(frame, (80, 140), (560, 340), (255, 255, 255), -1)  # white panel
    font, scale, thickness = cv2.FONT_HERSHEY_DUPLEX, 4.0, 10
    (w, h), _ = cv2.getTextSize("OPEN", font, scale, thickness)
    org = ((WIDTH - w) // 2, 240 + h // 2)
    cv2.putText(frame, "OPEN", org, font, scale, (0, 0, 0), thickness, cv2.LINE_AA)
    return frame


def ball_frame(t: float) -> Frame:
    frame = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    frame[:] = (22, 16, 12)  # dark room
    cv2.rectangle(frame, (0, 380), (WIDTH, HEIGHT), (32, 26, 20), -1)  # floor
    x = int(-60 + 76 * t)  # crosses the frame in ~10 s
    cv2.circle(frame, (x, 270), 110, (40, 190, 40), -1, cv2.LINE_AA)
    cv2.circle(frame, (x - 35, 235), 28, (110, 235, 110), -1, cv2.LINE_AA)  # highlight
    return frame


def frame_at(t: float) -> Frame:
    if t < 10:
        return desk_frame(t)
    if t < 20:
        return sign_frame(t - 10)
    return ball_frame(t - 20)


def write_video(path: Path, frames: Callable[[float], Frame] | None = None, seconds: int = SECONDS) -> None:
    """``seconds`` of ``frames(t)`` (default: this session's scenes) as mp4v at FPS."""
    frames = frames or frame_at
    fourcc = cv2.VideoWriter.fourcc(*"mp4v")
    writer = cv2.VideoWriter(str(path), fourcc, float(FPS), (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise SystemExit(f"OpenCV could not open an mp4v writer for {path}")
    try:
        for i in range(FPS * seconds):
            writer.write(frames(i / FPS))
    finally:
        writer.release()


VOICE, WPM = "en-gb-x-rp", 140  # both recognizer profiles hear every question word for word


def speak(text: str, voice: str | None = None, wpm: int | None = None) -> tuple[npt.NDArray[np.float32], int, int]:
    """espeak-ng speech at 16 kHz, with the first and last non-silent sample index."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "tts.wav"
        cmd = ["espeak-ng", "-v", voice or VOICE, "-s", str(wpm or WPM), "-w", str(wav), text]
        subprocess.run(cmd, check=True, capture_output=True)
        audio, rate = sf.read(wav, dtype="float32", always_2d=True)
    mono = np.asarray(soxr.resample(audio[:, 0], rate, SAMPLE_RATE), dtype=np.float32)
    loud = np.flatnonzero(np.abs(mono) > SILENCE_THRESHOLD)
    return mono, int(loud[0]), int(loud[-1])


def build_audio() -> tuple[npt.NDArray[np.int16], list[dict[str, object]]]:
    """Each whole espeak clip is placed so its speech starts at `Question.at`;
    start/end in the result are the non-silent span, in seconds."""
    track = np.zeros(SAMPLE_RATE * SECONDS, np.float32)
    spans: list[dict[str, object]] = []
    for question in QUESTIONS:
        clip, first, last = speak(question.text)
        offset = round(question.at * SAMPLE_RATE) - first
        track[offset : offset + len(clip)] = clip
        spans.append(
            {
                "text": question.text,
                "start": round((offset + first) / SAMPLE_RATE, 3),
                "end": round((offset + last + 1) / SAMPLE_RATE, 3),
            }
        )
    pcm = np.round(np.clip(track, -1.0, 1.0) * 32767).astype(np.int16)
    return pcm, spans


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def verify_transcripts(pcm: npt.NDArray[np.int16], spans: list[dict[str, object]]) -> bool:
    """Each question must come back word for word from both recognizer profiles (the accurate
    default and the fast ``tiny.en``), whatever the margin of silence a voice-activity
    detector might leave around it."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from speech.asr import WhisperAsr
    from speech.settings import AsrSettings

    accurate = AsrSettings()
    profiles = {
        "accurate": WhisperAsr(accurate.model, beam_size=accurate.beam_size, initial_prompt=accurate.initial_prompt),
        "fast": WhisperAsr("tiny.en", beam_size=accurate.beam_size, initial_prompt=accurate.initial_prompt),
    }
    audio = pcm.astype(np.float32) / 32768.0
    ok = True
    for profile, model in profiles.items():
        for span in spans:
            start, end = float(str(span["start"])), float(str(span["end"]))
            for before, after in VERIFY_MARGINS_S:
                clip = audio[round((start - before) * SAMPLE_RATE) : round((end + after) * SAMPLE_RATE)]
                heard = model.transcribe(clip)
                match = words(heard) == words(str(span["text"]))
                ok &= match
                logger.info("%s %s margins %.2f/%.2f s: %r heard as %r", "ok  " if match else "FAIL",
                            profile, before, after, span["text"], heard)
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--no-verify", action="store_true", help="skip the Whisper check")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    write_video(out / "video.mp4")
    pcm, spans = build_audio()
    sf.write(out / "audio.wav", pcm, SAMPLE_RATE, subtype="PCM_16")
    session = {
        "name": "desk",
        "video": "video.mp4",
        "audio": "audio.wav",
        "questions": spans,
        "description": DESCRIPTION,
    }
    (out / "session.json").write_text(json.dumps(session, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file()}
    logger.info("wrote %s: %s", out, ", ".join(f"{k} {v} B" for k, v in sizes.items()))
    if sum(sizes.values()) > MAX_FOLDER_BYTES:
        logger.error("session folder is %d B, over the %d B budget", sum(sizes.values()), MAX_FOLDER_BYTES)
        return 1
    if not args.no_verify and not verify_transcripts(pcm, spans):
        logger.error("a question did not transcribe word for word; pick other wording")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
