"""Media formats: audio in any rate/channels/codec comes out as 16 kHz mono blocks of 512; video in
MJPG/AVI and H.264/MP4 reads at the right rate, size and times; video-only and audio-only replays."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import cv2
import jiwer
import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf

from dialogue.offline import offline_reply
from dialogue.prompt import ReplyRequest
from perception.frames import VideoFileSource
from speech.audio_file import AudioFileSource

from .conftest import SESSION, read_events, run_main

AUDIO = SESSION / "audio.wav"
VIDEO = SESSION / "video.mp4"
RATE = 16_000
BLOCK = 512
CLIP_S = 3.0


def ffmpeg(*args: str) -> None:
    proc = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def envelope(audio: npt.NDArray[np.float32], rate: int = RATE, window_s: float = 0.02) -> npt.NDArray[np.float64]:
    """RMS in consecutive windows of ``window_s``."""
    n = round(rate * window_s)
    frames = audio[: len(audio) // n * n].astype(np.float64).reshape(-1, n)
    return np.asarray(np.sqrt((frames**2).mean(axis=1)))


@pytest.fixture(scope="module")
def reference() -> npt.NDArray[np.float32]:
    audio, rate = sf.read(AUDIO, dtype="float32")
    assert rate == RATE and audio.ndim == 1
    return np.asarray(audio)


AUDIO_FORMATS = [
    pytest.param("flac", ["-ar", "44100", "-ac", "2"], 44_100, 2, id="flac-44k1-stereo"),
    # Speech on the right channel only: a downmix that just takes channel 0 would hear silence.
    pytest.param("flac", ["-ar", "44100", "-af", "pan=stereo|c0=0*c0|c1=c0"], 44_100, 2, id="flac-44k1-right-only"),
    pytest.param("mp3", ["-ar", "48000", "-ac", "1", "-b:a", "64k"], 48_000, 1, id="mp3-48k-mono"),
    pytest.param("wav", ["-ar", "8000"], 8_000, 1, id="wav-8k"),
]


@pytest.mark.parametrize(("ext", "options", "rate", "channels"), AUDIO_FORMATS)
def test_audio_file_becomes_16k_mono_blocks(
    ext: str, options: list[str], rate: int, channels: int, reference: npt.NDArray[np.float32], tmp_path: Path
) -> None:
    path = tmp_path / f"converted.{ext}"
    ffmpeg("-i", str(AUDIO), *options, str(path))
    source = AudioFileSource(path)
    assert (source.native_rate, source.channels) == (rate, channels)

    blocks = list(source.blocks())
    assert blocks and all(b.dtype == np.float32 and b.shape == (BLOCK,) for b in blocks)
    audio = np.concatenate(blocks)
    expected_s = len(reference) / RATE
    assert abs(source.duration - expected_s) < 0.1
    assert abs(len(audio) / RATE - expected_s) < 0.1

    ours, theirs = envelope(audio), envelope(reference)
    n = min(len(ours), len(theirs))
    assert np.std(ours[:n]) > 0, "decoded audio is silent"
    assert np.corrcoef(ours[:n], theirs[:n])[0, 1] > 0.9


@pytest.fixture(scope="module")
def original_frames() -> tuple[float, npt.NDArray[np.int16]]:
    """The bundled video's frame rate and its first ``CLIP_S`` seconds of frames."""
    cap = cv2.VideoCapture(str(VIDEO))
    fps = float(cap.get(cv2.CAP_PROP_FPS))
    frames = []
    for _ in range(round(CLIP_S * fps)):
        ok, image = cap.read()
        assert ok
        frames.append(image)
    cap.release()
    return fps, np.stack(frames).astype(np.int16)


@pytest.fixture(scope="module")
def h264_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("h264") / "desk-3s.mp4"
    ffmpeg("-i", str(VIDEO), "-t", str(CLIP_S), "-an", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path))
    return path


@pytest.mark.parametrize("clip", ["desk_clip", "h264_clip"], ids=["avi-mjpg", "mp4-h264"])
def test_video_file_rate_size_duration_and_frames(
    clip: str, original_frames: tuple[float, npt.NDArray[np.int16]], request: pytest.FixtureRequest
) -> None:
    fps, originals = original_frames
    source = VideoFileSource(request.getfixturevalue(clip))
    assert source.fps == pytest.approx(fps, abs=0.01)
    assert source.size == (originals.shape[2], originals.shape[1])
    assert abs(source.duration - CLIP_S) <= 1 / fps + 1e-6

    asked: list[float] = []

    def every_third(t: float) -> bool:
        asked.append(t)
        return round(t * fps) % 3 == 0

    frames = list(source.frames(every_third))
    assert abs(len(asked) - len(originals)) <= 1
    assert np.allclose(np.diff(asked), 1 / fps)
    assert [f.t for f in frames] == [t for t in asked if round(t * fps) % 3 == 0]
    assert len(frames) >= len(originals) // 3
    for frame in frames:
        assert frame.index == round(frame.t * fps)
        assert frame.image.dtype == np.uint8 and frame.image.shape == originals.shape[1:]
        # The picture at time t is the original frame at t: closer to it than to any other.
        distance = np.abs(originals - frame.image.astype(np.int16)).mean(axis=(1, 2, 3))
        assert int(np.argmin(distance)) == frame.index


def test_video_only_replay_describes_scenes_and_hears_nothing(desk_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_main("--video", str(desk_clip), "--speed", "0", "--out", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    events = read_events(out)
    assert all(isinstance(e["type"], str) and isinstance(e["t"], float | int) for e in events)
    types = [e["type"] for e in events]
    assert types[0] == "session_start" and types[-1] == "session_end"
    assert events[-1]["reason"] == "end_of_media"
    scenes = [e for e in events if e["type"] == "scene"]
    assert scenes and all(e["text"].strip() and 0 <= e["frame_t"] <= CLIP_S for e in scenes)
    assert "transcript" not in types and "speech_start" not in types and "reply_text" not in types


def _words(text: str) -> str:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).strip()


def test_audio_only_replay_answers_without_a_scene(
    session_manifest: dict[str, Any], tmp_path: Path
) -> None:
    start_s, end_s = 1.0, 5.0
    question = session_manifest["questions"][0]
    assert start_s < question["start"] < question["end"] < end_s
    audio, rate = sf.read(AUDIO, dtype="int16")
    piece = tmp_path / "question.wav"
    sf.write(piece, audio[round(start_s * rate) : round(end_s * rate)], rate)

    out = tmp_path / "out"
    proc = run_main(
        "--audio", str(piece), "--speed", "0", "--set", "dialogue.backend=offline", "--out", str(out), "-q",
    )
    assert proc.returncode == 0, proc.stderr
    events = read_events(out)
    types = [e["type"] for e in events]
    assert "scene" not in types

    heard = [e for e in events if e["type"] == "transcript" and e["final"]]
    assert len(heard) == 1
    assert jiwer.wer(_words(question["text"]), _words(heard[0]["text"])) <= 0.2, heard[0]["text"]
    speech = next(e for e in events if e["type"] == "speech_end")
    assert abs(speech["speech_start_at"] - (question["start"] - start_s)) < 0.3

    replies = [e for e in events if e["type"] == "reply_text"]
    assert len(replies) == 1
    reply = replies[0]
    assert reply["question"] == heard[0]["text"]
    assert "shown me nothing" in reply["text"]
    no_scene = ReplyRequest(question=heard[0]["text"], scene=None, scene_age_s=None, messages=[])
    assert reply["text"] == offline_reply(no_scene)
    assert (out / "replies" / f"turn-{reply['turn']:02d}.wav").is_file()
