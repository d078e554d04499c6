"""The async speech stages: audio blocks → VAD → utterances → ASR → transcripts."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass, field

from assistant.channels import Channel
from assistant.eventlog import EventBus
from assistant.events import SpeechEnded, SpeechStarted, Transcribed

from .asr import WhisperAsr
from .vad import Audio, AudioBlock, Segmenter, SileroVad, VadEnd, VadStart

log = logging.getLogger(__name__)

_WORDS = re.compile(r"\w")


@dataclass(frozen=True, slots=True)
class Utterance:
    utterance: int
    start: float
    end: float
    audio: Audio = field(repr=False)


@dataclass(frozen=True, slots=True)
class FinalTranscript:
    utterance: int
    text: str
    end: float


async def run_vad(
    blocks: Channel[AudioBlock],
    utterances: Channel[Utterance],
    vad: SileroVad,
    segmenter: Segmenter,
    bus: EventBus,
    partials: Channel[Utterance] | None = None,
    partial_interval_s: float = 0.0,
) -> None:
    """Scores every block and reports where speech starts and ends.

    With ``partials``, the growing utterance is offered every ``partial_interval_s``
    of speech (newest wins: the channel keeps one) for a partial transcript."""
    next_partial = 0.0
    try:
        async for block in blocks:
            prob = vad(block.samples)
            for signal in segmenter.push(block.samples, block.t, prob):
                if isinstance(signal, VadStart):
                    next_partial = block.t + partial_interval_s
                elif partials is not None:
                    partials.clear()  # the final transcript supersedes any partial
                await _emit(signal, utterances, bus)
            if partials is not None and segmenter.in_speech and block.t >= next_partial > 0:
                next_partial = block.t + partial_interval_s
                audio = segmenter.audio_so_far()
                partials.put_nowait(Utterance(segmenter.utterance, 0.0, block.t, audio))
        for signal in segmenter.flush():
            await _emit(signal, utterances, bus)
    finally:
        utterances.close()
        if partials is not None:
            partials.close()


async def run_partial_asr(partials: Channel[Utterance], asr: WhisperAsr, bus: EventBus) -> None:
    """Partial transcripts of the utterance in progress; one decode at a time, newest audio wins."""
    async for utt in partials:
        started = time.perf_counter()
        text = await asyncio.to_thread(asr.transcribe, utt.audio)
        if text and not len(partials):
            bus.publish(
                Transcribed(
                    t=bus.clock.now(), utterance=utt.utterance, text=text, final=False,
                    compute_ms=(time.perf_counter() - started) * 1000,
                )
            )


async def _emit(signal: VadStart | VadEnd, utterances: Channel[Utterance], bus: EventBus) -> None:
    now = bus.clock.now()
    if isinstance(signal, VadStart):
        bus.publish(SpeechStarted(t=now, utterance=signal.utterance, speech_start_at=signal.start))
        return
    bus.publish(
        SpeechEnded(t=now, utterance=signal.utterance, speech_start_at=signal.start, speech_end_at=signal.end)
    )
    await utterances.put(Utterance(signal.utterance, signal.start, signal.end, signal.audio))


async def run_asr(
    utterances: Channel[Utterance],
    transcripts: Channel[FinalTranscript],
    asr: WhisperAsr,
    bus: EventBus,
) -> None:
    """Transcribes each utterance in a worker thread; empty results are dropped."""
    try:
        async for utt in utterances:
            started = time.perf_counter()
            text = await asyncio.to_thread(asr.transcribe, utt.audio)
            compute_ms = (time.perf_counter() - started) * 1000
            bus.publish(
                Transcribed(t=bus.clock.now(), utterance=utt.utterance, text=text, final=True, compute_ms=compute_ms)
            )
            if _WORDS.search(text):
                await transcripts.put(FinalTranscript(utt.utterance, text, utt.end))
            else:
                log.debug("utterance %d gave no words; ignored", utt.utterance)
    finally:
        transcripts.close()
