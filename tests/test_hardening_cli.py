"""Hardening of the command line: numbers that are not finite, config files that cannot be read,
a bad regex, SIGTERM and SIGKILL in the middle of a reply."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from kernel.errors import ConfigError
from omnilive.settings import load_settings
from speech.sinks import WavReplySink

from .conftest import ROOT, SESSION, read_events, run_main, write_clip
from .test_bad_input import assert_one_line_error

AUDIO = SESSION / "audio.wav"


# --- numbers that are not finite ------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--speed", "inf"], "replay.speed"),
        (["--speed", "nan"], "replay.speed"),
        (["--set", "video.sample_interval_s=inf"], "video.sample_interval_s"),
        (["--set", "replay.speed=.inf"], "replay.speed"),
        (["--set", "describer.stale_after_s=.nan"], "describer.stale_after_s"),
    ],
    ids=["speed-inf", "speed-nan", "set-inf-string", "set-yaml-inf", "set-yaml-nan"],
)
def test_non_finite_numbers_are_bad_input(args: list[str], field: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_main("--audio", str(AUDIO), *args, "--out", str(out))
    assert_one_line_error(proc, field)
    assert not out.exists()  # refused before anything was written


def test_non_finite_number_in_a_config_file(tmp_path: Path) -> None:
    path = tmp_path / "inf.yaml"
    path.write_text(f"input:\n  audio: {AUDIO}\nvideo:\n  sample_interval_s: .inf\n", encoding="utf-8")
    proc = run_main("--config", str(path), "--out", str(tmp_path / "out"))
    assert_one_line_error(proc, str(path), "video.sample_interval_s")


# --- config files that cannot be read -------------------------------------------------------


@pytest.mark.skipif(not Path("/proc/self/mem").is_file(), reason="needs Linux /proc")
def test_config_read_error_is_one_line() -> None:
    """Reading /proc/self/mem fails with EIO even for root (a chmod 000 file does not stop root)."""
    proc = run_main("--config", "/proc/self/mem")
    assert_one_line_error(proc, "/proc/self/mem")


def test_config_that_is_a_folder_is_one_line(tmp_path: Path) -> None:
    proc = run_main("--config", str(tmp_path))
    line = assert_one_line_error(proc, str(tmp_path))
    assert "not a file" in line


def test_config_not_utf8_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("describer:\n  prompt: caf\xe9\n".encode("latin-1"))
    proc = run_main("--config", str(path))
    assert_one_line_error(proc, str(path))


def test_config_permission_error_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "locked.yaml"
    path.write_text("replay:\n  speed: 0\n", encoding="utf-8")

    def refuse(self: Path, *args: Any, **kwargs: Any) -> str:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(ConfigError, match="Permission denied") as info:
        load_settings(path)
    assert str(path) in str(info.value)


def test_bad_look_pattern_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_main("--session", str(SESSION), "--speed", "0", "--set", "describer.look=true",
                    "--set", "describer.look_pattern=(unclosed", "--out", str(out))
    assert_one_line_error(proc, "describer.look_pattern")
    assert not (out / "events.jsonl").exists()


# --- the reply WAV while it is written -------------------------------------------------------


async def test_reply_wav_reads_while_still_open(tmp_path: Path) -> None:
    sink = WavReplySink(tmp_path)
    await sink.open_turn(1, 22_050)
    pcm = (np.sin(np.arange(5_000) / 10) * 10_000).astype(np.int16)
    await sink.write(pcm)
    await sink.write(pcm)
    path = tmp_path / "turn-01.wav"
    try:
        with wave.open(str(path)) as w:  # the standard library's reader trusts the header's sizes
            assert w.getnframes() == 2 * len(pcm)
        data, rate = sf.read(str(path), dtype="int16")
        assert rate == 22_050 and np.array_equal(data, np.concatenate([pcm, pcm]))
    finally:
        seconds, _ = await sink.close_turn()
    assert sf.info(str(path)).frames == 2 * len(pcm) and seconds == pytest.approx(10_000 / 22_050)


# --- SIGTERM and SIGKILL during a replay -----------------------------------------------------


def _start(*args: str, preexec_fn: Callable[[], None] | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONFAULTHANDLER"] = "1"
    return subprocess.Popen(
        [sys.executable, str(ROOT / "run_assistant.py"), *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=preexec_fn,
    )


def _complete_events(path: Path) -> list[dict[str, Any]]:
    """The complete lines of an events.jsonl still being written."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines()]


def _wait_for(proc: subprocess.Popen[str], found: Callable[[], Any], what: str, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = found()
        if result:
            return result
        try:  # waits on the child between looks at the file: an exit ends the wait at once
            proc.wait(timeout=0.01)
        except subprocess.TimeoutExpired:
            continue
        _, stderr = proc.communicate()
        raise AssertionError(f"exited {proc.returncode} before {what}:\n{stderr[-3000:]}")
    raise AssertionError(f"no {what} within {timeout:g} s")


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a service started in the background


def test_sigterm_during_a_replay_ends_it_like_ctrl_c(tmp_path: Path) -> None:
    out = tmp_path / "run"
    # SIGINT ignored in the child: SIGTERM must not depend on Ctrl-C's handler.
    proc = _start("--config", "configs/demo.yaml", "--speed", "1", "--out", str(out), preexec_fn=_ignore_sigint)
    try:
        _wait_for(proc, lambda: any(e["type"] == "reply_audio_start" for e in _complete_events(out / "events.jsonl")),
                  "reply_audio_start")
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    events = read_events(out)  # every line is complete JSON
    assert events[-1]["type"] == "session_end" and events[-1]["reason"] == "interrupted"
    assert any(e["type"] == "reply_audio_start" for e in events)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["summary"]["turns"] >= 1
    assert "**Assistant**" in (out / "transcript.md").read_text()
    assert (out / "report.html").stat().st_size > 0
    for end in (e for e in events if e["type"] == "reply_audio_end"):
        assert sf.info(end["path"]).frames > 0


def test_sigkill_mid_reply_leaves_a_readable_wav(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _start("--config", "configs/demo.yaml", "--speed", "1", "--out", str(out))

    def stopped_mid_reply() -> Path | None:
        """SIGSTOPs the child and returns the WAV of a reply with audio written and not yet ended;
        else lets it go on."""
        if not any(e["type"] == "reply_audio_start" for e in _complete_events(out / "events.jsonl")):
            return None
        proc.send_signal(signal.SIGSTOP)
        events = _complete_events(out / "events.jsonl")
        started = {e["turn"] for e in events if e["type"] == "reply_audio_start"}
        ended = {e["turn"] for e in events if e["type"] == "reply_audio_end"}
        for turn in sorted(started - ended):
            wav = out / "replies" / f"turn-{turn:02d}.wav"
            if wav.is_file() and wav.stat().st_size > 4096:  # some audio beyond the header
                return wav
        proc.send_signal(signal.SIGCONT)
        return None

    try:
        wav = _wait_for(proc, stopped_mid_reply, "a reply in progress")
        proc.kill()  # SIGKILL, while still stopped mid-reply
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert not any(e["type"] == "reply_audio_end" and e["turn"] == int(wav.stem[5:]) for e in read_events(out))
    with wave.open(str(wav)) as w:  # trusts the header's sizes (libsndfile would read to the end of the file)
        frames = w.getnframes()
        data = np.frombuffer(w.readframes(frames), dtype=np.int16)
    assert frames > 0 and len(data) == frames and np.abs(data).max() > 0
    assert sf.info(str(wav)).frames == frames


# --- SIGTERM live -----------------------------------------------------------------------------


def test_sigterm_live_ends_it_like_ctrl_c(tmp_path: Path) -> None:
    from .soundcard import MIC, SPEAKER, SimulatedSoundCard

    clip = tmp_path / "camera.avi"
    write_clip(SESSION / "video.mp4", clip, 2.0)
    out = tmp_path / "out"
    with SimulatedSoundCard(tmp_path / "card", mic_rate=16_000, speaker_rate=48_000) as card:
        card.release()
        proc = _start("--config", "configs/desktop.yaml", "--camera", str(clip), "--mic", MIC, "--speaker", SPEAKER,
                      "--out", str(out), preexec_fn=_ignore_sigint)
        try:
            _wait_for(proc, lambda: any(e["type"] == "scene" for e in _complete_events(out / "events.jsonl")),
                      "a scene event")
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    events = read_events(out)
    assert events[0]["type"] == "session_start"
    assert events[-1]["type"] == "session_end" and events[-1]["reason"] == "interrupted"
    assert (out / "metrics.json").is_file() and (out / "transcript.md").is_file()


@pytest.mark.parametrize("args", [["--speed", "fast"], ["--bogus"], ["--config"]])
def test_a_bad_argument_is_one_line_and_exit_2(args: list[str]) -> None:
    proc = run_main(*args)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("omnilive: error:"), proc.stderr
    assert "usage:" not in proc.stderr
