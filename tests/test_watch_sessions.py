"""Standing watches through the real pipeline: sessions made by scripts/make_watch_sessions.py (real
photos, the project's signs, Piper, flite and the Chinese voice), replayed by the command line. The
request is spoken, heard by Whisper and answered by the watch grammar; the alert comes when the
thing is in view, names it, and nothing is said when it never appears. And the alert waits for its
moment: never over the user, never over a reply."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from assistant.watching import Watching
from kernel.channels import Activity
from kernel.clock import FakeClock
from kernel.eventlog import EventBus
from kernel.events import ReplyAudioEnded, ReplyAudioStarted, SpeechEnded, SpeechStarted
from perception.memory import SceneDescription, SceneMemory
from perception.scene import SceneDetails
from perception.things import Thing
from scripts.make_watch_sessions import Speakers, make, sessions

from .conftest import read_events, run_cli

NAMES = ("cat-arrives", "someone-comes-and-goes", "sign-closes", "cup-taken", "cat-arrives-zh", "no-cat", "nobody")


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]:
    root = tmp_path_factory.mktemp("watch")
    speakers = Speakers()
    try:
        chosen = [s for s in sessions(0.5) if s.name in NAMES]
        for session in chosen:
            make(root / session.name, session, speakers)
    finally:
        speakers.close()
    out: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    for session in chosen:
        folder = root / session.name
        proc = run_cli("--session", str(folder), "--speed", "0", "--out", str(root / f"{session.name}-out"), "-q",
                       "--set", "dialogue.backend=offline", "--set", f"language={session.language}", timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        manifest = json.loads((folder / "session.json").read_text(encoding="utf-8"))
        out[session.name] = (manifest, read_events(root / f"{session.name}-out"))
    return out


def alerts(events: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Each watch_fired event with the reply that said it (a turn with no question)."""
    fired = [e for e in events if e["type"] == "watch_fired"]
    said = [e for e in events if e["type"] == "reply_text" and not e["question"]]
    assert len(said) == len(fired), (fired, said)
    return list(zip(fired, said, strict=True))


@pytest.mark.parametrize("name", [n for n in NAMES if not n.startswith("no")])
def test_the_alert_comes_when_the_thing_is_in_view_and_names_it(
        replayed: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]], name: str) -> None:
    manifest, events = replayed[name]
    watch = manifest["watch"]
    confirmed = [e for e in events if e["type"] == "watch_set"]
    assert len(confirmed) == 1, [e["text"] for e in events if e["type"] == "reply_text"]
    fired = alerts(events)
    assert len(fired) == watch["alerts"], fired
    for (event, reply), (start, end) in zip(fired, watch["shown"], strict=True):
        assert start <= event["since_t"] < end  # on a frame that shows it
        assert reply["t"] - start <= 4.0, (reply, start)  # media time from its first frame to the alert
        assert event["name"].lower() in reply["text"].lower() or name in {"someone-comes-and-goes", "sign-closes"}


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith("no")])
def test_nothing_is_said_when_the_thing_never_appears(
        replayed: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]], name: str) -> None:
    _, events = replayed[name]
    assert [e["type"] for e in events if e["type"] == "watch_set"] == ["watch_set"]
    assert alerts(events) == []


def test_the_chinese_request_is_confirmed_and_alerted_in_chinese(
        replayed: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]) -> None:
    _, events = replayed["cat-arrives-zh"]
    texts = [e["text"] for e in events if e["type"] == "reply_text"]
    assert texts == ["看到猫的时候我会告诉你。", "猫来了。"], texts


async def test_an_alert_waits_for_the_user_and_for_the_reply_then_is_said() -> None:
    bus = EventBus(FakeClock())
    memory = SceneMemory()
    said: list[str] = []

    async def say(text: str) -> int:
        said.append(text)
        return 1

    watching = Watching(bus, memory, Activity(), say=say, busy=lambda: False)
    assert watching.answer("Tell me when you see a cat.") == "I'll tell you when I see a cat."
    cat = SceneDetails(objects=("cat",), faces=0, people=0, shapes=(), background="", light="", plain="", text=(),
                       things=(Thing("cat"),), boxed=True)
    bus.publish(SpeechStarted(t=0.5, utterance=1, speech_start_at=0.4))  # the user is talking
    bus.publish(ReplyAudioStarted(t=0.6, turn=3))  # ...and a reply is playing
    for t in (1.0, 2.0):
        memory.update(SceneDescription(text="a cat", frame_t=t, described_at=t, backend="basic", details=cat))
    await asyncio.sleep(0)
    assert said == []
    bus.publish(SpeechEnded(t=2.5, utterance=1, speech_start_at=0.4, speech_end_at=2.4))
    await asyncio.sleep(0)
    assert said == []  # the reply still plays
    bus.publish(ReplyAudioEnded(t=3.0, turn=3, duration_s=2.4, path=None))
    for _ in range(3):
        await asyncio.sleep(0)
    assert said == ["The cat is here now."]
    assert watching.answer("What are you watching for?") == "I'm not watching for anything."  # it fired once


def test_the_session_script_makes_what_it_says(tmp_path: Path) -> None:
    chosen = [s for s in sessions(0.5) if s.name == "cup-taken"]
    make(tmp_path / "cup", chosen[0], Speakers())
    manifest = json.loads((tmp_path / "cup" / "session.json").read_text(encoding="utf-8"))
    assert manifest["watch"] == {"shown": [[12, 24]], "alerts": 1}
    assert (tmp_path / "cup" / "video.mp4").stat().st_size > 10_000
