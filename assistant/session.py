"""Session wiring: settings → sources, models, channels and stages → one TaskGroup.

``prepare_*`` functions fail early, with a typed error, before anything runs:
input files are opened and probed, then models are loaded once. ``run_replay``
then runs the pipeline until the media ends and the last reply is spoken.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from dialogue.backends import ChatBackend, choose_backend
from dialogue.offline import OfflineResponder
from dialogue.openai_chat import OpenAIChat
from dialogue.prompt import Conversation
from perception.describer import Describer, make_describer
from perception.frames import Frame, VideoFileSource
from perception.memory import SceneMemory
from perception.sampling import ChangeGate, Sampler
from perception.stages import VisionStats, run_vision
from speech.asr import WhisperAsr
from speech.audio_file import AudioFileSource
from speech.sinks import ReplySink, WavReplySink
from speech.stages import FinalTranscript, Utterance, run_asr, run_vad
from speech.tts import PiperTts, Pyttsx3Tts, Tts
from speech.vad import AudioBlock, Segmenter, SileroVad

from .channels import Activity, Channel, Overflow
from .clock import MediaClock, WallClock
from .config import Settings
from .errors import InputError
from .eventlog import EventBus
from .events import SessionEnded, SessionStarted
from .replay import Progress, ReplayDriver
from .turns import ReplyPriority, TurnRunner, TurnTimer

log = logging.getLogger(__name__)


class SessionManifest(BaseModel):
    """``session.json``: the files of a recorded session, relative to its folder."""

    model_config = ConfigDict(extra="allow")
    video: str | None = None
    audio: str | None = None


@dataclass(frozen=True, slots=True)
class Sources:
    audio: AudioFileSource | None
    video: VideoFileSource | None
    label: str


def prepare_sources(settings: Settings) -> Sources:
    inp = settings.input
    video_path, audio_path, label = inp.video, inp.audio, ""
    if inp.session is not None:
        folder = inp.session
        manifest_path = folder / "session.json"
        if not folder.is_dir():
            raise InputError(f"session folder '{folder}': no such folder")
        if not manifest_path.is_file():
            raise InputError(f"session folder '{folder}': has no session.json")
        try:
            manifest = SessionManifest.model_validate(json.loads(manifest_path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, UnicodeDecodeError, ValidationError) as exc:
            first = str(exc).splitlines()[0]
            raise InputError(f"'{manifest_path}': not a valid session manifest ({first})") from exc
        video_path = folder / manifest.video if manifest.video else None
        audio_path = folder / manifest.audio if manifest.audio else None
        label = f"session {folder}"
    if video_path is None and audio_path is None:
        raise InputError("no input: give --session DIR, or --video FILE and/or --audio FILE")
    audio = AudioFileSource(audio_path) if audio_path is not None else None
    video = VideoFileSource(video_path) if video_path is not None else None
    if not label:
        label = " + ".join(str(p) for p in (video_path, audio_path) if p is not None)
    return Sources(audio=audio, video=video, label=label)


@dataclass(slots=True)
class Models:
    vad: SileroVad | None
    asr: WhisperAsr | None
    describer: Describer | None
    tts: Tts | None
    llm: ChatBackend | None


def make_llm(settings: Settings) -> ChatBackend:
    d = settings.dialogue
    if choose_backend(d.backend) == "openai":
        return OpenAIChat(
            base_url=d.base_url,
            model=d.model,
            temperature=d.temperature,
            max_tokens=d.max_tokens,
            timeout_s=d.timeout_s,
            max_retries=d.max_retries,
        )
    return OfflineResponder()


def make_tts(settings: Settings) -> Tts:
    t = settings.tts
    if t.backend == "pyttsx3":
        return Pyttsx3Tts(rate=t.rate, voice=None if t.voice == "joe" else t.voice)
    return PiperTts(t.voice, length_scale=t.length_scale)


def prepare_models(settings: Settings, *, hearing: bool, seeing: bool) -> Models:
    """Loads only what the inputs need: no audio, no VAD/ASR/LLM/TTS; no video, no describer."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub
    # Cheap checks and small models first, so a bad path fails before Whisper loads.
    llm = make_llm(settings) if hearing else None
    vad = SileroVad(settings.vad.model) if hearing else None
    tts = make_tts(settings) if hearing else None
    d = settings.describer
    describer = make_describer(d.backend, tesseract=d.tesseract, people=d.people) if seeing else None
    asr = (
        WhisperAsr(
            settings.asr.model,
            device=settings.asr.device,
            compute_type=settings.asr.compute_type,
            cpu_threads=settings.asr.cpu_threads,
            beam_size=settings.asr.beam_size,
            language=settings.asr.language,
        )
        if hearing
        else None
    )
    return Models(vad=vad, asr=asr, describer=describer, tts=tts, llm=llm)


@dataclass(slots=True)
class RunStats:
    media_seconds: float = 0.0
    wall_seconds: float = 0.0
    dropped: dict[str, int] = field(default_factory=dict)
    vision: VisionStats = field(default_factory=VisionStats)


async def run_dialogue(transcripts: Channel[FinalTranscript], runner: TurnRunner) -> None:
    turn = 0
    async for final in transcripts:
        turn += 1
        await runner.run(turn, final.utterance, final.text)


async def run_replay(
    settings: Settings,
    sources: Sources,
    models: Models,
    bus: EventBus,
    out_dir: Path,
    *,
    sink: ReplySink | None = None,
    on_progress: Progress | None = None,
) -> RunStats:
    """Runs one replay to the end. The bus must carry the clock this function uses:
    build it with :func:`make_clock`."""
    speed = settings.replay.speed
    clock = bus.clock
    assert isinstance(clock, MediaClock | WallClock)
    activity = Activity()
    stats = RunStats()
    audio_in: Channel[AudioBlock] = Channel("audio", 64, Overflow.BLOCK, activity)
    frames_in: Channel[Frame] = Channel("frames", 1, Overflow.DROP_OLDEST, activity)
    utterances: Channel[Utterance] = Channel("utterances", 8, Overflow.BLOCK, activity)
    transcripts: Channel[FinalTranscript] = Channel("transcripts", 8, Overflow.BLOCK, activity)
    memory = SceneMemory()
    priority = ReplyPriority()
    bus.subscribe(priority)
    driver = ReplayDriver(
        audio=sources.audio,
        video=sources.video,
        sampler=Sampler(settings.video.sample_interval_s),
        clock=clock,
        activity=activity,
        audio_out=audio_in,
        frames_out=frames_in,
        on_progress=on_progress,
    )
    bus.publish(
        SessionStarted(t=clock.now(), source=sources.label, speed=speed, config=settings.model_dump(mode="json"))
    )
    if isinstance(clock, WallClock):
        clock.start()  # the session clock starts at the first input sample
    started = time.perf_counter()
    reason = "error"
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(driver.run(), name="replay-driver")
            if models.describer is not None:
                gate = ChangeGate(settings.video.change_threshold)
                tg.create_task(
                    run_vision(frames_in, gate, models.describer, memory, bus, stats.vision, priority.wait),
                    name="vision",
                )
            else:
                frames_in.close()
            if models.vad is not None and models.asr is not None and models.llm and models.tts:
                v = settings.vad
                segmenter = Segmenter(
                    threshold=v.threshold,
                    min_speech_ms=v.min_speech_ms,
                    min_silence_ms=v.min_silence_ms,
                    pad_ms=v.pad_ms,
                    max_utterance_s=v.max_utterance_s,
                )
                timer = TurnTimer()
                bus.subscribe(timer)
                runner = TurnRunner(
                    bus=bus,
                    llm=models.llm,
                    tts=models.tts,
                    sink=sink or WavReplySink(out_dir / "replies"),
                    memory=memory,
                    conversation=Conversation(settings.dialogue.history_turns),
                    timer=timer,
                    system_prompt=settings.dialogue.system_prompt,
                )
                tg.create_task(run_vad(audio_in, utterances, models.vad, segmenter, bus), name="vad")
                tg.create_task(run_asr(utterances, transcripts, models.asr, bus), name="asr")
                tg.create_task(run_dialogue(transcripts, runner), name="dialogue")
            else:
                audio_in.close()
        reason = "end_of_media"
    except asyncio.CancelledError:
        reason = "interrupted"
        raise
    finally:
        stats.media_seconds = driver.position
        stats.wall_seconds = time.perf_counter() - started
        stats.dropped = {c.name: c.dropped for c in (audio_in, frames_in, utterances, transcripts)}
        bus.publish(
            SessionEnded(t=clock.now(), reason=reason, media_seconds=driver.position, dropped=stats.dropped)
        )
    return stats


def make_clock(speed: float) -> MediaClock | WallClock:
    return MediaClock() if speed == 0 else WallClock(speed)
