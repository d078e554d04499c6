"""Corrupt audio through the real CLI: an mp3 with a corrupt stretch in the middle is decoded through
(the speech after it is still heard, one WARNING says how much was skipped, no decoder noise on
stderr), while a file where nothing decodes still stops with one line and exit 2."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from speech.audio_file import AudioFileSource

from .conftest import read_events, run_cli
from .test_bad_input import assert_one_line_error

BEFORE = "The first sentence is about a red cup on the table."
AFTER = "Please tell me what colour the small green ball is."
PAUSE_S = 16.0  # between the sentences; the corrupt stretch lies in it, about a third into the file
BAD_BYTES = 16_000  # at 128 kb/s: one second of audio


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


@pytest.fixture(scope="module")
def clean_mp3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two spoken sentences with a long pause between them, as a 44.1 kHz stereo mp3 of about 20 s."""
    folder = tmp_path_factory.mktemp("mp3")
    for name, text in (("before", BEFORE), ("after", AFTER)):
        _run("espeak-ng", "-w", str(folder / f"{name}.wav"), text)
    path = folder / "speech.mp3"
    _run("ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(folder / "before.wav"),
         "-f", "lavfi", "-t", str(PAUSE_S), "-i", "anullsrc=r=22050:cl=mono", "-i", str(folder / "after.wav"),
         "-f", "lavfi", "-t", "1", "-i", "anullsrc=r=22050:cl=mono",
         "-filter_complex", "[0][1][2][3]concat=n=4:v=0:a=1", "-ar", "44100", "-ac", "2", "-b:a", "128k", str(path))
    return path


@pytest.fixture(scope="module")
def corrupt_mp3(clean_mp3: Path) -> Path:
    """``clean_mp3`` with :data:`BAD_BYTES` of random bytes written over it a third of the way in."""
    data = bytearray(clean_mp3.read_bytes())
    start = len(data) // 3
    data[start:start + BAD_BYTES] = np.random.default_rng(5).bytes(BAD_BYTES)
    path = clean_mp3.with_name("corrupt.mp3")
    path.write_bytes(bytes(data))
    return path


def test_corrupt_stretch_keeps_the_timeline(clean_mp3: Path, corrupt_mp3: Path) -> None:
    """The skipped stretch is played as silence of its length, so what follows keeps its media time."""
    clean = np.concatenate(list(AudioFileSource(clean_mp3).blocks()))
    corrupt = np.concatenate(list(AudioFileSource(corrupt_mp3).blocks()))
    assert abs(len(corrupt) - len(clean)) <= 0.05 * 16_000, (len(corrupt), len(clean))
    # The second sentence is where it was: the loud part of the last seconds lines up.
    tail = slice(len(clean) - round((1 + PAUSE_S / 4) * 16_000), None)
    loud_clean = np.flatnonzero(np.abs(clean[tail]) > 0.05)
    loud_corrupt = np.flatnonzero(np.abs(corrupt[tail]) > 0.05)
    assert len(loud_clean) and len(loud_corrupt)
    assert abs(int(loud_clean[0]) - int(loud_corrupt[0])) <= 0.05 * 16_000


def test_corrupt_stretch_in_an_mp3_is_decoded_through(corrupt_mp3: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_cli("--audio", str(corrupt_mp3), "--speed", "0", "--set", "dialogue.backend=offline",
                   "--out", str(out), "-q", timeout=240)
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 0, proc.stderr
    # Under -q stderr holds only the one warning about the skipped stretch: no decoder chatter.
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("WARNING speech.audio_file:") and str(corrupt_mp3) in lines[0], lines
    skipped = float(lines[0].split("skipped ")[1].split(" s")[0])
    assert 0.5 <= skipped <= 2.0, lines[0]  # BAD_BYTES is a second of audio

    events = read_events(out)
    end = events[-1]
    assert end["type"] == "session_end" and end["reason"] == "end_of_media", end
    heard = " ".join(e["text"].lower() for e in events if e["type"] == "transcript")
    assert "red" in heard and "table" in heard, heard  # before the stretch
    assert "green" in heard and "ball" in heard, heard  # after it


def test_mp3_where_nothing_decodes_is_one_line_and_exit_2(clean_mp3: Path, tmp_path: Path) -> None:
    """Random bytes named .mp3: libsndfile's mp3 decoder used to print its resync notes here too."""
    path = tmp_path / "noise.mp3"
    path.write_bytes(np.random.default_rng(11).bytes(64_000))
    proc = run_cli("--audio", str(path), "--speed", "0", "--out", str(tmp_path / "out"), "-q", timeout=120)
    assert_one_line_error(proc, str(path))
