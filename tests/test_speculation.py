"""The reply asked for on the early transcript (``dialogue.speculative``): the LLM is asked at the
pause, nothing is heard before the turn is confirmed, a change of words cancels and asks again,
and the voice going on after the pause drops the early request. Piper and Silero are real; the
LLM is a small stand-in for a streaming server that the test lets answer."""

from __future__ import annotations

import asyncio
import subprocess
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from assistant.timing import TurnTimer
from assistant.turn_manager import TurnManager
from assistant.turns import TurnRunner
from dialogue.prompt import Conversation, ReplyRequest
from kernel.channels import Activity, Channel, Overflow
from kernel.clock import FakeClock
from kernel.eventlog import EventBus
from kernel.events import Event, ReplyAudioStarted, ReplyChunk, ReplyText, Speculated, SpeechEnded, TurnMetrics
from omnilive.testing import speech_ends
from perception.memory import SceneMemory
from speech.audio import SAMPLE_RATE, Audio
from speech.stages import EarlyTranscriber, FinalTranscript
from speech.tts import PiperTts
from speech.vad import Segmenter, SileroVad

from .fakes import GatedSink


class ServerLlm:
    """Streams ``Answer to <question>.`` in subword pieces once ``release`` is set; records every
    request and every stream that was closed before its end (a cancelled request)."""

    name = "server"

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.cancelled: list[str] = []
        self.release = asyncio.Event()

    async def stream(self, request: ReplyRequest) -> AsyncIterator[str]:
        self.asked.append(request.question)
        finished = False
        try:
            await self.release.wait()
            text = f"Answer to {request.question.rstrip('?.')}. That is all."
            for i in range(0, len(text), 4):
                yield text[i : i + 4]
            finished = True
        finally:
            if not finished:
                self.cancelled.append(request.question)


@pytest.fixture(scope="module")
def piper() -> PiperTts:
    return PiperTts("joe")


def manager_for(
    piper: PiperTts | CountingTts, *, speculative: bool = True,
) -> tuple[TurnManager, ServerLlm, GatedSink, list[Event]]:
    bus = EventBus(FakeClock())
    events: list[Event] = []
    bus.subscribe(events.append)
    timer = TurnTimer()
    bus.subscribe(timer)
    llm, sink = ServerLlm(), GatedSink()
    sink.gate.set()
    runner = TurnRunner(bus=bus, llm=llm, tts=piper, sink=sink, memory=SceneMemory(),  # type: ignore[arg-type]
                        conversation=Conversation(4), timer=timer)
    return TurnManager(runner, Activity(), speculative=speculative), llm, sink, events


class CountingTts:
    """Piper, recording each piece it synthesized (in its thread) and the audio's length."""

    def __init__(self, piper: PiperTts) -> None:
        self.piper = piper
        self.sample_rate = piper.sample_rate
        self.said: list[tuple[str, int]] = []
        self.done = threading.Event()

    def synthesize(self, text: str) -> np.ndarray:
        pcm = self.piper.synthesize(text)
        self.said.append((text, len(pcm)))
        self.done.set()
        return pcm


def started(manager: TurnManager) -> tuple[Channel[FinalTranscript], asyncio.Task[None]]:
    """The manager running on a channel of final transcripts of its own."""
    transcripts: Channel[FinalTranscript] = Channel("transcripts", 4, Overflow.BLOCK)
    return transcripts, asyncio.create_task(manager.run(transcripts))


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_the_reply_is_asked_for_at_the_pause_and_heard_only_once_the_turn_is_confirmed(piper: PiperTts) -> None:
    manager, llm, sink, events = manager_for(piper)
    transcripts, running = started(manager)
    manager.speculate(1, "What is on the table?")
    await settle()
    assert llm.asked == ["What is on the table?"]
    llm.release.set()  # the whole reply arrives while the VAD still waits out its silence
    await settle()
    assert sink.written == 0 and sink.opened == [] and not any(isinstance(e, ReplyAudioStarted) for e in events)

    bus = manager.runner.bus
    bus.publish(SpeechEnded(t=bus.clock.now(), utterance=1, speech_start_at=0.0, speech_end_at=1.0))
    await transcripts.put(FinalTranscript(1, "what is on the table", 1.0))  # same words, other case and punctuation
    transcripts.close()
    await asyncio.wait_for(running, 30)
    assert llm.asked == ["What is on the table?"]  # no second request
    assert sink.written > piper.sample_rate // 2
    reply = next(e for e in events if isinstance(e, ReplyText))
    assert reply.text == "Answer to What is on the table. That is all." and reply.question == "what is on the table"
    assert [(e.utterance, e.used) for e in events if isinstance(e, Speculated)] == [(1, True)]
    assert (manager.speculated, manager.speculation_used, manager.speculation_wasted) == (1, 1, 0)
    assert next(e for e in events if isinstance(e, TurnMetrics)).compute["llm_first_token_ms"] >= 0


async def test_other_final_words_cancel_the_early_request_and_ask_again(piper: PiperTts) -> None:
    manager, llm, _sink, events = manager_for(piper)
    transcripts, running = started(manager)
    manager.speculate(1, "Can you tell me what is on the")
    await settle()
    await transcripts.put(FinalTranscript(1, "Can you tell me what is on the table?", 2.0))
    await settle()
    assert llm.cancelled == ["Can you tell me what is on the"]  # its stream was closed: the server stops
    llm.release.set()
    transcripts.close()
    await asyncio.wait_for(running, 30)
    assert llm.asked == ["Can you tell me what is on the", "Can you tell me what is on the table?"]
    reply = next(e for e in events if isinstance(e, ReplyText))
    assert reply.text == "Answer to Can you tell me what is on the table. That is all."
    assert [e.used for e in events if isinstance(e, Speculated)] == [False]
    assert (manager.speculated, manager.speculation_used, manager.speculation_wasted) == (1, 0, 1)


async def test_with_speculation_off_nothing_is_asked_before_the_turn_ends(piper: PiperTts) -> None:
    manager, llm, _sink, events = manager_for(piper, speculative=False)
    manager.speculate(1, "What is on the table?")
    await settle()
    assert llm.asked == [] and manager.speculated == 0
    transcripts: Channel[FinalTranscript] = Channel("transcripts", 4, Overflow.BLOCK)
    await transcripts.put(FinalTranscript(1, "What is on the table?", 1.0))
    transcripts.close()
    llm.release.set()
    await asyncio.wait_for(manager.run(transcripts), 30)
    assert llm.asked == ["What is on the table?"]
    assert not any(isinstance(e, Speculated) for e in events)


async def test_an_echo_or_a_reply_in_progress_is_not_speculated_on(piper: PiperTts) -> None:
    manager, llm, _sink, _events = manager_for(piper)
    manager.screen = lambda final: "echo" if "answer" in final.text.lower() else None
    manager.speculate(1, "Answer to what is on the table.")
    await settle()
    assert llm.asked == []
    transcripts: Channel[FinalTranscript] = Channel("transcripts", 4, Overflow.BLOCK)
    await transcripts.put(FinalTranscript(1, "hello there", 1.0))
    running = asyncio.create_task(manager.run(transcripts))
    await settle()
    assert manager.active  # waiting for the server
    manager.speculate(2, "What colour is it?")  # heard while the reply is in progress
    await settle()
    assert llm.asked == ["hello there"]
    llm.release.set()
    transcripts.close()
    await asyncio.wait_for(running, 30)


def espeak(ssml: str, folder: Path) -> Audio:
    path = folder / "say.wav"
    subprocess.run(["espeak-ng", "-m", "-v", "en-us", "-s", "150", "-w", str(path), ssml], check=True)
    audio, rate = sf.read(path, dtype="float32")
    return np.asarray(soxr.resample(audio, rate, SAMPLE_RATE), dtype=np.float32)


class Words:
    """Stands in for Whisper: the clip's length in tenths of a second, as text."""

    def transcribe(self, audio: Audio) -> str:
        return f"{len(audio) // 1600} tenths"


async def test_the_voice_going_on_after_a_pause_drops_what_was_started_on_it(tmp_path: Path) -> None:
    """Real speech with a 300 ms hesitation inside, through real Silero and the VAD stage: the
    pause is decoded early, the voice comes back, and the listener hears that once."""
    speech = espeak('<speak>can you tell me <break time="300ms"/> what is on the table</speak>', tmp_path)
    audio = np.concatenate([np.zeros(SAMPLE_RATE // 2, dtype=np.float32), speech,
                            np.zeros(SAMPLE_RATE, dtype=np.float32)])
    heard: list[tuple[int, str]] = []
    resumed: list[int] = []
    early = EarlyTranscriber(Words(), None, lambda u, text: heard.append((u, text)), after_ms=96,
                             on_resume=resumed.append)
    ended = await speech_ends(audio, SileroVad(), Segmenter(min_silence_ms=500), early=early)
    assert len(ended) == 1  # one question, not two
    job = early.take(1, ended[0].speech_end_at)  # the early decode at the real end of the turn
    assert job is not None and job.task is not None
    text = await asyncio.wait_for(job.task, 30)
    await settle()
    assert resumed == [1]  # the hesitation's transcript went stale once, and the turn's end did not
    assert heard[-1] == (1, text)


def test_speculation_is_off_by_default_only_for_a_server_that_may_bill_each_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dialogue.backends import billed
    from dialogue.offline import OfflineResponder
    from dialogue.openai_chat import OpenAIChat

    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    for url in ("http://127.0.0.1:8000/v1", "http://localhost:11434/v1", "http://192.168.1.20:8080/v1",
                "http://[::1]:9000/v1", "http://gpu-box.local:8000/v1"):
        assert not billed(OpenAIChat(base_url=url, api_key="k")), url
    for url in (None, "https://api.openai.com/v1", "https://openrouter.ai/api/v1", "http://8.8.8.8/v1"):
        assert billed(OpenAIChat(base_url=url, api_key="k")), url
    assert not billed(OfflineResponder())


async def test_a_chinese_question_is_speculated_on_and_matched_without_its_punctuation(piper: PiperTts) -> None:
    manager, llm, _sink, _events = manager_for(piper)
    transcripts, running = started(manager)
    manager.speculate(1, "牌子上写的是什么？")
    await settle()
    assert llm.asked == ["牌子上写的是什么？"]
    llm.release.set()
    await transcripts.put(FinalTranscript(1, "牌子上写的是什么", 1.0, "zh"))
    transcripts.close()
    await asyncio.wait_for(running, 30)
    assert llm.asked == ["牌子上写的是什么？"] and manager.speculation_used == 1


async def test_a_reply_still_silent_when_the_user_speaks_again_is_cut(piper: PiperTts) -> None:
    from assistant.turn_manager import SilentReplyCut
    from kernel.events import BargeIn, SpeechStarted

    manager, llm, sink, events = manager_for(piper, speculative=False)
    bus = manager.runner.bus
    bus.subscribe(SilentReplyCut(manager))
    transcripts, running = started(manager)
    await transcripts.put(FinalTranscript(1, "What is on the table?", 1.0))
    await settle()
    assert manager.active and llm.asked == ["What is on the table?"]  # the LLM is slow: nothing heard yet
    bus.publish(SpeechStarted(t=bus.clock.now(), utterance=2, speech_start_at=5.0))  # the next question begins
    await settle()
    assert not manager.active and llm.cancelled == ["What is on the table?"]
    assert [(e.utterance, e.turn) for e in events if isinstance(e, BargeIn)] == [(2, 1)]
    assert sink.written == 0  # it never began over the user

    audible = asyncio.Event()
    bus.subscribe(lambda e: audible.set() if isinstance(e, ReplyAudioStarted) and e.turn == 2 else None)
    llm.release.set()  # a reply that is playing is left to the barge-in (and its echo guard)
    await transcripts.put(FinalTranscript(2, "And the sign?", 6.0))
    await asyncio.wait_for(audible.wait(), 30)
    bus.publish(SpeechStarted(t=bus.clock.now(), utterance=3, speech_start_at=9.0))
    transcripts.close()
    await asyncio.wait_for(running, 30)
    assert len([e for e in events if isinstance(e, BargeIn)]) == 1
    assert next(e for e in events if isinstance(e, ReplyText) and e.turn == 2).interrupted is False


async def first_piece_synthesized(piper: PiperTts, question: str) -> tuple[
    CountingTts, GatedSink, list[Event], tuple[Channel[FinalTranscript], asyncio.Task[None]]
]:
    """A running manager that speculated on ``question``, once the reply's first piece is synthesized."""
    tts = CountingTts(piper)
    manager, llm, sink, events = manager_for(tts)
    running = started(manager)
    manager.speculate(1, question)
    await settle()
    llm.release.set()
    assert await asyncio.to_thread(tts.done.wait, 30)
    await settle()
    return tts, sink, events, running


async def test_the_first_piece_is_synthesized_while_the_turn_is_decided_and_not_again(piper: PiperTts) -> None:
    """The speculated reply's first piece is turned into speech before the turn is confirmed
    (nothing played); once it is, that audio is the first heard and the piece is not synthesized twice."""
    tts, sink, events, (transcripts, running) = await first_piece_synthesized(piper, "What is on the table?")
    early = [text for text, _ in tts.said]
    assert len(early) == 1 and early[0].startswith("Answer to")
    assert sink.written == 0 and sink.opened == []  # synthesized, not heard

    await transcripts.put(FinalTranscript(1, "What is on the table?", 1.0))
    transcripts.close()
    await asyncio.wait_for(running, 30)
    chunks = [e.text for e in events if isinstance(e, ReplyChunk)]
    assert chunks[0] == early[0] and len(chunks) >= 2
    assert [text for text, _ in tts.said] == chunks  # each piece once, the first one early
    assert sink.written == sum(n for _, n in tts.said)


async def test_a_first_piece_synthesized_for_words_that_changed_is_never_heard(piper: PiperTts) -> None:
    tts, sink, events, (transcripts, running) = await first_piece_synthesized(
        piper, "Can you tell me what is on the")
    wasted = tts.said[0][0]
    await transcripts.put(FinalTranscript(1, "Can you tell me what is on the table?", 2.0))
    transcripts.close()
    await asyncio.wait_for(running, 30)
    chunks = [e.text for e in events if isinstance(e, ReplyChunk)]
    assert wasted not in chunks and "".join(chunks).replace(" ", "").startswith("AnswertoCanyoutellmewhatisonthetable")
    assert sink.written == sum(n for text, n in tts.said[1:]) and [text for text, _ in tts.said[1:]] == chunks
