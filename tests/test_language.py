"""``language: auto | en | zh`` (the first part of the Chinese work): the recognizer hears the
language it is given or detects it per utterance, the transcript says which, the reply is asked
for in the question's language, and a recognizer that hears English only is refused for another.
Whisper base is real; the Chinese voice and sample session are not in yet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dialogue.prompt import Conversation, build_request
from omnilive.testing import read_events
from speech.asr import Heard, WhisperAsr, language_of

from .conftest import run_cli
from .test_asr_models import espeak, words


@pytest.fixture(scope="module")
def detecting() -> WhisperAsr:
    return WhisperAsr("base", beam_size=1, language=None)


def test_auto_detects_english_and_says_so(detecting: WhisperAsr, tmp_path: Path) -> None:
    question = "How many people are sitting in the room?"
    heard = detecting.transcribe(espeak(question, "en-us", 150, tmp_path))
    assert isinstance(heard, Heard) and language_of(heard) == "en"
    assert words(heard) == words(question)


def test_a_fixed_language_is_not_detected(tmp_path: Path) -> None:
    zh = WhisperAsr("base", beam_size=1, language="zh")
    heard = zh.transcribe(espeak("Read the sign for me.", "en-us", 150, tmp_path))
    assert language_of(heard) == "zh"  # given, not detected: an English clip is still decoded as Chinese
    assert language_of(WhisperAsr("tiny.en", beam_size=1).transcribe(np.zeros(8000, np.float32))) == "en"


def test_the_reply_is_asked_for_in_the_language_of_the_question() -> None:
    zh = build_request("牌子上写的是什么？", Conversation(4), [], 0.0, language="zh")
    en = build_request("What does the sign say?", Conversation(4), [], 0.0, language="en")
    plain = build_request("What does the sign say?", Conversation(4), [], 0.0)
    assert zh.messages[-1]["content"].startswith("牌子上写的是什么？") and "请用中文回答" in zh.messages[-1]["content"]
    assert "answer in English" in en.messages[-1]["content"]
    assert plain.messages[-1]["content"] == "What does the sign say?"  # an English-only session: as before


def test_a_recognizer_that_hears_english_only_is_refused_for_another_language(tmp_path: Path) -> None:
    proc = run_cli("--config", "configs/demo.yaml", "--out", str(tmp_path / "out"),
                   "--set", "language=zh", "--set", "asr.model=tiny.en")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "language zh" in lines[0] and "tiny.en" in lines[0]


def test_a_session_in_auto_hears_each_question_in_its_language_and_answers(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run_cli("--config", "configs/demo.yaml", "--speed", "0", "--out", str(out), "--set", "language=auto")
    assert proc.returncode == 0, proc.stderr
    events = read_events(out)
    finals = [e for e in events if e["type"] == "transcript" and e["final"]]
    assert len(finals) == 3 and all(e["language"] == "en" for e in finals)
    assert len([e for e in events if e["type"] == "reply_text" and e["text"]]) == 3
