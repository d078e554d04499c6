"""The stages every mode shares, wired once: audio blocks → VAD → ASR → turns, and
sampled frames → change gate → describer → scene memory.

A mode (replay, live, a browser session) feeds ``audio_in`` and ``frames_in`` and closes them
when its input ends; the stages then drain in order and :meth:`Pipeline.start`'s tasks end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from dialogue.backends import Prefills, billed
from dialogue.prompt import Conversation
from kernel.channels import Activity, Channel
from kernel.control import Flag
from kernel.eventlog import EventBus
from kernel.threads import InThread
from perception.describer import describe_frame
from perception.frames import Frame
from perception.look import VISUAL_QUESTION, Look
from perception.memory import SceneMemory
from perception.sampling import ChangeGate
from perception.stages import VisionStats, checked_description, record_description, run_vision
from speech.sinks import ReplySink
from speech.smart_turn import sounds_finished
from speech.stages import EarlyTranscriber, TurnEndCheck, Utterance, run_asr, run_partial_asr, run_vad
from speech.vad import Segmenter

from .config import RuntimeSettings
from .graph import AUDIO, FRAMES, PARTIALS, TRANSCRIPTS, UTTERANCES, Controls, Edge, Stage
from .models import Models
from .sharing import PromptWarmer, ReplyPriority
from .supervisor import Supervisor
from .timing import TurnTimer
from .turn_manager import Screen, SilentReplyCut, TurnManager
from .turns import TurnRunner
from .watching import Watching

T = TypeVar("T")
log = logging.getLogger(__name__)


class Pipeline:
    def __init__(
        self,
        settings: RuntimeSettings,
        models: Models,
        bus: EventBus,
        sink: ReplySink,
        *,
        screen: Screen | None = None,
        on_interrupt: Callable[[], None] | None = None,
        min_speech_ms: int | None = None,
    ) -> None:
        self.settings = settings
        self.models = models
        self.bus = bus
        self.activity = Activity()
        self.channels: dict[str, Channel[Any]] = {}  # every counted channel, by name: see dropped()
        self.audio_in = self.open_channel(AUDIO)
        self.frames_in = self.open_channel(FRAMES)
        self.utterances = self.open_channel(UTTERANCES)
        self.transcripts = self.open_channel(TRANSCRIPTS)
        sup = settings.supervisor
        self.supervisor = Supervisor(bus, enabled=sup.enabled, stall_s=sup.stall_s,
                                     backoff_initial_s=sup.backoff_initial_s, backoff_max_s=sup.backoff_max_s)
        # The window is what the prompt shows; older descriptions live on in the summary.
        self.memory = SceneMemory(keep=settings.dialogue.observations)
        self.vision = VisionStats()
        # A muted assistant hears nothing (the VAD gets silence) and says nothing.
        self.controls = Controls(muted=Flag("muted"), priority=ReplyPriority(), scene=self.memory)
        self.priority = self.controls.priority
        bus.subscribe(self.priority)
        self.manager: TurnManager | None = None
        self.watching: Watching | None = None  # standing watches, with the voice
        self.warmer: PromptWarmer | None = None
        self.look = self._look()
        self.hearing = bool(models.vad and models.asr and models.llm and models.tts)
        if self.hearing:
            self._wire_turns(sink, screen, on_interrupt)
        self.segmenter = self._segmenter(min_speech_ms)
        self.asr_worker = InThread("asr")  # every decode (early, final, partial), one at a time

    def open_channel(self, edge: Edge[T]) -> Channel[T]:
        """A channel as :mod:`assistant.graph` declares it, on this pipeline's activity; its drops
        are reported by :meth:`dropped` when the table says they are counted."""
        channel = edge.open(self.activity)
        if edge.counted:
            self.channels[channel.name] = channel
        return channel

    def _wire_turns(self, sink: ReplySink, screen: Screen | None, on_interrupt: Callable[[], None] | None) -> None:
        models, settings = self.models, self.settings
        assert models.llm is not None and models.tts is not None
        self.timer = TurnTimer()
        self.bus.subscribe(self.timer)
        dialogue = settings.dialogue
        runner = TurnRunner(
            bus=self.bus,
            llm=models.llm,
            tts=models.tts,
            sink=sink,
            memory=self.memory,
            conversation=Conversation(dialogue.history_turns, budget_tokens=dialogue.history_tokens),
            timer=self.timer,
            system_prompt=dialogue.system_prompt,
            history_tokens=dialogue.history_tokens,
            observations=dialogue.observations,
            first_chunk_words=dialogue.first_chunk_words,
            first_max_words=dialogue.first_chunk_max_words,
            look=self.look,
            stale_after_s=settings.describer.stale_after_s,
            multilingual=settings.language != "en",
            grounded=dialogue.grounded,
        )
        self.manager = TurnManager(runner, self.activity, screen=screen, on_interrupt=on_interrupt,
                                   speculative=dialogue.speculative if dialogue.speculative is not None
                                   else not billed(models.llm))
        if isinstance(models.llm, Prefills):
            self.warmer = PromptWarmer(runner)
            self.bus.subscribe(self.warmer)
        self.bus.subscribe(SilentReplyCut(self.manager))
        manager = self.manager
        self.watching = Watching(self.bus, self.memory, self.activity, say=manager.announce,
                                 busy=lambda: manager.active or bool(self.controls.muted))
        runner.watching = self.watching

    def _segmenter(self, min_speech_ms: int | None) -> Segmenter:
        v = self.settings.vad
        return Segmenter(
            threshold=v.threshold,
            min_speech_ms=min_speech_ms or v.min_speech_ms,
            min_silence_ms=v.min_silence_ms,
            pad_ms=v.pad_ms,
            max_utterance_s=v.max_utterance_s,
        )

    def _look(self) -> Look | None:
        d = self.settings.describer
        if self.models.describer is None or not d.looks:
            return None
        return Look(self.models.describer, self.memory, self.bus, pattern=d.look_pattern or VISUAL_QUESTION,
                    timeout_s=d.look_timeout_s, activity=self.activity)

    async def warm_up(self) -> None:
        """Before the session's media flows: a local LLM evaluates the fixed head of the prompt
        (:meth:`TurnRunner.warm_start`), which the first question would otherwise wait for
        (~2 s of a 1.5B model's prefill on two cores)."""
        if self.manager is None:
            return
        started = time.perf_counter()
        if await self.manager.runner.warm_start():
            log.info("prompt head warmed in %.0f ms", (time.perf_counter() - started) * 1000)

    def start(self, tg: asyncio.TaskGroup) -> None:
        """Starts every stage under the supervisor; the inputs of the halves it lacks (no describer,
        no voice) are closed, so a mode that feeds them never waits."""
        for stage in (*self._seeing_stages(), *self._hearing_stages()):
            self.supervisor.spawn(tg, stage.name, stage.run, stage.inputs)

    def _seeing_stages(self) -> list[Stage]:
        describer = self.models.describer
        if describer is None:
            self.frames_in.close()
            return []
        gate = ChangeGate(self.settings.video.change_threshold)
        return [Stage("vision", lambda: run_vision(self.frames_in, gate, describer, self.memory, self.bus,
                                                   self.vision, self.controls.priority), (self.frames_in,))]

    def _hearing_stages(self) -> list[Stage]:
        models, manager = self.models, self.manager
        if not self.hearing or manager is None:
            self.audio_in.close()
            return []
        assert models.vad is not None and models.asr is not None
        vad, asr = models.vad, models.asr
        worker = self.asr_worker
        stages: list[Stage] = []
        interval = self.settings.asr.partial_interval_s
        partials: Channel[Utterance] | None = None
        if interval > 0:
            partials = partial_in = self.open_channel(PARTIALS)
            stages.append(Stage("partial-asr", lambda: run_partial_asr(partial_in, asr, self.bus, self.segmenter,
                                                                       worker), (partial_in,)))
        a = self.settings.asr
        early = EarlyTranscriber(asr, self.activity, self._early_text, after_ms=a.early_decode_after_ms,
                                 worker=worker, on_resume=lambda _u: manager.drop_speculation()) \
            if a.early_decode else None
        if self.warmer is not None and early is not None:
            self.warmer.hold = early.busy
        muted = self.controls.muted
        st = self.settings.vad.smart_turn
        words = sounds_finished if st.transcript_check and early is not None else None
        turn_end = TurnEndCheck(models.turn_end, after_ms=st.stop_ms, threshold=st.threshold, words=words) \
            if models.turn_end is not None else None
        return [
            *stages,
            Stage("vad", lambda: run_vad(self.audio_in, self.utterances, vad, self.segmenter, self.bus,
                                         partials, interval, early, muted, turn_end), (self.audio_in,)),
            Stage("asr", lambda: run_asr(self.utterances, self.transcripts, asr, self.bus, early, muted, worker),
                  (self.utterances,)),
            Stage("dialogue", lambda: manager.run(self.transcripts), (self.transcripts,)),
        ]

    def _early_text(self, utterance: int, text: str) -> None:
        """An early transcript (the decode at a pause): the question-aware look starts on it, then
        the speculative reply (``dialogue.speculative``), which the look's result goes into."""
        if self.look is not None:
            self.look.prefetch(utterance, text)
        if self.manager is not None and not self.muted:
            self.manager.speculate(utterance, text)

    def dropped(self) -> dict[str, int]:
        """Items each counted channel dropped, by name (see :mod:`assistant.graph`)."""
        return {name: channel.dropped for name, channel in self.channels.items()}

    # The control surface: what a controller (the kiosk's commands) does to a running pipeline.

    @property
    def voiced(self) -> bool:
        """It can hear and answer (VAD, ASR, LLM and TTS are all there)."""
        return self.manager is not None

    @property
    def seeing(self) -> bool:
        return self.models.describer is not None

    @property
    def latest_frame(self) -> Frame | None:
        """The freshest sampled frame, or None before the first."""
        return self.memory.latest_frame

    @property
    def muted(self) -> bool:
        return bool(self.controls.muted)

    def set_muted(self, muted: bool) -> None:
        """Muted, it hears nothing and says nothing: muting stops the reply in progress."""
        self.controls.muted.set(muted)
        if muted and self.manager is not None:
            self.manager.interrupt()

    def _voice(self) -> TurnManager:
        if self.manager is None:
            raise RuntimeError("this pipeline has no voice (see Pipeline.voiced)")
        return self.manager

    async def announce(self, text: str) -> int:
        """Says ``text`` as a turn of its own; returns the turn's number."""
        return await self._voice().announce(text)

    def set_volume(self, level: float) -> None:
        """Gain on the synthesized replies."""
        self._voice().runner.volume = level

    def reset_conversation(self) -> int:
        """Stops the reply in progress and forgets the conversation; returns the exchanges forgotten."""
        manager = self._voice()
        manager.interrupt()
        return manager.runner.conversation.clear()

    async def describe_now(self) -> tuple[Frame, str] | None:
        """Describes the freshest frame now, into scene memory and a ``scene`` event; None before the
        first frame. Needs a describer (see :attr:`seeing`)."""
        describer = self.models.describer
        if describer is None:
            raise RuntimeError("this pipeline has no describer (see Pipeline.seeing)")
        frame = self.memory.latest_frame
        if frame is None:
            return None
        started = time.perf_counter()
        answer, details = await asyncio.to_thread(describe_frame, describer, frame.image)
        text = checked_description(answer)
        record_description(self.memory, self.bus, frame, text, f"{describer.name}:now", started, details=details)
        return frame, text
