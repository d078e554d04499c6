"""The main job, end to end: the bundled session through the real models at --speed 0."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jiwer
import pytest
import soundfile as sf

from .conftest import read_events, run_cli


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).strip()


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]], str]:
    out = tmp_path_factory.mktemp("replay") / "run"
    proc = run_cli("--config", "configs/demo.yaml", "--speed", "0", "--out", str(out), "--set", "describer.look=true")
    assert proc.returncode == 0, proc.stderr
    return out, read_events(out), proc.stdout


def test_each_question_is_heard(
    replay: tuple[Path, list[dict[str, Any]], str], session_manifest: dict[str, Any]
) -> None:
    _, events, _ = replay
    finals = [e for e in events if e["type"] == "transcript" and e["final"]]
    questions = session_manifest["questions"]
    assert len(finals) == len(questions) >= 3
    for heard, asked in zip(finals, questions, strict=True):
        assert jiwer.wer(_norm(asked["text"]), _norm(heard["text"])) <= 0.2, (asked, heard)


def test_speech_is_found_where_it_was_spoken(
    replay: tuple[Path, list[dict[str, Any]], str], session_manifest: dict[str, Any]
) -> None:
    _, events, _ = replay
    ends = [e for e in events if e["type"] == "speech_end"]
    for end, asked in zip(ends, session_manifest["questions"], strict=True):
        assert abs(end["speech_start_at"] - asked["start"]) < 0.3
        assert abs(end["speech_end_at"] - asked["end"]) < 0.3


def test_one_spoken_reply_per_question(
    replay: tuple[Path, list[dict[str, Any]], str], session_manifest: dict[str, Any]
) -> None:
    out, events, _ = replay
    replies = [e for e in events if e["type"] == "reply_text"]
    assert len(replies) == len(session_manifest["questions"])
    starts = [e for e in events if e["type"] == "reply_audio_start"]
    assert [e["turn"] for e in starts] == [r["turn"] for r in replies]
    for reply in replies:
        assert reply["text"] and not reply["interrupted"]
        audio, rate = sf.read(out / "replies" / f"turn-{reply['turn']:02d}.wav")
        assert rate > 8000
        assert len(audio) / rate > 1.0  # a spoken sentence, not a click
        assert abs(audio).max() > 0.05


def test_events_are_ordered_and_typed(replay: tuple[Path, list[dict[str, Any]], str]) -> None:
    _, events, _ = replay
    times = [e["t"] for e in events]
    assert times == sorted(times)
    assert {e["type"] for e in events} >= {
        "session_start",
        "speech_start",
        "speech_end",
        "transcript",
        "scene",
        "reply_first_token",
        "reply_text",
        "reply_audio_start",
        "turn_metrics",
        "session_end",
    }
    assert events[-1]["type"] == "session_end"
    assert events[-1]["reason"] == "end_of_media"
    assert events[-1]["media_seconds"] >= 20


def test_turn_metrics_for_every_turn(replay: tuple[Path, list[dict[str, Any]], str]) -> None:
    out, events, _ = replay
    turns = [e["turn"] for e in events if e["type"] == "reply_text"]
    metrics = [e for e in events if e["type"] == "turn_metrics"]
    assert [m["turn"] for m in metrics] == turns
    for m in metrics:
        # At --speed 0 the clock is media time: the only wait is the VAD's silence.
        assert 400 <= m["vad_end_ms"] <= 800
        assert (
            m["vad_end_ms"] <= m["asr_final_ms"] <= m["llm_request_ms"] <= m["first_token_ms"]
            <= m["first_chunk_ms"] <= m["first_audio_ms"]
        )
        assert m["compute"]["asr_ms"] >= 0 and m["compute"]["tts_ms"] > 0
        assert m["compute"]["asr_decode_ms"] > 50  # Whisper's own time, even when it was all before the end
    # Each question ends in a long silence: its decode started at the first pause.
    assert all(e["early"] for e in events if e["type"] == "transcript" and e["final"])
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["summary"]["turns"] == len(turns)
    assert summary["clock"] == "media time"


def test_scene_descriptions_follow_the_scene(
    replay: tuple[Path, list[dict[str, Any]], str], session_manifest: dict[str, Any]
) -> None:
    _, events, _ = replay
    scenes = [e for e in events if e["type"] == "scene"]
    # The bundled video has three scenes of ten seconds each.
    per_scene = [{e["text"] for e in scenes if lo <= e["frame_t"] < lo + 10} for lo in (0, 10, 20)]
    assert all(per_scene)
    first, second, third = per_scene
    assert first.isdisjoint(second) and second.isdisjoint(third) and first.isdisjoint(third)
    assert any("OPEN" in text for text in second)
    # Unchanged frames are skipped, not described again.
    assert len(scenes) < 30


def test_replies_use_what_was_seen_when_asked(replay: tuple[Path, list[dict[str, Any]], str]) -> None:
    _, events, _ = replay
    replies = [e for e in events if e["type"] == "reply_text"]
    answered_by = {e["turn"]: e["backend"] for e in events if e["type"] == "llm_request"}
    # "What does the sign say?" is answered from what the describer read (perception/answers.py); the
    # others by the offline responder, which says there is no language model.
    assert [answered_by[r["turn"]] for r in replies] == ["offline", "scene:read", "offline"]
    assert all("No language model is connected" in r["text"] for r in replies if answered_by[r["turn"]] == "offline")
    assert "OPEN" in replies[1]["text"]  # asked while the sign was in view
    assert "OPEN" not in replies[0]["text"] and "OPEN" not in replies[2]["text"]


def test_report_files(replay: tuple[Path, list[dict[str, Any]], str], session_manifest: dict[str, Any]) -> None:
    out, _, stdout = replay
    transcript = (out / "transcript.md").read_text()
    for q in session_manifest["questions"]:
        assert _norm(q["text"]).split()[-1] in _norm(transcript)
    assert transcript.count("**Assistant**") == len(session_manifest["questions"])
    page = (out / "report.html").read_text()
    assert page.count("<svg") == len(session_manifest["questions"])  # one waterfall per turn
    assert "first audio" in page and "OPEN" in page
    assert "src=" not in page and "<link" not in page and "<script" not in page  # opens with no network
    assert "You:" in stdout and "Assistant:" in stdout
    assert "Problems: none" in transcript and "Run: speed 0" in transcript and "faster-whisper" in transcript
    times = re.findall(r"\((\d\d):(\d\d\.\d)\):", transcript)
    seconds = [int(m) * 60 + float(s) for m, s in times]
    assert len(seconds) > 6 and seconds == sorted(seconds)  # camera lines (frame time) in time order too


def test_questions_about_the_view_get_a_fresh_look(replay: tuple[Path, list[dict[str, Any]], str]) -> None:
    _, events, _ = replay
    looks = [e for e in events if e["type"] == "scene" and e["backend"] == "basic:look"]
    replies = [e for e in events if e["type"] == "reply_text"]
    # All three questions are about the view ("where is the green ball going?" too).
    assert len(looks) == 3
    assert looks[0]["t"] <= replies[0]["t"] and replies[0]["t"] <= looks[1]["t"] <= replies[1]["t"]
    assert looks[1]["text"].startswith("text: OPEN")  # the question steered the describer to the text
    assert "moving to the right" in looks[2]["text"]  # the look keeps the ball's motion
    metrics = [e for e in events if e["type"] == "turn_metrics"]
    assert all("look_ms" in m["compute"] for m in metrics)


def test_each_reply_was_asked_for_at_the_pause_and_used(replay: tuple[Path, list[dict[str, Any]], str]) -> None:
    """dialogue.speculative (on by default): each question's reply was requested on its early
    transcript, and the confirmed turn used that request: one request per question, none wasted."""
    _, events, _ = replay
    speculations = [e for e in events if e["type"] == "speculation"]
    finals = [e for e in events if e["type"] == "transcript" and e["final"]]
    assert [(s["utterance"], s["used"]) for s in speculations] == [(f["utterance"], True) for f in finals]
    for s, f in zip(speculations, finals, strict=True):
        assert _norm(s["text"]) == _norm(f["text"])
