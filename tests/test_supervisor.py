"""Stage supervision: crashes and stalls are restarted with backoff; idle is not a stall.
Time is a fake monotonic clock whose sleep advances it; the session test runs on media time."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from assistant.models import Models
from assistant.supervisor import Supervisor
from dialogue.offline import OfflineResponder
from kernel.channels import Channel, Overflow
from kernel.clock import FakeClock, MediaClock
from kernel.eventlog import EventBus
from kernel.events import Event, ReplyText, SessionEnded, StageRestarted
from omnilive.settings import Settings
from speech.asr import WhisperAsr
from speech.audio_file import AudioFileSource
from speech.tts import PiperTts
from speech.vad import SileroVad

from .conftest import SESSION


class FakeTime:
    """``now`` and ``sleep`` for the supervisor: sleeping moves time on at once."""

    def __init__(self) -> None:
        self.t = 0.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds
        await asyncio.sleep(0)


def make(fake: FakeTime, events: list[Event], **kw: float) -> Supervisor:
    bus = EventBus(FakeClock())
    bus.subscribe(events.append)
    return Supervisor(bus, stall_s=kw.get("stall_s", 10.0), backoff_initial_s=0.5, backoff_max_s=2.0,
                      check_interval_s=1.0, now=fake.now, sleep=fake.sleep)


async def test_a_crashing_stage_is_restarted_with_backoff_and_loses_only_the_poisoned_item() -> None:
    fake, events = FakeTime(), []
    sup = make(fake, events)
    inbox: Channel[int] = Channel("in", 16, Overflow.BLOCK)
    done: list[int] = []

    async def stage() -> None:
        async for n in inbox:
            if n < 0:
                raise ValueError(f"poisoned {n}")
            done.append(n)

    for n in (1, -1, 2, -2, -3, -4, 3):
        inbox.put_nowait(n)
    inbox.close()
    async with asyncio.TaskGroup() as tg:
        sup.spawn(tg, "worker", stage, [inbox])
    assert done == [1, 2, 3]
    restarts = [e for e in events if isinstance(e, StageRestarted)]
    assert [r.restart for r in restarts] == [1, 2, 3, 4]
    assert [r.backoff_s for r in restarts] == [0.5, 1.0, 2.0, 2.0]  # doubling, capped at backoff_max_s
    assert restarts[0].reason == "crashed: ValueError: poisoned -1" and restarts[0].stage == "worker"
    assert sup.restarts == 4 and sup.stages["worker"].last_error.endswith("poisoned -4")


async def test_a_stalled_stage_is_cancelled_and_restarted_but_an_idle_one_is_left_alone() -> None:
    fake, events = FakeTime(), []
    sup = make(fake, events, stall_s=10.0)
    inbox: Channel[str] = Channel("in", 4, Overflow.BLOCK)
    handled: list[str] = []
    hang = asyncio.Event()  # never set: "hang" items block forever

    async def stage() -> None:
        async for item in inbox:
            if item == "hang":
                await hang.wait()
            handled.append(item)

    async with asyncio.TaskGroup() as tg:
        task = sup.spawn(tg, "worker", stage, [inbox])
        for _ in range(50):  # idle: 50 checks with nothing waiting, no restart
            await asyncio.sleep(0)
        assert fake.t >= 10.0 and not events
        inbox.put_nowait("a")
        inbox.put_nowait("hang")
        inbox.put_nowait("b")
        restarted = asyncio.Event()
        sup.bus.subscribe(lambda e: restarted.set())
        await asyncio.wait_for(restarted.wait(), timeout=5)
        restart = events[0]
        assert isinstance(restart, StageRestarted) and restart.reason.startswith("stalled: no progress for 10 s")
        inbox.close()
        await task
    assert handled == ["a", "b"]  # the stuck item was dropped; the next one went through


async def test_backoff_starts_over_after_a_healthy_run() -> None:
    fake, events = FakeTime(), []
    sup = make(fake, events, stall_s=5.0)
    inbox: Channel[int] = Channel("in", 16, Overflow.BLOCK)

    async def stage() -> None:
        async for n in inbox:
            if n == 0:
                raise RuntimeError("boom")
            fake.t += n  # a long stretch of good work

    for n in (0, 0, 100, 0):
        inbox.put_nowait(n)
    inbox.close()
    async with asyncio.TaskGroup() as tg:
        sup.spawn(tg, "worker", stage, [inbox])
    assert [e.backoff_s for e in events if isinstance(e, StageRestarted)] == [0.5, 1.0, 0.5]


async def test_disabled_supervision_lets_a_crash_end_the_session() -> None:
    sup = Supervisor(EventBus(FakeClock()), enabled=False)

    async def stage() -> None:
        raise RuntimeError("boom")

    with pytest.raises(ExceptionGroup):
        async with asyncio.TaskGroup() as tg:
            sup.spawn(tg, "worker", stage)


@pytest.fixture(scope="module")
def piper() -> PiperTts:
    return PiperTts()


class FlakyVad(SileroVad):
    """The real Silero model, failing once at a chosen media time, as a broken driver might."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.calls = 0
        self.fail_at = fail_at

    def __call__(self, samples):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("onnxruntime: device lost")
        return super().__call__(samples)


async def test_a_vad_crash_mid_session_restarts_the_stage_and_every_question_is_answered(
    tmp_path: Path, piper: PiperTts
) -> None:
    from assistant.session import Sources, run_replay

    settings = Settings.model_validate({"replay": {"speed": 0}, "supervisor": {"backoff_initial_s": 0.01}})
    clock = MediaClock()
    bus = EventBus(clock)
    events: list[Event] = []
    bus.subscribe(events.append)
    vad = FlakyVad(fail_at=200)  # ~6.4 s in, between the first and the second question
    models = Models(vad=vad, asr=WhisperAsr("tiny.en"), describer=None, tts=piper, llm=OfflineResponder())
    sources = Sources(audio=AudioFileSource(SESSION / "audio.wav"), video=None, label="test")
    await run_replay(settings, sources, models, bus, tmp_path)
    restarts = [e for e in events if isinstance(e, StageRestarted)]
    assert len(restarts) == 1 and restarts[0].stage == "vad" and "device lost" in restarts[0].reason
    assert 6.0 <= restarts[0].t <= 7.0
    assert len([e for e in events if isinstance(e, ReplyText)]) == 3
    assert isinstance(events[-1], SessionEnded) and events[-1].reason == "end_of_media"


async def test_muting_mid_utterance_drops_it_and_frees_the_describer(tmp_path: Path, piper: PiperTts) -> None:
    """Mute while the user is speaking: that utterance is dropped unheard (a ``transcript_ignored``),
    and the describer, which waits while a reply is pending, is not left waiting for one."""
    from assistant.pipeline import Pipeline
    from assistant.session import Sources, run_replay
    from kernel.events import SceneDescribed, SpeechStarted, TranscriptIgnored
    from perception.basic import BasicDescriber
    from perception.frames import VideoFileSource

    settings = Settings.model_validate({"replay": {"speed": 0}})
    clock = MediaClock()
    bus = EventBus(clock)
    events: list[Event] = []
    bus.subscribe(events.append)
    pipelines: list[Pipeline] = []

    def mute_on_second_question(event: Event) -> None:
        if isinstance(event, SpeechStarted) and event.utterance == 2:
            pipelines[0].controls.muted.set(True)

    bus.subscribe(mute_on_second_question)
    models = Models(vad=SileroVad(), asr=WhisperAsr("tiny.en"), describer=BasicDescriber(use_tesseract=False),
                    tts=piper, llm=OfflineResponder())
    sources = Sources(audio=AudioFileSource(SESSION / "audio.wav"), video=VideoFileSource(SESSION / "video.mp4"),
                      label="test")
    await asyncio.wait_for(run_replay(settings, sources, models, bus, tmp_path, on_ready=pipelines.append), 120)
    ignored = [e for e in events if isinstance(e, TranscriptIgnored)]
    assert [(e.utterance, e.reason) for e in ignored] == [(2, "muted")]
    assert len([e for e in events if isinstance(e, ReplyText)]) == 1  # only the question before the mute
    assert [e for e in events if isinstance(e, SceneDescribed) and e.t > ignored[0].t]  # vision went on
    assert isinstance(events[-1], SessionEnded) and events[-1].reason == "end_of_media"
