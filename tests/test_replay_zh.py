"""The Chinese and the mixed sample sessions end to end, through the real models at --speed 0:
Whisper base hears Mandarin (character error rate at most 0.15), the camera's Chinese sign is read,
the reply is in the language of the question, and a Chinese reply is spoken by the Chinese voice
(Whisper hears the reply's audio back as Chinese). The Chinese session is answered by the local
LLM that ``make`` installs; the mixed one by the offline responder."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jiwer
import numpy as np
import pytest
import soundfile as sf
import soxr

from speech.asr import WhisperAsr, language_of
from speech.zh_voice import is_chinese

from .conftest import ROOT, read_events, run_cli, with_local_llm
from .test_describer_language import without_text

Run = tuple[Path, list[dict[str, Any]], dict[str, Any]]


def hanzi(text: str) -> str:
    """Letters, digits and Chinese characters only: punctuation and spaces do not count."""
    return "".join(re.findall(r"[^\W_]", text.lower()))


def replay(tmp: Path, config: str, session: str, env: dict[str, str] | None = None) -> Run:
    out = tmp / "run"
    proc = run_cli("--config", f"configs/{config}", "--speed", "0", "--out", str(out), env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((ROOT / "examples" / "sessions" / session / "session.json").read_text(encoding="utf-8"))
    return out, read_events(out), manifest


@pytest.fixture(scope="module")
def chinese(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return replay(tmp_path_factory.mktemp("zh"), "demo-zh.yaml", "desk-zh", with_local_llm())


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return replay(tmp_path_factory.mktemp("mixed"), "demo-mixed.yaml", "mixed")


@pytest.fixture(scope="module")
def listener() -> WhisperAsr:
    return WhisperAsr("base", beam_size=1, language=None)


def finals(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "transcript" and e["final"]]


def replies(events: list[dict[str, Any]]) -> list[str]:
    return [e["text"] for e in events if e["type"] == "reply_text"]


def heard_reply(out: Path, turn: int, listener: WhisperAsr) -> str:
    audio, rate = sf.read(out / "replies" / f"turn-{turn:02d}.wav", dtype="float32")
    return listener.transcribe(np.asarray(soxr.resample(audio, rate, 16_000), dtype=np.float32))


def mostly_chinese(text: str) -> bool:
    """Chinese, leaving out what is quoted (a sign's words, read as they are written)."""
    letters = hanzi(re.sub(r"“[^”]*”", "", text))
    return len(letters) > 0 and sum(is_chinese(c) for c in letters) / len(letters) >= 0.7


def test_mandarin_questions_are_heard_in_chinese(chinese: Run) -> None:
    _, events, manifest = chinese
    heard = finals(events)
    asked = [q["text"] for q in manifest["questions"]]
    assert len(heard) == len(asked) == 3
    assert all(e["language"] == "zh" for e in heard)
    cer = jiwer.cer([hanzi(a) for a in asked], [hanzi(e["text"]) for e in heard])
    assert cer <= 0.15, (cer, [e["text"] for e in heard])


def test_the_chinese_sign_is_read_and_the_scenes_are_described_in_chinese(chinese: Run) -> None:
    _, events, _ = chinese
    scenes = [e for e in events if e["type"] == "scene"]
    assert any("营业中" in e["text"] for e in scenes if 10 <= e["frame_t"] < 20), scenes
    for scene in scenes:  # Chinese words, and no English but the text read off the sign
        assert is_chinese(scene["text"]) and not re.search("[A-Za-z]", without_text(scene["text"])), scene


def test_each_mandarin_question_is_answered_in_chinese_about_the_scene(chinese: Run) -> None:
    _, events, _ = chinese
    said = replies(events)
    assert len(said) == 3 and all(mostly_chinese(r) for r in said), said
    assert "营业中" in said[1], said[1]  # the sign, read back
    assert re.search("右", said[2]), said[2]  # the ball rolls left to right


def test_chinese_replies_are_spoken_by_the_chinese_voice(chinese: Run, listener: WhisperAsr) -> None:
    out, events, _ = chinese
    said = replies(events)
    back = [heard_reply(out, turn, listener) for turn in range(1, len(said) + 1)]
    assert all(language_of(b) == "zh" for b in back), back
    cer = jiwer.cer([hanzi(t) for t in said], [hanzi(b) for b in back])  # over all the replies: a short
    assert cer <= 0.35, (cer, said, back)  # one alone ("营业中") is easily misheard


def test_a_mixed_session_answers_each_question_in_its_language(mixed: Run, listener: WhisperAsr) -> None:
    out, events, manifest = mixed
    languages = [q["language"] for q in manifest["questions"]]
    assert languages == ["en", "zh", "en"]
    assert [e["language"] for e in finals(events)] == languages
    said = replies(events)
    assert len(said) == 3
    assert not is_chinese(said[0]) and not is_chinese(said[2]), said
    assert mostly_chinese(said[1]) and "OPEN" in said[1], said[1]  # English text on the sign, a Chinese reply
    assert language_of(heard_reply(out, 2, listener)) == "zh"
    assert language_of(heard_reply(out, 3, listener)) == "en"
