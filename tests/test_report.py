"""The report says what went wrong: errors and restarts counted and in the timeline, the run's
facts, the question-aware look, and everything in time order."""

from __future__ import annotations

import json
from pathlib import Path

from kernel.events import (
    ErrorOccurred,
    ReplyText,
    SceneDescribed,
    SessionStarted,
    StageRestarted,
    Transcribed,
)
from omnilive.report import Report


def test_failures_facts_and_the_look_are_in_every_report_file(tmp_path: Path) -> None:
    report = Report()
    config = {"describer": {"backend": "openai"}, "asr": {"model": "base", "beam_size": 5},
              "dialogue": {"backend": "local", "local": {"model": "qwen2.5-coder-1.5b"}}, "tts": {"backend": "piper"}}
    events = [
        SessionStarted(t=0.0, source="session desk", speed=0.0, config=config),
        *[ErrorOccurred(t=float(i), stage="describer", code="backend", message="http://vlm/v1: Connection error.",
                        retryable=True) for i in range(5)],
        StageRestarted(t=5.5, stage="vision", reason="crashed: boom", restart=1, backoff_s=0.5),
        Transcribed(t=6.0, utterance=1, text="What does the sign say?", final=True, compute_ms=1.0),
        SceneDescribed(t=6.4, text="a sign reading OPEN", frame_t=6.0, change=0.3, backend="openai:look",
                       compute_ms=400.0),
        ReplyText(t=7.0, turn=1, utterance=1, text="It says OPEN.", question="What does the sign say?",
                  interrupted=False),
        SceneDescribed(t=7.5, text="a desk", frame_t=5.8, change=0.3, backend="openai", compute_ms=900.0),
    ]
    for event in events:
        report(event)
    report.write(tmp_path)
    transcript = (tmp_path / "transcript.md").read_text()
    assert "Problems: describer error (backend): 5x; vision restarted: 1x" in transcript
    assert "Run: speed 0.0, describer openai, asr base (beam 5), dialogue local" in transcript
    assert "*Camera (look)* (00:06.4): a sign reading OPEN" in transcript
    order = [transcript.index(s) for s in ("(00:04.0)", "**Restart**", "*Camera* (00:05.8)", "**You**",
                                            "(look)", "**Assistant**")]
    assert order == sorted(order)  # the desk, seen at 5.8 s though described at 7.5 s, comes before the question
    page = (tmp_path / "report.html").read_text()
    assert "describer error (backend): 5x" in page and "vision restarted: 1x" in page and "qwen2.5-coder-1.5b" in page
    assert page.index("<h2>Problems</h2>") < page.index("<h2>Conversation</h2>")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["summary"]["errors"] == 5 and metrics["summary"]["restarts"] == 1
    assert metrics["facts"]["describer"] == "openai" and "python" in metrics["facts"]["versions"]


def test_a_clean_run_says_so(tmp_path: Path) -> None:
    report = Report()
    report(SessionStarted(t=0.0, source="mic", speed=1.0, config={}))
    report.write(tmp_path)
    assert "Problems: none" in (tmp_path / "transcript.md").read_text()
    assert "<h2>Problems</h2><p>None.</p>" in (tmp_path / "report.html").read_text()


def test_chinese_is_written_as_characters_in_every_file_a_person_reads(tmp_path: Path) -> None:
    """UTF-8 everywhere, never \\u escapes: the transcript, the page, metrics.json, the event log
    and the kiosk's status payload."""
    from kernel.eventlog import JsonlWriter

    events = [
        SessionStarted(t=0.0, source="session 店门口", speed=0.0, config={"input": {"session": "店门口"}}),
        Transcribed(t=1.0, utterance=1, text="牌子上写的是什么？", final=True, compute_ms=1.0),
        SceneDescribed(t=1.2, text="一块红色的牌子，上面写着营业中", frame_t=1.0, change=0.3, backend="basic",
                       compute_ms=300.0),
        ReplyText(t=2.0, turn=1, utterance=1, text="牌子上写着营业中。", question="牌子上写的是什么？",
                  interrupted=False),
    ]
    report = Report()
    log = JsonlWriter(tmp_path / "events.jsonl")
    for event in events:
        report(event)
        log(event)
    log.close()
    report.write(tmp_path, extra={"session": "店门口"})
    for name, text in (("transcript.md", "营业中"), ("report.html", "营业中"), ("events.jsonl", "营业中"),
                       ("metrics.json", "店门口")):
        content = (tmp_path / name).read_text(encoding="utf-8")
        assert text in content and "\\u" not in content, name
