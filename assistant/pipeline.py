"""The stages every mode shares, wired once: audio blocks → VAD → ASR → turns, and
sampled frames → change gate → describer → scene memory.

A mode (replay, live) feeds ``audio_in`` and ``frames_in`` and closes them when its
input ends; the stages then drain in order and :meth:`Pipeline.start`'s tasks end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from dialogue.prompt import Conversation
from kernel.channels import Activity, Channel, Overflow
from kernel.eventlog import EventBus
from perception.frames import Frame
from perception.look import VISUAL_QUESTION, Look
from perception.memory import SceneMemory
from perception.sampling import ChangeGate
from perception.stages import VisionStats, run_vision
from speech.audio import AudioBlock
from speech.sinks import ReplySink
from speech.stages import EarlyTranscriber, FinalTranscript, Utterance, run_asr, run_partial_asr, run_vad
from speech.vad import Segmenter

from .config import Settings
from .models import Models
from .supervisor import Supervisor
from .turns import PromptWarmer, ReplyPriority, Screen, TurnManager, TurnRunner, TurnTimer


class Pipeline:
    def __init__(
        self,
        settings: Settings,
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
        self.audio_in: Channel[AudioBlock] = Channel("audio", 64, Overflow.BLOCK, self.activity)
        self.frames_in: Channel[Frame] = Channel("frames", 1, Overflow.DROP_OLDEST, self.activity)
        self.utterances: Channel[Utterance] = Channel("utterances", 8, Overflow.BLOCK, self.activity)
        self.transcripts: Channel[FinalTranscript] = Channel("transcripts", 8, Overflow.BLOCK, self.activity)
        sup = settings.supervisor
        self.supervisor = Supervisor(bus, enabled=sup.enabled, stall_s=sup.stall_s,
                                     backoff_initial_s=sup.backoff_initial_s, backoff_max_s=sup.backoff_max_s)
        # The window is what the prompt shows; older descriptions live on in the summary.
        self.memory = SceneMemory(keep=settings.dialogue.observations)
        self.vision = VisionStats()
        self.priority = ReplyPriority()
        bus.subscribe(self.priority)
        self.manager: TurnManager | None = None
        self.warmer: PromptWarmer | None = None
        self.muted = False  # a muted assistant hears nothing (the VAD gets silence) and says nothing
        self.look = self._look()
        self.hearing = bool(models.vad and models.asr and models.llm and models.tts)
        if self.hearing:
            assert models.llm is not None and models.tts is not None
            self.timer = TurnTimer()
            bus.subscribe(self.timer)
            runner = TurnRunner(
                bus=bus,
                llm=models.llm,
                tts=models.tts,
                sink=sink,
                memory=self.memory,
                conversation=Conversation(settings.dialogue.history_turns,
                                           budget_tokens=settings.dialogue.history_tokens),
                timer=self.timer,
                system_prompt=settings.dialogue.system_prompt,
                history_tokens=settings.dialogue.history_tokens,
                observations=settings.dialogue.observations,
                first_chunk_words=settings.dialogue.first_chunk_words,
                first_max_words=settings.dialogue.first_chunk_max_words,
                look=self.look,
                stale_after_s=settings.describer.stale_after_s,
            )
            self.manager = TurnManager(runner, self.activity, screen=screen, on_interrupt=on_interrupt)
            if hasattr(models.llm, "prefill"):
                self.warmer = PromptWarmer(runner)
                bus.subscribe(self.warmer)
        v = settings.vad
        self.segmenter = Segmenter(
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

    def start(self, tg: asyncio.TaskGroup) -> None:
        models = self.models
        spawn = self.supervisor.spawn
        if models.describer is not None:
            gate = ChangeGate(self.settings.video.change_threshold)
            describer = models.describer
            spawn(tg, "vision", lambda: run_vision(self.frames_in, gate, describer, self.memory, self.bus,
                                                   self.vision, self.priority.wait), [self.frames_in])
        else:
            self.frames_in.close()
        if self.hearing and self.manager is not None:
            assert models.vad is not None and models.asr is not None
            vad, asr, manager = models.vad, models.asr, self.manager
            interval = self.settings.asr.partial_interval_s
            partials: Channel[Utterance] | None = None
            if interval > 0:
                partials = Channel("partials", 1, Overflow.DROP_OLDEST, self.activity)
                partial_in = partials
                spawn(tg, "partial-asr", lambda: run_partial_asr(partial_in, asr, self.bus, self.segmenter),
                      [partial_in])
            prefetch = self.look.prefetch if self.look is not None else None
            a = self.settings.asr
            early = EarlyTranscriber(asr, self.activity, prefetch, after_ms=a.early_decode_after_ms) \
                if a.early_decode else None
            if self.warmer is not None and early is not None:
                self.warmer.hold = lambda: early.decoding
            spawn(tg, "vad", lambda: run_vad(self.audio_in, self.utterances, vad, self.segmenter, self.bus,
                                             partials, interval, early, lambda: self.muted), [self.audio_in])
            spawn(tg, "asr", lambda: run_asr(self.utterances, self.transcripts, asr, self.bus, early,
                                             lambda: self.muted),
                  [self.utterances])
            spawn(tg, "dialogue", lambda: manager.run(self.transcripts), [self.transcripts])
        else:
            self.audio_in.close()

    def dropped(self) -> dict[str, int]:
        return {c.name: c.dropped for c in (self.audio_in, self.frames_in, self.utterances, self.transcripts)}
