"""Bad input through the real CLI: exit status 2, one line on stderr naming the culprit, no traceback.

Most cases fail in validation or while probing the input files, before any model loads. They run
``omnilive.cli.main`` in the test process (``run_main``); a few also go through ``run_assistant.py``
in a process of its own (``run_cli``), as a user starts it.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from omnilive.settings import load_settings, parse_override
from omnilive.testing import CliResult

from .conftest import SESSION, read_events, run_cli, run_main

VIDEO = SESSION / "video.mp4"
AUDIO = SESSION / "audio.wav"

# A case builds its inputs under tmp_path and returns (CLI arguments, words the error line must contain).
Case = Callable[[Path], tuple[list[str], list[str]]]


def assert_one_line_error(proc: CliResult | subprocess.CompletedProcess[str], *names: str) -> str:
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), f"expected one line on stderr, got {lines!r}"
    line = lines[0]
    assert line.startswith("omnilive: error: "), line
    for name in names:
        assert name in line, f"{name!r} not named in {line!r}"
    return line


def _random_bytes(path: Path, size: int = 64_000) -> Path:
    path.write_bytes(np.random.default_rng(7).bytes(size))
    return path


def _config(tmp: Path, text: str) -> Path:
    path = tmp / "bad.yaml"
    path.write_text(f"input:\n  video: {VIDEO}\n{text}", encoding="utf-8")
    return path


def missing_video(tmp: Path) -> tuple[list[str], list[str]]:
    path = tmp / "missing.mp4"
    return ["--video", str(path)], [str(path)]


def missing_audio(tmp: Path) -> tuple[list[str], list[str]]:
    path = tmp / "missing.wav"
    return ["--audio", str(path)], [str(path)]


def missing_session(tmp: Path) -> tuple[list[str], list[str]]:
    path = tmp / "no-such-session"
    return ["--session", str(path)], [str(path)]


def session_without_manifest(tmp: Path) -> tuple[list[str], list[str]]:
    folder = tmp / "session"
    folder.mkdir()
    return ["--session", str(folder)], [str(folder), "session.json"]


def session_manifest_not_json(tmp: Path) -> tuple[list[str], list[str]]:
    folder = tmp / "session"
    folder.mkdir()
    (folder / "session.json").write_text("{video: video.mp4", encoding="utf-8")
    return ["--session", str(folder)], [str(folder / "session.json")]


def session_names_missing_video(tmp: Path) -> tuple[list[str], list[str]]:
    folder = tmp / "session"
    folder.mkdir()
    (folder / "session.json").write_text(json.dumps({"video": "gone.mp4"}), encoding="utf-8")
    return ["--session", str(folder)], [str(folder / "gone.mp4")]


def random_bytes_video(tmp: Path) -> tuple[list[str], list[str]]:
    path = _random_bytes(tmp / "noise.mp4")
    return ["--video", str(path)], [str(path)]


def empty_video(tmp: Path) -> tuple[list[str], list[str]]:
    path = tmp / "empty.mp4"
    path.write_bytes(b"")
    return ["--video", str(path)], [str(path)]


def truncated_video(tmp: Path) -> tuple[list[str], list[str]]:
    data = VIDEO.read_bytes()
    path = tmp / "truncated.mp4"
    path.write_bytes(data[: len(data) // 5])
    return ["--video", str(path)], [str(path)]


def random_bytes_audio(tmp: Path) -> tuple[list[str], list[str]]:
    path = _random_bytes(tmp / "noise.wav")
    return ["--audio", str(path)], [str(path)]


def yaml_syntax_error(tmp: Path) -> tuple[list[str], list[str]]:
    path = _config(tmp, "replay:\n  speed: [1, 2\n")
    return ["--config", str(path)], [str(path)]


def yaml_top_level_list(tmp: Path) -> tuple[list[str], list[str]]:
    path = tmp / "list.yaml"
    path.write_text("- replay\n- speed\n", encoding="utf-8")
    return ["--config", str(path)], [str(path)]


def yaml_negative_speed(tmp: Path) -> tuple[list[str], list[str]]:
    path = _config(tmp, "replay:\n  speed: -2\n")
    return ["--config", str(path)], [str(path), "replay.speed"]


def yaml_unknown_field(tmp: Path) -> tuple[list[str], list[str]]:
    path = _config(tmp, "video:\n  sample_every: 2\n")
    return ["--config", str(path)], [str(path), "video.sample_every"]


def yaml_wrong_type(tmp: Path) -> tuple[list[str], list[str]]:
    path = _config(tmp, "video:\n  sample_interval_s: often\n")
    return ["--config", str(path)], [str(path), "video.sample_interval_s"]


def negative_speed_flag(tmp: Path) -> tuple[list[str], list[str]]:
    return ["--video", str(VIDEO), "--speed", "-1"], ["replay.speed"]


def override_without_value(tmp: Path) -> tuple[list[str], list[str]]:
    return ["--video", str(VIDEO), "--set", "replay.speed"], ["replay.speed"]


def missing_config_file(tmp: Path) -> tuple[list[str], list[str]]:
    path = tmp / "missing.yaml"
    return ["--config", str(path)], [str(path)]


def unknown_backend(field: str, media: str) -> Case:
    def case(tmp: Path) -> tuple[list[str], list[str]]:
        return [media, str(VIDEO if media == "--video" else AUDIO), "--set", f"{field}=foo"], [field, "foo"]

    return case


def missing_model(field: str, path: str) -> Case:
    def case(tmp: Path) -> tuple[list[str], list[str]]:
        return ["--audio", str(AUDIO), "--set", f"{field}={path}"], [field, path]

    return case


CASES: list[tuple[str, Case]] = [
    ("missing-video", missing_video),
    ("missing-audio", missing_audio),
    ("missing-session", missing_session),
    ("session-without-manifest", session_without_manifest),
    ("session-manifest-not-json", session_manifest_not_json),
    ("session-names-missing-video", session_names_missing_video),
    ("random-bytes-video", random_bytes_video),
    ("empty-video", empty_video),
    ("truncated-video", truncated_video),
    ("random-bytes-audio", random_bytes_audio),
    ("yaml-syntax-error", yaml_syntax_error),
    ("yaml-top-level-list", yaml_top_level_list),
    ("yaml-negative-speed", yaml_negative_speed),
    ("yaml-unknown-field", yaml_unknown_field),
    ("yaml-wrong-type", yaml_wrong_type),
    ("negative-speed-flag", negative_speed_flag),
    ("override-without-value", override_without_value),
    ("missing-config-file", missing_config_file),
    ("unknown-describer", unknown_backend("describer.backend", "--video")),
    ("unknown-dialogue", unknown_backend("dialogue.backend", "--audio")),
    ("unknown-tts", unknown_backend("tts.backend", "--audio")),
    ("unknown-asr", unknown_backend("asr.backend", "--audio")),
    ("missing-asr-model", missing_model("asr.model", "/nonexistent/model")),
    ("missing-tts-voice", missing_model("tts.voice", "/nonexistent/voice.onnx")),
    ("missing-vad-model", missing_model("vad.model", "/nonexistent.onnx")),
]


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[name for name, _ in CASES])
def test_bad_input_is_one_line_and_exit_2(case: Case, tmp_path: Path) -> None:
    args, names = case(tmp_path)
    proc = run_main(*args, "--out", str(tmp_path / "out"))
    assert_one_line_error(proc, *names)


@pytest.mark.parametrize("name", ["random-bytes-video", "truncated-video", "missing-config-file"])
def test_bad_input_through_run_assistant_py(name: str, tmp_path: Path) -> None:
    """A few of the cases above through ``run_assistant.py`` in a process of its own, where what ffmpeg
    or libsndfile would write to the file descriptors (the environment quiets them) reaches stderr too."""
    args, names = dict(CASES)[name](tmp_path)
    proc = run_cli(*args, "--out", str(tmp_path / "out"), timeout=120)
    assert_one_line_error(proc, *names)


def test_audio_corrupt_after_its_first_block_stops_with_one_line(tmp_path: Path) -> None:
    """A FLAC cut short decodes for a while, then fails mid-replay: still one line, and the log is closed."""
    flac = tmp_path / "whole.flac"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(AUDIO), str(flac)],
        check=True, capture_output=True,
    )
    data = flac.read_bytes()
    cut = tmp_path / "cut.flac"
    cut.write_bytes(data[: len(data) // 5])
    out = tmp_path / "out"
    proc = run_main("--audio", str(cut), "--speed", "0", "--out", str(out), "-q")
    assert_one_line_error(proc, str(cut))
    events = read_events(out)
    assert events[0]["type"] == "session_start"
    assert events[-1]["type"] == "session_end" and events[-1]["reason"] == "error"
    assert 0 < events[-1]["media_seconds"] < sf.info(str(AUDIO)).duration


def test_wav_with_junk_samples_plays_as_noise(tmp_path: Path) -> None:
    """A valid header over random sample data is indistinguishable from noise: the run succeeds."""
    path = tmp_path / "junk.wav"
    sf.write(path, np.zeros(16_000, dtype=np.int16), 16_000, subtype="PCM_16")
    raw = bytearray(path.read_bytes())
    header = len(raw) - 2 * 16_000
    raw[header:] = np.random.default_rng(3).bytes(len(raw) - header)
    path.write_bytes(bytes(raw))
    out = tmp_path / "out"
    proc = run_main("--audio", str(path), "--speed", "0", "--out", str(out), "-q")
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 0, proc.stderr
    end = read_events(out)[-1]
    assert end["type"] == "session_end" and end["reason"] == "end_of_media"
    assert abs(end["media_seconds"] - sf.info(str(path)).duration) < 0.05


def test_existing_output_folder_is_not_overwritten(tmp_path: Path, desk_clip: Path) -> None:
    out = tmp_path / "out"
    first = run_main("--video", str(desk_clip), "--speed", "0", "--out", str(out), "-q")
    assert first.returncode == 0, first.stderr
    before = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert Path("events.jsonl") in before

    second = run_main("--video", str(desk_clip), "--speed", "0", "--out", str(out), "-q")
    assert_one_line_error(second, str(out), "events.jsonl")

    after = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert after == before
    lines = before[Path("events.jsonl")].decode("utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["type"] for e in events].count("session_start") == 1
    assert events[0]["type"] == "session_start" and events[-1]["type"] == "session_end"


@pytest.mark.parametrize(
    ("override", "field", "expected"),
    [
        ("asr.language=no", ("asr", "language"), "no"),
        ("tts.voice=on", ("tts", "voice"), "on"),
        ("describer.people=no", ("describer", "people"), False),
        ("describer.tesseract=yes", ("describer", "tesseract"), True),
        ("describer.people=false", ("describer", "people"), False),
    ],
)
def test_set_reads_yes_no_on_off_by_the_field_type(override: str, field: tuple[str, str], expected: object) -> None:
    """``--set`` values are YAML, but YAML 1.1's yes/no/on/off must not turn a language code into a boolean."""
    section, key = field
    settings = load_settings(None, [parse_override(override)])
    assert getattr(getattr(settings, section), key) == expected
    assert type(getattr(getattr(settings, section), key)) is type(expected)
