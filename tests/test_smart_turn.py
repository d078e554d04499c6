"""Smart Turn v3.2 (``vad.end_of_turn: smart_turn``): the real model, taken from the pipecat-ai
wheel by ``make``, on speech it has not heard; and the VAD stage ending a turn at a short pause
when the model says it is over, and waiting out the full silence when it is not."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from omnilive.testing import speech_ends
from speech.audio import SAMPLE_RATE, Audio
from speech.smart_turn import SHA256, SmartTurn, _sha256, shipped_path, sounds_finished
from speech.stages import EarlyTranscriber, TurnEndCheck
from speech.vad import Segmenter, SileroVad


def espeak(text: str, folder: Path) -> Audio:
    path = folder / "say.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), text], check=True)
    audio, rate = sf.read(path, dtype="float32")
    return np.asarray(soxr.resample(audio, rate, SAMPLE_RATE), dtype=np.float32)


@pytest.fixture(scope="module")
def smart_turn() -> SmartTurn:
    assert shipped_path().is_file() and _sha256(shipped_path()) == SHA256, "make installs the Smart Turn model"
    return SmartTurn()


def test_a_finished_question_and_a_trailing_um_are_told_apart(smart_turn: SmartTurn, tmp_path: Path) -> None:
    pause = np.zeros(SAMPLE_RATE // 5, dtype=np.float32)  # the 200 ms of silence it is asked after
    done = smart_turn.probability(np.concatenate([espeak("Please read the sign for me.", tmp_path), pause]))
    um = smart_turn.probability(np.concatenate([espeak("I would like to know, um", tmp_path), pause]))
    assert done > 0.5 > um, (done, um)


held: list[int] = []  # TurnEndCheck.held_by_words of each run with a model


class Heard:
    def __init__(self, text: str) -> None:
        self.text = text

    def transcribe(self, audio: Audio) -> str:
        return self.text


class Fixed:
    def __init__(self, probability: float) -> None:
        self.value = probability
        self.asked: list[int] = []

    def probability(self, audio: Audio) -> float:
        self.asked.append(len(audio))
        return self.value


async def end_of_turn_wait(question: Audio, model: Fixed | None, heard: str | None = None) -> float:
    """Seconds from the VAD's end of speech to its ``speech_end``, with 1 s of silence after."""
    audio = np.concatenate([np.zeros(SAMPLE_RATE // 2, dtype=np.float32), question,
                            np.zeros(SAMPLE_RATE, dtype=np.float32)])
    # With ``heard``, the early decode at a 96 ms pause "hears" it, and the transcript check reads it.
    early = EarlyTranscriber(Heard(heard), after_ms=96) if heard is not None else None
    words = sounds_finished if heard is not None else None
    check = TurnEndCheck(model, after_ms=200, threshold=0.5, words=words) if model is not None else None
    ended = await speech_ends(audio, SileroVad(), Segmenter(min_silence_ms=500), early=early, turn_end=check)
    if check is not None:
        held.append(check.held_by_words)
    assert len(ended) == 1
    return ended[0].t - ended[0].speech_end_at


async def test_the_turn_ends_at_the_short_pause_only_when_the_model_says_it_is_over(tmp_path: Path) -> None:
    question = await asyncio.to_thread(espeak, "What is on the table?", tmp_path)
    silence_only = await end_of_turn_wait(question, None)
    over = Fixed(0.9)
    not_over = Fixed(0.1)
    early = await end_of_turn_wait(question, over)
    late = await end_of_turn_wait(question, not_over)
    assert 0.45 <= silence_only <= 0.6 and 0.45 <= late <= 0.6  # the full 500 ms silence
    assert 0.15 <= early <= 0.3  # 200 ms, give or take a 32 ms block
    assert len(over.asked) == 1 and len(not_over.asked) == 1  # asked once, at the pause


def test_a_missing_turn_model_is_one_line_and_exit_2(tmp_path: Path) -> None:
    from omnilive.testing import run_cli

    from .conftest import SESSION

    result = run_cli(["--audio", str(SESSION / "audio.wav"), "--out", str(tmp_path / "out"), "--set",
                      "vad.end_of_turn=smart_turn", "--set", "vad.smart_turn.model=/nonexistent/turn.onnx"])
    lines = result.stderr.strip().splitlines()
    assert result.code == 2 and len(lines) == 1, result.stderr
    assert "vad.smart_turn.model" in lines[0] and "/nonexistent/turn.onnx" in lines[0]


def test_the_transcript_check_reads_a_sentence_cut_at_a_pause() -> None:
    for finished in ("What is on the table?", "Can you read the sign for me?", "What are you looking at?",
                     "Tell me what you see.", "Is it?"):
        assert sounds_finished(finished), finished
    for cut in ("Can you tell me what is on the", "I would like to know, um", "There is a cup, a pen,",
                "Tell me what you see on the shelf and", "What is in", "Read the sign...", ""):
        assert not sounds_finished(cut), cut


async def test_words_cut_mid_sentence_hold_the_turn_whatever_the_audio_model_says(tmp_path: Path) -> None:
    """Smart Turn says over (0.9); the early transcript of the pause decides: a finished question
    ends the turn at the short pause, words cut mid-sentence leave it to the full silence."""
    question = await asyncio.to_thread(espeak, "What is on the table?", tmp_path)
    held.clear()
    finished = await end_of_turn_wait(question, Fixed(0.9), heard="What is on the table?")
    unfinished = await end_of_turn_wait(question, Fixed(0.9), heard="What is on the")
    assert 0.15 <= finished <= 0.3 and 0.45 <= unfinished <= 0.6
    assert held == [0, 1]
