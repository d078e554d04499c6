"""The OpenAI-compatible dialogue backend, against a local server that streams chat completions."""

from __future__ import annotations

import re

from .conftest import read_events, run_main
from .fakes import chat_server

REPLY = "I can see a red sign. It says open, so the shop is welcoming you in."


def test_replay_with_openai_backend(tmp_path) -> None:
    out = tmp_path / "run"
    with chat_server(REPLY) as (base_url, requests):
        proc = run_main(
            "--config", "configs/demo.yaml", "--speed", "0", "--out", str(out), "--set", "dialogue.grounded=false",
            env={"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "sk-test", "OPENAI_MODEL": "local-model"},
        )
    assert proc.returncode == 0, proc.stderr
    assert len(requests) == 3
    second = requests[1]
    assert second["model"] == "local-model"
    assert second["stream"] is True
    assert second["_auth"] == "Bearer sk-test"
    assert second["_path"] == "/v1/chat/completions"
    messages = second["messages"]
    assert messages[0]["role"] == "system"
    assert re.search(r"read the sign", messages[-1]["content"], re.IGNORECASE)  # the transcript
    camera = [m["content"] for m in messages if m["content"].startswith("Camera")]
    assert camera and "OPEN" in camera[-1]  # the scene seen when the question was asked
    # The first exchange is remembered in the second request.
    assert any(m["role"] == "assistant" and m["content"] == REPLY for m in messages)

    events = read_events(out)
    replies = [e for e in events if e["type"] == "reply_text"]
    assert [r["text"] for r in replies] == [REPLY] * 3
    assert [e["backend"] for e in events if e["type"] == "reply_first_token"] == ["openai"] * 3
    chunks = [e["text"] for e in events if e["type"] == "reply_chunk" and e["turn"] == 1]
    assert chunks == ["I can see a red sign.", "It says open, so the shop is welcoming you in."]
    assert (out / "replies" / "turn-01.wav").stat().st_size > 20_000


def test_server_failure_is_reported_and_spoken(tmp_path) -> None:
    out = tmp_path / "run"
    with chat_server(REPLY, status=500) as (base_url, requests):
        proc = run_main(
            "--config", "configs/demo.yaml", "--speed", "0", "--out", str(out), "--set", "dialogue.grounded=false",
            "--set", "dialogue.backend=openai", "--set", f"dialogue.base_url={base_url}",
            "--set", "dialogue.timeout_s=5", "--set", "dialogue.max_retries=0",
        )
    assert proc.returncode == 0, proc.stderr
    assert requests  # it did try the server
    events = read_events(out)
    errors = [e for e in events if e["type"] == "error"]
    assert len(errors) == 3 and all(e["stage"] == "dialogue" and e["code"] == "backend" for e in errors)
    replies = [e for e in events if e["type"] == "reply_text"]
    assert len(replies) == 3 and all(r["text"].startswith("Sorry") for r in replies)
    assert len([e for e in events if e["type"] == "reply_audio_start"]) == 3


def test_garbage_and_stalls_get_an_apology_then_the_next_turn_recovers(tmp_path) -> None:
    out = tmp_path / "run"
    with chat_server(REPLY, script=["garbage", "stall", "ok"]) as (base_url, requests):
        proc = run_main(
            "--config", "configs/demo.yaml", "--speed", "0", "--out", str(out), "--set", "dialogue.grounded=false",
            "--set", "dialogue.backend=openai", "--set", f"dialogue.base_url={base_url}",
            "--set", "dialogue.timeout_s=1", "--set", "dialogue.max_retries=0",
        )
    assert proc.returncode == 0, proc.stderr
    assert len(requests) == 3
    events = read_events(out)
    errors = [e for e in events if e["type"] == "error"]
    assert [e["code"] for e in errors] == ["backend", "backend"] and all(e["stage"] == "dialogue" for e in errors)
    replies = [e["text"] for e in events if e["type"] == "reply_text"]
    assert replies[0].startswith("Sorry") and replies[1].startswith("Sorry")
    assert replies[2] == REPLY  # the session went on and recovered
    assert len([e for e in events if e["type"] == "reply_audio_start"]) == 3
