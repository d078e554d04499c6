"""The runtime: channels, activity, clocks, turn cancellation and shutdown. No sleeps: a fake
clock, media time, and ``asyncio.sleep(0)`` to let other tasks run one step."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from assistant.replay import ReplayDriver
from dialogue.offline import OfflineResponder
from dialogue.prompt import Conversation
from kernel.channels import Activity, Channel, ChannelClosed, Overflow
from kernel.clock import FakeClock, MediaClock
from kernel.eventlog import EventBus
from kernel.events import Event, ReplyAudioStarted, ReplyText, SessionEnded, SpeechEnded, Transcribed, TurnMetrics
from perception.memory import SceneDescription, SceneMemory
from perception.sampling import Sampler
from speech.audio import AudioBlock
from speech.audio_file import AudioFileSource
from speech.tts import PiperTts

from .conftest import SESSION
from .fakes import GatedSink


async def test_drop_oldest_counts_what_it_drops() -> None:
    ch: Channel[int] = Channel("t", 2, Overflow.DROP_OLDEST)
    for i in range(5):
        assert ch.put_nowait(i)
    assert ch.dropped == 3
    assert [await ch.get(), await ch.get()] == [3, 4]


async def test_block_waits_for_room_and_never_drops() -> None:
    ch: Channel[int] = Channel("t", 1, Overflow.BLOCK)
    await ch.put(1)
    assert not ch.put_nowait(2)
    waiter = asyncio.create_task(ch.put(2))
    await asyncio.sleep(0)
    assert not waiter.done()
    assert await ch.get() == 1
    await waiter
    assert await ch.get() == 2
    assert ch.dropped == 0


async def test_close_drains_then_ends_iteration() -> None:
    ch: Channel[int] = Channel("t", 4)
    for i in range(3):
        await ch.put(i)
    ch.close()
    assert [i async for i in ch] == [0, 1, 2]
    with pytest.raises(ChannelClosed):
        await ch.put(9)


async def test_activity_is_busy_until_the_consumer_moves_on() -> None:
    activity = Activity()
    a: Channel[int] = Channel("a", 4, activity=activity)
    b: Channel[int] = Channel("b", 4, activity=activity)
    await a.put(1)
    assert activity.busy == 1
    item = await a.get()
    await b.put(item * 10)  # handing on before finishing keeps the pipeline busy
    a.task_done()
    assert activity.busy == 1
    assert await b.get() == 10
    b.task_done()
    assert activity.busy == 0
    await asyncio.wait_for(activity.wait_idle(), 1)


async def test_clear_releases_activity() -> None:
    activity = Activity()
    ch: Channel[int] = Channel("t", 4, activity=activity)
    for i in range(3):
        await ch.put(i)
    assert ch.clear() == 3
    assert activity.busy == 0


async def test_fake_clock_wakes_sleepers_in_order() -> None:
    clock = FakeClock()
    woke: list[float] = []

    async def sleeper(t: float) -> None:
        await clock.sleep_until(t)
        woke.append(clock.now())

    tasks = [asyncio.create_task(sleeper(t)) for t in (2.0, 1.0)]
    await asyncio.sleep(0)
    clock.advance(1.5)
    await asyncio.sleep(0)
    assert woke == [1.5]
    clock.advance(1.0)
    await asyncio.gather(*tasks)
    assert woke == [1.5, 2.5]


async def test_replay_driver_moves_media_clock_only_when_idle() -> None:
    clock = MediaClock()
    activity = Activity()
    audio = AudioFileSource(SESSION / "audio.wav")
    blocks: Channel[AudioBlock] = Channel("audio", 4, activity=activity)
    frames: Channel[object] = Channel("frames", 1, Overflow.DROP_OLDEST, activity=activity)
    driver = ReplayDriver(
        audio=audio, video=None, sampler=Sampler(1.0), clock=clock, activity=activity,
        audio_out=blocks, frames_out=frames,  # type: ignore[arg-type]
    )
    seen: list[tuple[float, float]] = []

    async def consume() -> None:
        async for block in blocks:
            seen.append((block.t, clock.now()))

    await asyncio.gather(driver.run(), consume())
    assert len(seen) == pytest.approx(audio.duration * 16000 / 512, abs=1)
    # Each block is seen once its last sample has "arrived", never before.
    assert all(abs(now - (t + 0.032)) < 1e-9 for t, now in seen)
    assert clock.now() == pytest.approx(audio.duration, abs=0.04)
    assert frames.closed and blocks.closed


@pytest.fixture(scope="module")
def piper() -> PiperTts:
    return PiperTts("joe")


async def test_cancelled_turn_is_recorded_as_interrupted(piper: PiperTts) -> None:
    from assistant.timing import TurnTimer
    from assistant.turns import TurnRunner

    clock = FakeClock(1.5)
    bus = EventBus(clock)
    events: list[Event] = []
    bus.subscribe(events.append)
    timer = TurnTimer()
    bus.subscribe(timer)
    memory = SceneMemory()
    memory.update(SceneDescription(text="A red sign reads OPEN.", frame_t=0.0, described_at=0.0, backend="basic"))
    conversation = Conversation(4)
    sink = GatedSink()
    runner = TurnRunner(
        bus=bus, llm=OfflineResponder(), tts=piper, sink=sink, memory=memory, conversation=conversation, timer=timer
    )
    bus.publish(SpeechEnded(t=1.5, utterance=1, speech_start_at=0.2, speech_end_at=1.0))
    bus.publish(Transcribed(t=1.5, utterance=1, text="what do you see", final=True, compute_ms=1.0))
    turn = asyncio.create_task(runner.run(1, 1, "what do you see"))
    await asyncio.wait_for(sink.first_write.wait(), 30)
    clock.advance(1.0)
    turn.cancel()
    with pytest.raises(asyncio.CancelledError):
        await turn
    assert sink.closed == [True]
    # Nothing of the cancelled turn is spoken after the cancel, even once the speaker is free again.
    sink.gate.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert sink.written == 0
    reply = [e for e in events if isinstance(e, ReplyText)]
    assert len(reply) == 1 and reply[0].interrupted
    assert conversation.exchanges()[-1].interrupted
    assert any(isinstance(e, ReplyAudioStarted) for e in events)
    metrics = [e for e in events if isinstance(e, TurnMetrics)]
    assert len(metrics) == 1
    assert metrics[0].vad_end_ms == 500.0 and metrics[0].first_audio_ms == 500.0
    assert metrics[0].compute["llm_first_token_ms"] >= 0 and metrics[0].compute["tts_ms"] > 0
    # Nothing is left running: the LLM and TTS tasks of the turn were cancelled too.
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not [t for t in others if (t.get_name() or "").startswith("turn-")]


async def test_turn_completes_and_is_remembered(piper: PiperTts) -> None:
    from assistant.timing import TurnTimer
    from assistant.turns import TurnRunner

    bus = EventBus(FakeClock())
    events: list[Event] = []
    bus.subscribe(events.append)
    sink = GatedSink()
    sink.gate.set()
    conversation = Conversation(4)
    runner = TurnRunner(
        bus=bus, llm=OfflineResponder(), tts=piper, sink=sink, memory=SceneMemory(), conversation=conversation,
        timer=TurnTimer(),
    )
    await runner.run(1, 1, "hello there")
    assert sink.closed == [False]
    assert sink.written > piper.sample_rate  # more than a second of speech
    reply = next(e for e in events if isinstance(e, ReplyText))
    assert "No language model is connected" in reply.text and not reply.interrupted
    assert conversation.exchanges()[-1].assistant == reply.text


async def test_shutdown_mid_replay_ends_the_record(tmp_path, piper: PiperTts) -> None:
    """Cancelling a replay (Ctrl-C) closes every stage and still writes session_end."""
    from assistant.models import Models
    from assistant.session import Sources, run_replay
    from omnilive.settings import Settings
    from speech.asr import WhisperAsr
    from speech.vad import SileroVad

    settings = Settings.model_validate({"replay": {"speed": 0}})
    clock = MediaClock()
    bus = EventBus(clock)
    events: list[Event] = []
    bus.subscribe(events.append)
    models = Models(vad=SileroVad(), asr=WhisperAsr("tiny.en"), describer=None, tts=piper, llm=OfflineResponder())
    sources = Sources(audio=AudioFileSource(SESSION / "audio.wav"), video=None, label="test")
    task = asyncio.create_task(run_replay(settings, sources, models, bus, tmp_path))
    await clock.sleep_until(8.0)  # media time: past the first question
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    end = [e for e in events if isinstance(e, SessionEnded)]
    assert len(end) == 1 and end[0].reason == "interrupted"
    assert 8.0 <= end[0].media_seconds < 12.0
    assert [e for e in events if isinstance(e, ReplyText)]  # the first turn had been answered
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not others


def test_empty_block_shape_is_refused() -> None:
    from speech.vad import SileroVad

    with pytest.raises(ValueError):
        SileroVad()(np.zeros(100, dtype=np.float32))


async def test_a_cancelled_turn_never_leaves_two_syntheses_running_and_no_piece_is_long(piper: PiperTts) -> None:
    """35 ``say`` commands, each cancelling the last, once took Piper from 0.5 to 3 GB: every
    cancelled turn's synthesis went on in its own thread beside the next one's."""
    import threading

    from assistant.timing import TurnTimer
    from assistant.turns import TurnRunner

    class Watched:
        sample_rate = piper.sample_rate

        def __init__(self) -> None:
            self.lock = threading.Lock()
            self.running = 0
            self.most = 0
            self.texts: list[str] = []
            self.started = threading.Event()

        def synthesize(self, text: str) -> np.ndarray:
            with self.lock:
                self.running += 1
                self.most = max(self.most, self.running)
                self.texts.append(text)
            self.started.set()
            try:
                return piper.synthesize(text)
            finally:
                with self.lock:
                    self.running -= 1

    tts = Watched()
    sink = GatedSink()
    sink.gate.set()
    runner = TurnRunner(bus=EventBus(FakeClock()), llm=OfflineResponder(), tts=tts, sink=sink,  # type: ignore[arg-type]
                        memory=SceneMemory(), conversation=Conversation(4), timer=TurnTimer())
    long = "and then the paper slid to the left " * 60  # 2160 characters, no full stop
    for turn in range(1, 4):
        tts.started.clear()
        task = asyncio.create_task(runner.announce(turn, long))
        assert await asyncio.to_thread(tts.started.wait, 30)  # its first piece is being synthesised
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await runner.announce(4, "Hello.")
    assert tts.most == 1  # never two at once, though each cancel left a synthesis running
    assert tts.texts[-1] == "Hello."
    assert len(tts.texts) <= 3 * 2 + 1  # a cancelled turn starts no piece after the one running
    assert all(len(t) <= 220 for t in tts.texts)


async def test_a_piece_the_voice_cannot_say_is_a_clear_tts_error_and_the_rest_is_spoken(piper: PiperTts) -> None:
    from assistant.timing import TurnTimer
    from assistant.turns import TurnRunner
    from kernel.events import ErrorOccurred

    class Picky:
        sample_rate = piper.sample_rate

        def synthesize(self, text: str) -> np.ndarray:
            if "\x00" in text:
                raise RuntimeError("espeak: invalid character")
            return piper.synthesize(text)

    bus = EventBus(FakeClock())
    events: list[Event] = []
    bus.subscribe(events.append)
    sink = GatedSink()
    sink.gate.set()
    runner = TurnRunner(bus=bus, llm=OfflineResponder(), tts=Picky(), sink=sink,  # type: ignore[arg-type]
                        memory=SceneMemory(), conversation=Conversation(4), timer=TurnTimer())
    await runner.announce(1, "Bad \x00 piece here. Then a good one.")
    errors = [e for e in events if isinstance(e, ErrorOccurred)]
    assert len(errors) == 1 and errors[0].stage == "tts" and "invalid character" in errors[0].message
    assert "ExceptionGroup" not in errors[0].message
    assert sink.written > 0  # the good sentence was still spoken
