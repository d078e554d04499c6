"""The async speech stages: audio blocks → VAD → utterances → ASR → transcripts."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from kernel.channels import Activity, Channel
from kernel.control import Flag
from kernel.eventlog import EventBus
from kernel.events import SpeechEnded, SpeechStarted, Transcribed, TranscriptIgnored
from kernel.threads import InThread

from .audio import BLOCK, SAMPLE_RATE, Audio, AudioBlock
from .protocols import Asr, TurnEndModel, Vad
from .vad import Segmenter, VadEnd, VadStart

log = logging.getLogger(__name__)

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
    language: str | None = None  # as heard (speech.asr.Heard), when the recognizer says


@dataclass(slots=True, eq=False)
class EarlyJob:
    utterance: int
    end: float
    after: asyncio.Task[str] | None  # the running decode this one waits for
    started: bool = False  # Whisper is running it: a thread cannot be stopped
    task: asyncio.Task[str] | None = None
    decode_ms: float = 0.0  # Whisper's time on it, once done


class EarlyTranscriber:
    """Starts decoding at a pause in speech (``after_ms`` of silence), while the VAD waits out its silence.

    Whisper takes about as long as the VAD's end-of-turn silence, so decoding the
    moment the voice stops, instead of when the VAD is sure, takes the decode off the
    reply path. If the user goes on talking, the early result no longer matches the
    utterance's end and is thrown away.

    One decode runs at a time. A pause that comes while an earlier pause's decode is still
    running is decoded right after it, not dropped: a short gap between two words a second
    before the end would otherwise leave the real end of the turn with no early decode, and
    its whole decode on the reply path (about 0.8 s with Whisper base on two cores). A pause
    waiting its turn is replaced by a newer one.
    """

    def __init__(
        self,
        asr: Asr,
        activity: Activity | None = None,
        on_text: Callable[[int, str], None] | None = None,
        *,
        after_ms: int = 32,
        worker: InThread | None = None,
        on_resume: Callable[[int], None] | None = None,
    ) -> None:
        self.asr = asr
        self.worker = worker or InThread("asr")  # shared with the other decodes of this ASR
        self.after_blocks = max(1, round(after_ms / 1000 * SAMPLE_RATE / BLOCK))  # silent blocks before decoding
        self.on_text = on_text  # told each early transcript as it is ready (the look starts on it)
        self.on_resume = on_resume  # told when the voice goes on after a decoded pause (its transcript is stale)
        self.paused = False  # a pause was decoded and the voice has not come back since
        self.activity = activity  # an early decode is pipeline work: ``--speed 0`` waits for it
        self._job: EarlyJob | None = None
        self._live: set[asyncio.Task[str]] = set()  # decodes running or waiting, taken or not
        self.busy = Flag("early-decode")  # set while a decode is running or waiting to run
        self.used = 0
        self.wasted = 0

    @property
    def decoding(self) -> bool:
        """An early decode is running or waiting to run (:attr:`busy`)."""
        return bool(self.busy)

    def resume(self, utterance: int) -> None:
        """The voice came back after a decoded pause: whatever was started on its transcript is stale."""
        self.paused = False
        if self.on_resume is not None:
            try:
                self.on_resume(utterance)
            except Exception:
                log.exception("early transcript resume listener failed")

    def pause(self, utterance: int, end: float, audio: Audio) -> None:
        self.paused = True
        after: asyncio.Task[str] | None = None
        previous = self._job
        if previous is not None and previous.task is not None:
            self.wasted += 1  # the voice went on after that pause
            if not previous.task.done():
                if previous.started:
                    after = previous.task
                else:  # it was waiting for a running decode: this one waits for that instead
                    previous.task.cancel()
                    after = previous.after
        job = EarlyJob(utterance, end, after)
        job.task = asyncio.create_task(self._decode(job, audio), name=f"early-asr-{utterance}")
        self._live.add(job.task)
        self.busy.set(True)
        if self.activity is not None:
            self.activity.begin()
        job.task.add_done_callback(lambda t: self._done(utterance, t))
        self._job = job

    async def _decode(self, job: EarlyJob, audio: Audio) -> str:
        if job.after is not None:
            await asyncio.wait({job.after})
        job.started = True
        started = time.perf_counter()
        try:
            return await self.worker.call(self.asr.transcribe, audio)
        finally:
            job.decode_ms = (time.perf_counter() - started) * 1000

    def _done(self, utterance: int, task: asyncio.Task[str]) -> None:
        self._live.discard(task)
        self.busy.set(bool(self._live))
        if self.activity is not None:
            self.activity.end()
        if task.cancelled() or task.exception() is not None:
            return  # an exception is retrieved here; ``take`` reports it when the result is used
        if self.on_text is not None:
            try:
                self.on_text(utterance, task.result())
            except Exception:
                log.exception("early transcript listener failed")

    def current(self, utterance: int, end: float) -> EarlyJob | None:
        """The early decode of exactly this pause, left in place (:meth:`take` claims it)."""
        job = self._job
        if job is not None and job.utterance == utterance and abs(job.end - end) < 1e-6:
            return job
        return None

    def take(self, utterance: int, end: float) -> EarlyJob | None:
        """The early decode of exactly this utterance, if there is one."""
        job, self._job = self._job, None
        self.paused = False
        if job is not None and job.task is not None and job.utterance == utterance and abs(job.end - end) < 1e-6:
            self.used += 1
            return job
        if job is not None:
            self.wasted += 1
        return None


class TurnEndCheck:
    """Asks a turn-end model (:class:`speech.smart_turn.SmartTurn`), after ``after_ms`` of
    silence, whether the speaker has finished: a probability at or above ``threshold`` is yes.
    The model runs on its own worker thread, off the loop. ``asked`` and ``ended`` count."""

    def __init__(
        self, model: TurnEndModel, *, after_ms: int, threshold: float, words: Callable[[str], bool] | None = None
    ) -> None:
        self.model = model
        self.after_blocks = max(1, round(after_ms / 1000 * SAMPLE_RATE / BLOCK))
        self.threshold = threshold
        self.words = words  # the transcript check (speech.smart_turn.sounds_finished), on the early decode
        self.worker = InThread("turn-end")
        self.asked = 0
        self.ended = 0
        self.held_by_words = 0  # the audio said finished, the words did not

    async def finished(self, audio: Audio, transcript: Awaitable[str] | None = None) -> bool:
        """Smart Turn on ``audio``, and, with ``words`` set, the check on ``transcript`` (the early
        decode of the same pause, already running: awaited here, not started) once the model says yes."""
        self.asked += 1
        done = await self.worker.call(self.model.probability, audio) >= self.threshold
        if done and self.words is not None and transcript is not None:
            try:
                text = await transcript
            except Exception:  # the decode failed: the audio model has the say, as with no transcript
                text = None
            if text is not None and not self.words(text):
                done = False
                self.held_by_words += 1
        self.ended += done
        return done


async def run_vad(
    blocks: Channel[AudioBlock],
    utterances: Channel[Utterance],
    vad: Vad,
    segmenter: Segmenter,
    bus: EventBus,
    partials: Channel[Utterance] | None = None,
    partial_interval_s: float = 0.0,
    early: EarlyTranscriber | None = None,
    muted: Flag | None = None,
    turn_end: TurnEndCheck | None = None,
) -> None:
    """Scores every block and reports where speech starts and ends; while ``muted`` is set it hears silence.

    With ``partials``, the growing utterance is offered every ``partial_interval_s``
    of speech (newest wins: the channel keeps one) for a partial transcript. With ``turn_end``,
    a short pause asks it whether the turn is over: yes ends the utterance there; no leaves it to
    the segmenter's full end-of-turn silence."""
    next_partial = 0.0
    async for block in blocks:
        prob = 0.0 if muted else vad(block.samples)
        for signal in segmenter.push(block.samples, block.t, prob):
            if isinstance(signal, VadStart):
                next_partial = block.t + partial_interval_s
            elif partials is not None:
                partials.clear()  # the final transcript supersedes any partial
            await _emit(signal, utterances, bus)
        if early is not None and segmenter.silent_run == early.after_blocks:
            early.pause(segmenter.utterance, segmenter.last_voiced_end, segmenter.audio_so_far())
        elif early is not None and early.paused and segmenter.in_speech and segmenter.silent_run == 0:
            early.resume(segmenter.utterance)
        if turn_end is not None and segmenter.silent_run == turn_end.after_blocks \
                and await turn_end.finished(segmenter.audio_so_far(), _pause_transcript(early, segmenter)):
            for signal in segmenter.flush():
                if partials is not None:
                    partials.clear()
                await _emit(signal, utterances, bus)
        if partials is not None and segmenter.in_speech and block.t >= next_partial > 0:
            next_partial = block.t + partial_interval_s
            audio = segmenter.audio_so_far()
            partials.put_nowait(Utterance(segmenter.utterance, 0.0, block.t, audio))
    for signal in segmenter.flush():
        await _emit(signal, utterances, bus)
    # Closed only when the input has ended: after a crash the supervisor restarts this stage on the
    # same channels, so they stay open.
    utterances.close()
    if partials is not None:
        partials.close()


def _pause_transcript(early: EarlyTranscriber | None, segmenter: Segmenter) -> asyncio.Future[str] | None:
    """The early decode of the pause the segmenter is in, if one is running or done (shielded:
    the turn-end check must not cancel it, the ASR stage takes it)."""
    job = early.current(segmenter.utterance, segmenter.last_voiced_end) if early is not None else None
    return asyncio.shield(job.task) if job is not None and job.task is not None else None


async def run_partial_asr(
    partials: Channel[Utterance], asr: Asr, bus: EventBus, segmenter: Segmenter, worker: InThread | None = None
) -> None:
    """Partial transcripts of the utterance in progress; one decode at a time, newest audio wins.
    A partial that comes back after its utterance ended is dropped: the final has the say."""
    worker = worker or InThread("asr")
    async for utt in partials:
        started = time.perf_counter()
        text = await worker.call(asr.transcribe, utt.audio)
        current = segmenter.in_speech and segmenter.utterance == utt.utterance
        if text and current and not len(partials):
            bus.publish(
                Transcribed(
                    t=bus.clock.now(), utterance=utt.utterance, text=str(text), final=False,
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


# Whisper closes a clip it hears as whole with a full stop or a question mark; one it hears as cut
# off ("what color is the", "有几只摸") has none. The early decode hears only ~0.1 s after the last
# word. Decoded again on the utterance (0.2 s after it) followed by REDECODE_SILENCE_S of silence,
# of the 22 such clips in 129 questions of the answer benchmark's fresh and unseen sets, 3 came back
# right (有几只摸 -> 有几只猫, 有摩吗 -> 有猫吗, "in which reaction" -> "direction"), 1 nearer, 1
# shorter ("do you see a dog" -> "do you see": a re-decode with fewer letters is not taken), 17 the
# same words. It costs one more decode (~0.33 s) on those turns only.
REDECODE_SILENCE_S = 0.3
_SENTENCE_END = (".", "?", "!", "。", "？", "！", "…")


def finished_sentence(text: str) -> bool:
    """Whether Whisper closed ``text`` as a sentence (any text without words counts as closed)."""
    stripped = str(text).strip().strip("\"'”’")
    return not stripped or stripped.endswith(_SENTENCE_END)


def _letters(text: str) -> int:
    return sum(ch.isalnum() for ch in str(text))


def with_silence_after(audio: Audio) -> Audio:
    return np.concatenate([audio, np.zeros(round(REDECODE_SILENCE_S * SAMPLE_RATE), dtype=np.float32)])


async def run_asr(
    utterances: Channel[Utterance],
    transcripts: Channel[FinalTranscript],
    asr: Asr,
    bus: EventBus,
    early: EarlyTranscriber | None = None,
    muted: Flag | None = None,
    worker: InThread | None = None,
) -> None:
    """Transcribes each utterance on ``worker``'s thread (the early decodes' own, by default);
    empty results are dropped.

    ``compute_ms`` is the time spent after the utterance ended: with an early
    decode, only what was left of it. While ``muted`` is set, an utterance (begun before
    the mute) is dropped unheard."""
    worker = worker or (early.worker if early is not None else InThread("asr"))
    async for utt in utterances:
        if muted:
            if early is not None:
                early.take(utt.utterance, utt.end)  # its early decode is not wanted either
            log.info("utterance %d dropped: muted", utt.utterance)
            bus.publish(TranscriptIgnored(t=bus.clock.now(), utterance=utt.utterance, text="", reason="muted"))
            continue
        started = time.perf_counter()
        job = early.take(utt.utterance, utt.end) if early is not None else None
        text: str | None = None
        if job is not None and job.task is not None:
            try:
                text = await job.task
            except Exception:
                log.warning("early decode of utterance %d failed; decoding again", utt.utterance, exc_info=True)
        was_early = text is not None
        if text is None:
            text = await worker.call(asr.transcribe, utt.audio)
        elif not finished_sentence(text):
            again = await worker.call(asr.transcribe, with_silence_after(utt.audio))
            log.info("utterance %d: the early decode %r has no end; decoded again: %r", utt.utterance, text, again)
            text = again if _letters(again) >= _letters(text) else text  # never fewer words than heard
        compute_ms = (time.perf_counter() - started) * 1000
        decode_ms = job.decode_ms if was_early and job is not None else compute_ms
        language = getattr(text, "language", None)  # speech.asr.Heard
        transcribed = Transcribed(
            t=bus.clock.now(), utterance=utt.utterance, text=str(text), final=True, compute_ms=compute_ms,
            early=was_early, decode_ms=decode_ms, language=language,
        )
        bus.publish(transcribed)
        if transcribed.has_words:
            await transcripts.put(FinalTranscript(utt.utterance, str(text), utt.end, language))
        else:
            log.debug("utterance %d gave no words; ignored", utt.utterance)
    transcripts.close()  # only at the end of input (see run_vad)
