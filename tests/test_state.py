"""The one state tracker (``assistant.state``) and the views over it: the console's status line,
the kiosk's published state, attract mode's "anything under way" and the reply priority."""

from __future__ import annotations

import asyncio

import pytest
from rich.console import Console

from assistant.sharing import ReplyPriority
from assistant.state import Phase, StateTracker
from kernel.clock import FakeClock
from kernel.events import (
    BargeIn,
    Event,
    ReplyAudioEnded,
    ReplyAudioStarted,
    ReplyText,
    SessionEnded,
    SpeechEnded,
    SpeechStarted,
    StageRestarted,
    Transcribed,
    TranscriptIgnored,
)
from kiosk.runtime import KioskState
from omnilive.console import LiveStatus

L, H, T, S = Phase.LISTENING, Phase.HEARING, Phase.THINKING, Phase.SPEAKING


def start(u: int, t: float = 0.0) -> SpeechStarted:
    return SpeechStarted(t=t, utterance=u, speech_start_at=t)


def end(u: int, t: float = 0.0) -> SpeechEnded:
    return SpeechEnded(t=t, utterance=u, speech_start_at=t, speech_end_at=t)


def final(u: int, text: str) -> Transcribed:
    return Transcribed(t=0.0, utterance=u, text=text, final=True, compute_ms=1.0)


def partial(u: int, text: str) -> Transcribed:
    return Transcribed(t=0.0, utterance=u, text=text, final=False, compute_ms=1.0)


def ignored(u: int) -> TranscriptIgnored:
    return TranscriptIgnored(t=0.0, utterance=u, text="ok", reason="echo")


def audio(turn: int, t: float = 0.0) -> ReplyAudioStarted:
    return ReplyAudioStarted(t=t, turn=turn)


def audio_end(turn: int, t: float = 0.0) -> ReplyAudioEnded:
    return ReplyAudioEnded(t=t, turn=turn, duration_s=1.0, path=None)


def reply(turn: int, u: int) -> ReplyText:
    return ReplyText(t=0.0, turn=turn, utterance=u, text="Hi.", question="", interrupted=False)


def barge(u: int, turn: int) -> BargeIn:
    return BargeIn(t=0.0, utterance=u, turn=turn, echo_score=0.0)


RESTART = StageRestarted(t=0.0, stage="asr", reason="crashed", restart=1, backoff_s=0.5)
SESSION_END = SessionEnded(t=0.0, reason="eof", media_seconds=1.0, dropped={})

# (events, the phase after each, reply_pending after each)
TRANSITIONS: dict[str, tuple[list[Event], list[Phase], list[bool]]] = {
    "a turn": (
        [start(1), partial(1, "hel"), end(1), final(1, "Hello"), audio(1), audio_end(1), reply(1, 1)],
        [H, H, T, T, S, T, L],
        [False, False, True, True, True, True, False],
    ),
    "a final transcript ends the speech": ([start(1), final(1, "Hello")], [H, T], [False, True]),
    "no words: no turn": ([start(1), end(1), final(1, " ... ")], [H, T, L], [False, True, False]),
    "an empty final without speech_end": ([start(1), final(1, "")], [H, L], [False, False]),
    "echo or muted: ignored": ([start(1), end(1), final(1, "Hi"), ignored(1)], [H, T, T, L],
                               [False, True, True, False]),
    "barge-in": (
        [audio(1), start(2), barge(2, 1), audio_end(1), reply(1, 1), end(2)],
        [S, S, H, H, H, T],
        [False, False, False, False, False, True],
    ),
    "the echo while speaking": ([audio(1), start(2), end(2), ignored(2), audio_end(1)], [S, S, S, S, L],
                                [False, False, True, False, False]),
    "a reply over the user's speech": ([start(1), audio(1), audio_end(1)], [H, S, L], [False, False, False]),
    "the old turn's reply does not end the new one": (
        [end(1), final(1, "One"), end(2), reply(1, 1), final(2, "Two"), reply(2, 2)],
        [T, T, T, T, T, L],
        [True, True, True, True, True, False],
    ),
    "a wordless later utterance keeps the turn": (
        [end(1), final(1, "One"), end(2), final(2, "..."), reply(1, 1)],
        [T, T, T, T, L],
        [True, True, True, True, False],
    ),
    "an announcement (utterance -1)": ([end(3), audio(4), reply(4, -1)], [T, S, T], [True, True, True]),
    "the end of another turn's audio": ([audio(2), audio_end(1), reply(1, -1)], [S, S, S],
                                        [False, False, False]),
    "a restarted stage starts over": ([start(1), end(1), audio(1), RESTART], [H, T, S, L], [False, True, True, False]),
    "the session ends": ([start(1), end(1), start(2), SESSION_END], [H, T, H, L], [False, True, True, False]),
}


@pytest.mark.parametrize("name", TRANSITIONS)
def test_transitions(name: str) -> None:
    events, phases, pending = TRANSITIONS[name]
    tracker = StateTracker()
    seen: list[tuple[Phase, bool]] = []
    for event in events:
        tracker(event)
        seen.append((tracker.phase, tracker.reply_pending))
    assert seen == list(zip(phases, pending, strict=True))


def test_listeners_hear_each_change_once_and_activity_is_tracked() -> None:
    tracker = StateTracker()
    heard: list[tuple[Phase, bool, bool]] = []
    tracker.listeners.append(lambda s: heard.append((s.phase, s.muted, s.reply_pending)))
    for event in [start(1, 1.0), partial(1, "hi"), end(1, 2.0), final(1, "Hi"), audio(1, 3.0),
                  audio_end(1, 4.5), reply(1, 1)]:
        tracker(event)
    tracker.set_muted(True)
    tracker.set_muted(True)
    assert heard == [(H, False, False), (T, False, True), (S, False, True), (T, False, True), (L, False, False),
                     (L, True, False)]
    assert tracker.last_activity == 4.5
    assert not tracker.user_speaking and not tracker.reply_playing


def test_speech_and_audio_under_way() -> None:
    tracker = StateTracker()
    tracker(start(1, 1.0))
    tracker(audio(1, 2.0))
    assert tracker.user_speaking and tracker.reply_playing and tracker.phase is S
    tracker(end(1, 3.0))
    tracker(audio_end(1, 2.5))
    assert not tracker.user_speaking and not tracker.reply_playing and tracker.last_activity == 3.0


def shown(status: LiveStatus) -> str:
    console = Console(record=True, width=120)
    console.print(status)
    return console.export_text()


@pytest.mark.parametrize("ending", [ignored(1), final(1, ""), final(1, "...")], ids=["ignored", "empty", "no words"])
def test_the_console_stops_thinking_when_no_turn_follows(ending: Event) -> None:
    status = LiveStatus(FakeClock(5.0))
    status(start(1, 1.0))
    status(end(1, 2.0))
    assert "thinking" in shown(status)
    status(ending)
    assert status.state == "listening" and "listening" in shown(status)


def test_the_console_shows_hearing_after_a_barge_in() -> None:
    status = LiveStatus(FakeClock(5.0))
    status(audio(1))
    status(start(2))
    assert status.state == "speaking"
    status(barge(2, 1))
    assert status.state == "hearing you"


def test_views_can_share_one_tracker() -> None:
    tracker = StateTracker()
    status = LiveStatus(FakeClock(), tracker)
    kiosk = KioskState(tracker)
    published: list[str] = []
    kiosk.listeners.append(published.append)
    kiosk.ready()
    for event in [start(1), end(1), final(1, "Hi"), audio(1)]:
        tracker(event)
        status(event)  # a shared tracker is fed by its owner, not again by the views
        kiosk(event)
    assert status.state == "speaking" and tracker.last_activity == 0.0
    kiosk.set_muted(True)
    assert tracker.muted and kiosk.muted
    assert published == ["idle", "listening", "thinking", "speaking", "muted"]


async def test_reply_priority_waits_for_the_turn() -> None:
    priority = ReplyPriority()
    await asyncio.wait_for(priority.wait(), 1)
    priority(end(1))
    assert priority.reply_pending
    waiter = asyncio.ensure_future(priority.wait())
    await asyncio.sleep(0)
    priority(final(1, "Hello"))
    priority(reply(1, 0))  # an older utterance's reply: still pending
    await asyncio.sleep(0)
    assert not waiter.done()
    priority(reply(1, 1))
    await asyncio.wait_for(waiter, 1)
    assert not priority.reply_pending
    for ending in (final(2, "..."), ignored(2), SESSION_END):
        priority(end(2))
        assert priority.reply_pending
        priority(ending)
        assert not priority.reply_pending
        await asyncio.wait_for(priority.wait(), 1)
