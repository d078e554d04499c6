"""SessionRecorder: a recorded folder replays with its timeline intact, survives SIGKILL,
and hears the same words as the media it recorded.

Frames carry a binary stamp of their source index (white/black cells in the top-left
corner) so that the frame at each recorded index can be identified through JPEG."""

from __future__ import annotations

import json
import math
import os
import select
import signal
import subprocess
import sys
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from assistant.config import InputSettings
from assistant.recorder import SessionRecorder
from assistant.session import Sources, prepare_sources
from kernel.errors import InputError
from omnilive.settings import Settings
from perception.frames import Frame, Image, VideoFileSource
from speech.audio import BLOCK, SAMPLE_RATE, Audio, AudioBlock
from speech.audio_file import AudioFileSource

from .conftest import ROOT, SESSION, read_events, run_main, write_clip

FPS = 10.0
SECONDS = 8.0
BITS = 10


def stamp(image: Image, index: int, cell: int) -> Image:
    """Stamp ``index + 1``, so that no frame's stamp is all black."""
    out, code = image.copy(), index + 1
    for bit in range(BITS):
        out[:cell, bit * cell : (bit + 1) * cell] = 255 if code >> bit & 1 else 0
    return out


def read_stamp(image: Image, cell: int) -> int:
    return sum(1 << bit for bit in range(BITS) if image[:cell, bit * cell : (bit + 1) * cell].mean() > 127) - 1


def jitter(index: int) -> float:
    """Deterministic, -30..+30 ms."""
    return ((index * 37) % 61 - 30) / 1000


def slot(t: float) -> int:
    return math.floor(t * FPS + 0.5)


def shown_at(fed: list[Frame], n: int) -> list[Frame]:
    """What a constant-rate replay should show at each index: the first frame fed for that
    index, else the last frame shown before it (before the first frame: the first frame)."""
    first: dict[int, Frame] = {}
    for f in fed:
        first.setdefault(slot(f.t), f)
    shown, current = [], fed[0]
    for k in range(n):
        current = first.get(k, current)
        shown.append(current)
    return shown


def feed(recorder: SessionRecorder, blocks: list[Audio], frames: list[Frame], skip_block: int = -1) -> None:
    """Interleave blocks and frames in media order, as a live session would; each frame is
    waited into the encoder (a live camera's pace), so none is dropped."""
    pending = iter(frames)
    frame = next(pending, None)
    for i, samples in enumerate(blocks):
        t = i * BLOCK / SAMPLE_RATE
        while frame is not None and frame.t <= t:
            recorder.write_frame(frame)
            assert recorder.flush(timeout=10)
            frame = next(pending, None)
        if i != skip_block:
            recorder.write_audio(AudioBlock(t, samples))
    assert frame is None, "frames past the end of the audio"


def open_session(folder: Path) -> Sources:
    return prepare_sources(Settings(input=InputSettings(session=folder)))


def read_all(sources: Sources) -> tuple[Audio, list[Frame]]:
    assert sources.audio is not None and sources.video is not None
    return np.concatenate(list(sources.audio.blocks())), list(sources.video.frames())


# --- round trip of the desk session ------------------------------------------------------


@dataclass
class Recorded:
    folder: Path
    audio: Audio
    frames: list[Frame]  # as fed: live times with jitter, stamped with their source index
    recorder: SessionRecorder


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    folder = tmp_path_factory.mktemp("recorded") / "session"
    blocks = list(AudioFileSource(SESSION / "audio.wav").blocks())[: round(SECONDS * SAMPLE_RATE / BLOCK)]
    frames = [
        Frame(max(f.t + jitter(f.index), 0.0), f.index, stamp(f.image, f.index, cell=16))
        for f in VideoFileSource(SESSION / "video.mp4").frames()
        if f.index % 3 == 0 and f.t < SECONDS
    ]
    recorder = SessionRecorder(folder, fps=FPS)
    with recorder:
        feed(recorder, blocks, frames)
    return Recorded(folder, np.concatenate(blocks), frames, recorder)


def test_round_trip_keeps_audio_and_the_frame_timeline(recorded: Recorded) -> None:
    audio, replayed = read_all(open_session(recorded.folder))
    assert len(audio) == len(recorded.audio) == SECONDS * SAMPLE_RATE
    assert np.abs(audio - recorded.audio).max() <= 1.5 / 32768  # int16 quantisation

    sources = open_session(recorded.folder)
    assert sources.video is not None and sources.video.fps == FPS
    assert len(replayed) == round(SECONDS * FPS)
    stats = recorded.recorder.stats
    assert stats.frames_dropped == 0 and stats.frames_in == len(recorded.frames)

    fed = {f.index: f for f in recorded.frames}
    for k, (want, got) in enumerate(zip(shown_at(recorded.frames, len(replayed)), replayed, strict=True)):
        assert read_stamp(got.image, cell=16) == want.index, f"index {k}"
        if slot(want.t) == k:  # a frame written at its own time, not a repeat
            diff = np.abs(got.image.astype(np.int16) - want.image.astype(np.int16)).mean()
            assert diff < 4.0, (k, diff)
    for f in recorded.frames:  # each live frame is on screen within one frame period of its time
        shown = fed[read_stamp(replayed[slot(f.t)].image, cell=16)]
        assert abs(shown.t - f.t) < 1 / FPS and abs(replayed[slot(f.t)].t - f.t) <= 0.5 / FPS + 1e-9


def test_manifest_names_the_files_and_the_recording(recorded: Recorded) -> None:
    manifest = json.loads((recorded.folder / "session.json").read_text())
    assert manifest["video"] == "video.mkv" and manifest["audio"] == "audio.wav"
    assert manifest["events"] == "events.jsonl" and manifest["recorded"] is True
    assert manifest["fps"] == FPS and manifest["started"] < manifest["ended"]
    assert manifest["audio_s"] == manifest["video_s"] == SECONDS
    assert not (recorded.folder / "session.json.tmp").exists()


# --- irregular frames: skips, repeats, a late first frame, a resize, an audio gap ----------


def test_irregular_frames_and_an_audio_gap_stay_on_the_clock(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    times = 0.35 + np.cumsum(np.r_[0.0, rng.uniform(0.01, 0.25, 40)])
    times = times[times < 1.9]
    frames = []
    for i, t in enumerate(times):
        image = np.full((120, 160, 3), (i * 40) % 256, dtype=np.uint8)
        if i == 5:  # a frame of another size is resized to the first frame's
            image = np.full((240, 320, 3), 90, dtype=np.uint8)
        frames.append(Frame(float(t), i, stamp(image, i, cell=16 if i == 5 else 8)))
    blocks = [rng.uniform(-0.5, 0.5, BLOCK).astype(np.float32) for _ in range(63)]
    folder = tmp_path / "irregular"
    recorder = SessionRecorder(folder, fps=FPS)
    recorder.start()
    assert json.loads((folder / "session.json").read_text())["video"] == "video.mkv"
    feed(recorder, blocks, frames, skip_block=10)
    with wave.open(str(folder / "audio.wav")) as w:  # the header is current while recording
        assert w.getnframes() == recorder.stats.audio_samples == len(blocks) * BLOCK
    recorder.close()

    expected_skips = len(frames) - len({slot(f.t) for f in frames})
    assert expected_skips > 0 and recorder.stats.frames_skipped == expected_skips
    assert recorder.stats.audio_gap_samples == BLOCK

    audio, replayed = read_all(open_session(folder))
    assert not audio[10 * BLOCK : 11 * BLOCK].any()  # the missing block is silence, in its place
    assert np.abs(audio[11 * BLOCK :] - np.concatenate(blocks[11:])).max() <= 1.5 / 32768
    assert len(replayed) == round(len(blocks) * BLOCK / SAMPLE_RATE * FPS) and replayed[0].image.shape == (120, 160, 3)
    shown = shown_at(frames, len(replayed))
    assert shown[0] is frames[0] and slot(frames[0].t) == 4  # 0..3 repeat the first frame
    for k, (want, got) in enumerate(zip(shown, replayed, strict=True)):
        assert read_stamp(got.image, cell=8) == want.index, f"index {k}"


def test_a_folder_holding_a_recording_is_not_overwritten(recorded: Recorded) -> None:
    with pytest.raises(InputError, match="already holds a recording"):
        SessionRecorder(recorded.folder).start()


# --- SIGKILL in the middle of a recording ----------------------------------------------------


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Block until a process that is not our child exits."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


@pytest.mark.parametrize("kill_encoder", [False, True], ids=["recorder-killed", "recorder-and-ffmpeg-killed"])
def test_a_killed_recording_replays(kill_encoder: bool, tmp_path: Path, record_property: Any) -> None:
    """SIGKILL the recording process after 3 s of media; ffmpeg finalises the video on EOF.
    With ``kill_encoder`` ffmpeg dies too (an OOM kill of the group): the Matroska file is
    cut mid-cluster and still plays up to its last complete cluster (≤ 1 s)."""
    folder, out = tmp_path / "killed", tmp_path / "out"
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.recorder_child", str(folder)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    kind, pid = child.stdout.readline().split()
    assert kind == "encoder"
    handed = {"audio": 0.0, "frame": -1.0}
    for line in child.stdout:
        what, t = line.split()
        handed[what] = float(t)
        if handed["audio"] >= 3.0:
            break
    os.kill(child.pid, signal.SIGKILL)
    if kill_encoder:
        os.kill(int(pid), signal.SIGKILL)
    for line in child.stdout:  # what it wrote before it died
        what, t = line.split()
        handed[what] = float(t)
    assert child.wait(timeout=10) == -signal.SIGKILL
    assert wait_for_exit(int(pid), timeout=30), "ffmpeg did not finish after EOF"
    assert (folder / "video.mkv").stat().st_size > 0

    assert "ended" not in json.loads((folder / "session.json").read_text())  # it really died
    with wave.open(str(folder / "audio.wav")) as w:
        nframes = w.getnframes()
    audio_s = nframes / SAMPLE_RATE
    assert (folder / "audio.wav").stat().st_size - 44 - nframes * 2 <= BLOCK * 2  # header ≤ 1 block behind
    sources = open_session(folder)
    assert sources.audio is not None and sources.video is not None
    video_s = sum(1 for _ in sources.video.frames()) / FPS
    assert audio_s >= 2.0 and video_s >= 2.0
    audio_lost, video_lost = handed["audio"] - audio_s, handed["frame"] + 1 / FPS - video_s
    record_property("audio_lost_s", round(audio_lost, 3))
    record_property("video_lost_s", round(video_lost, 3))
    assert abs(audio_lost) <= BLOCK / SAMPLE_RATE + 1e-3
    assert -1 / FPS - 1e-3 <= video_lost <= (1.0 if kill_encoder else 0.0) + 2 / FPS + 1e-3

    proc = run_main("--session", str(folder), "--speed", "0", "--out", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    assert read_events(out)[-1]["type"] == "session_end"


# --- the recorded folder hears what the original did -----------------------------------------


def transcripts(out: Path) -> list[dict[str, Any]]:
    events = read_events(out)
    ends = [e for e in events if e["type"] == "speech_end"]
    finals = [e for e in events if e["type"] == "transcript" and e["final"]]
    assert len(ends) == len(finals)
    return [
        {"text": f["text"], "start": e["speech_start_at"], "end": e["speech_end_at"]}
        for e, f in zip(ends, finals, strict=True)
    ]


def test_a_recorded_folder_replays_to_the_same_transcript(recorded: Recorded, tmp_path: Path) -> None:
    original = tmp_path / "original"
    original.mkdir()
    sf.write(original / "audio.wav", recorded.audio, SAMPLE_RATE, subtype="PCM_16")
    write_clip(SESSION / "video.mp4", original / "video.avi", SECONDS)
    first = run_main(
        "--video", str(original / "video.avi"), "--audio", str(original / "audio.wav"),
        "--speed", "0", "--out", str(tmp_path / "out-original"), "-q",
    )  # fmt: skip
    second = run_main("--session", str(recorded.folder), "--speed", "0", "--out", str(tmp_path / "out-recorded"), "-q")
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr

    heard, replayed = transcripts(tmp_path / "out-original"), transcripts(tmp_path / "out-recorded")
    assert [h["text"] for h in heard] == [r["text"] for r in replayed]
    assert len(heard) == 1 and "front of you" in heard[0]["text"].lower()
    for h, r in zip(heard, replayed, strict=True):
        assert abs(h["start"] - r["start"]) < 0.05 and abs(h["end"] - r["end"]) < 0.05
        assert abs(r["start"] - 2.0) < 0.3 and abs(r["end"] - 3.255) < 0.3
