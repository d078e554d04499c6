"""The live path on a simulated sound card: the real Microphone and SpeakerPlayer adapters,
PortAudio and ALSA, the real models; barge-in, the echo guard, and what a user hears.

Time is media time: the sound card advances in 32 ms steps, and before each step the
test waits until the pipeline has handled what it heard (or the assistant is talking).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from assistant.live import run_live
from assistant.models import Models
from assistant.pipeline import Pipeline
from assistant.recorder import SessionRecorder
from dialogue.offline import OfflineResponder
from kernel.clock import MediaClock
from kernel.eventlog import EventBus
from kernel.events import (
    BargeIn,
    DeviceStatus,
    Event,
    ReplyAudioEnded,
    ReplyAudioStarted,
    ReplyText,
    SpeechEnded,
    SpeechStarted,
    Transcribed,
)
from omnilive.settings import Settings
from perception.camera import CameraSource
from speech.asr import WhisperAsr
from speech.mic import Microphone
from speech.player import SpeakerPlayer
from speech.tts import PiperTts
from speech.vad import SileroVad

from .conftest import SESSION, read_events, run_cli, write_clip
from .soundcard import MIC, SPEAKER, SimulatedSoundCard

RATE = 16_000
SPEAKER_RATE = 48_000
STEP_S = 0.032


@pytest.fixture(scope="module")
def models() -> Models:
    return Models(vad=SileroVad(), asr=WhisperAsr("tiny.en"), describer=None, tts=PiperTts("joe"),
                  llm=OfflineResponder())


@pytest.fixture(scope="module")
def questions(session_manifest: dict[str, Any]) -> list[np.ndarray]:
    audio, rate = sf.read(SESSION / "audio.wav", dtype="float32")
    assert rate == RATE
    return [audio[int((q["start"] - 0.2) * rate) : int((q["end"] + 0.2) * rate)] for q in session_manifest["questions"]]


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.float32)


@dataclass
class LiveRun:
    events: list[Event] = field(default_factory=list)
    speaker: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    mic: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # all the microphone heard

    def of(self, kind: type[Event]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


async def run_on_card(
    tmp_path: Path,
    models: Models,
    first: np.ndarray,
    *,
    seconds: float,
    settings: dict[str, Any] | None = None,
    echo_gain: float = 0.0,
    on_speaking: np.ndarray | None = None,
    camera_clip: Path | None = None,
    recorder: SessionRecorder | None = None,
) -> LiveRun:
    """Feeds ``first`` to the microphone, and ``on_speaking`` once the first reply starts playing."""
    assert models.vad is not None
    models.vad.reset()
    cfg = Settings.model_validate({"mode": "live", "live": {"camera": None, **(settings or {}).get("live", {})},
                                   **{k: v for k, v in (settings or {}).items() if k != "live"}})
    loop = asyncio.get_running_loop()
    clock = MediaClock()
    bus = EventBus(clock)
    run = LiveRun()
    bus.subscribe(run.events.append)
    speaking = asyncio.Event()
    ready: list[Pipeline] = []

    with SimulatedSoundCard(tmp_path / "card", mic_rate=RATE, speaker_rate=SPEAKER_RATE, echo_gain=echo_gain,
                            echo_delay_ms=20) as card:

        def watch(event: Event) -> None:
            if isinstance(event, ReplyAudioStarted):
                speaking.set()
                if on_speaking is not None and event.turn == 1:
                    card.feed(on_speaking)
            elif isinstance(event, ReplyAudioEnded):
                speaking.clear()

        bus.subscribe(watch)
        mic = Microphone(MIC)
        player = SpeakerPlayer(SPEAKER)
        player.start(loop)
        camera = None
        if camera_clip is not None:

            def camera_status(state: str, message: str) -> None:
                event = DeviceStatus(t=clock.now(), kind="camera", device=str(camera_clip), state=state,
                                     message=message)
                loop.call_soon_threadsafe(bus.publish, event)

            camera = CameraSource(str(camera_clip), on_status=camera_status, backoff_initial_s=0.2)
        stop = asyncio.Event()
        session = asyncio.create_task(
            run_live(cfg, models, bus, mic=mic, player=player, camera=camera, stop=stop, on_ready=ready.append,
                     recorder=recorder)
        )

        async def gate(step: int) -> None:
            await clock.sleep_until(max(0.0, (step - 3) * STEP_S))
            if not ready:
                return
            idle = asyncio.ensure_future(ready[0].activity.wait_idle())
            talking = asyncio.ensure_future(speaking.wait())
            await asyncio.wait({idle, talking}, return_when=asyncio.FIRST_COMPLETED)
            idle.cancel()
            talking.cancel()

        card.feed(np.concatenate([silence(0.5), first]))
        steps = int(seconds / STEP_S)
        card.run(steps, before_step=SimulatedSoundCard.gate(loop, gate, timeout=60))
        waiting = asyncio.ensure_future(asyncio.to_thread(card.wait_step, steps, 120))
        await asyncio.wait({waiting, session}, return_when=asyncio.FIRST_COMPLETED)
        card.release()
        if session.done():
            session.result()  # the session ended early: show why
        assert await waiting, f"stuck at step {card.steps}"
        stop.set()
        await asyncio.wait_for(session, 30)
        player.close()
        run.speaker = card.speaker_audio()
        run.mic = card.mic_audio()
    return run


def first_sound(audio: np.ndarray, after_s: float, rate: int = RATE, level: float = 0.02) -> float:
    """The time of the first 10 ms after ``after_s`` louder than ``level`` (RMS): where the user starts."""
    hop = rate // 100
    start = int(after_s * rate)
    for i in range(start, len(audio) - hop, hop):
        if float(np.sqrt(np.mean(audio[i : i + hop] ** 2))) > level:
            return i / rate
    raise AssertionError(f"no sound after {after_s:.2f} s")


async def test_a_question_is_answered_out_loud(tmp_path: Path, models: Models, questions: list[np.ndarray]) -> None:
    run = await run_on_card(tmp_path, models, questions[0], seconds=6, settings={"asr": {"partial_interval_s": 0.5}})
    replies = run.of(ReplyText)
    assert len(replies) == 1 and not replies[0].interrupted
    heard = run.of(Transcribed)
    partial = [e for e in heard if not e.final]
    final = [e for e in heard if e.final]
    assert partial and final and heard.index(partial[0]) < heard.index(final[0])  # a partial came first
    assert partial[0].t <= final[0].t and partial[0].utterance == final[0].utterance
    assert "No language model is connected" in replies[0].text
    start = run.of(ReplyAudioStarted)[0]
    loud = np.flatnonzero(np.abs(run.speaker) > 1000)
    assert (loud[-1] - loud[0]) / SPEAKER_RATE > 1.0  # more than a second of the reply reached the speaker
    # The reply is heard after it was started, on the shared media timeline.
    assert loud[0] / SPEAKER_RATE >= start.t - 0.1


async def test_barge_in_stops_playback_and_answers_the_new_question(
    tmp_path: Path, models: Models, questions: list[np.ndarray]
) -> None:
    run = await run_on_card(
        tmp_path, models, questions[0], seconds=12, on_speaking=np.concatenate([silence(1.0), questions[1]])
    )
    barge = run.of(BargeIn)
    assert len(barge) == 1 and barge[0].turn == 1
    assert barge[0].echo_score < 0.6
    replies = run.of(ReplyText)
    assert [r.interrupted for r in replies] == [True, False]
    assert "read the sign" in replies[1].question.lower()
    # Playback stops within 100 ms of the barge-in: no reply-1 audio is heard after that.
    t_barge = barge[0].t
    reply2 = run.of(ReplyAudioStarted)[1].t
    window = run.speaker[int(t_barge * SPEAKER_RATE) : int(reply2 * SPEAKER_RATE)]
    loud = np.flatnonzero(np.abs(window) > 500)
    tail_s = (loud[-1] + 1) / SPEAKER_RATE if len(loud) else 0.0
    print(f"reply audio heard after the barge-in: {tail_s * 1000:.0f} ms")
    assert tail_s <= 0.1
    # From the user's first sound to the reply's silence, on the card's own timeline (mic and speaker).
    onset = first_sound(run.mic, 0.5 + len(questions[0]) / RATE + 0.1)
    before = run.speaker[: int(reply2 * SPEAKER_RATE)]
    silent_at = (np.flatnonzero(np.abs(before) > 500)[-1] + 1) / SPEAKER_RATE
    print(f"barge-in, first sound to silence: {(silent_at - onset) * 1000:.0f} ms")
    assert 0 < silent_at - onset <= 0.3


@pytest.mark.parametrize("guarded", [True, False], ids=["echo-guard", "no-guard"])
async def test_own_voice_through_the_speakers(
    tmp_path: Path, models: Models, questions: list[np.ndarray], guarded: bool
) -> None:
    """Reply audio is played back into the microphone (a laptop without a headset)."""
    echo = {} if guarded else {"correlation_threshold": 1.0, "transcript_similarity": 100.0}
    run = await run_on_card(tmp_path, models, questions[0], seconds=12, echo_gain=0.5,
                            settings={"live": {"echo": echo}})
    replies = run.of(ReplyText)
    interrupted = sum(r.interrupted for r in replies)
    print(f"self-interruption ({'guarded' if guarded else 'unguarded'}): {interrupted}/{len(replies)} replies")
    if guarded:
        assert replies and interrupted == 0
        assert not run.of(BargeIn)
        assert len(replies) == 1  # its own voice started no new turn
    else:
        assert interrupted >= 1  # what the guard prevents


async def test_record_then_replay_gives_the_same_timeline(
    tmp_path: Path, models: Models, questions: list[np.ndarray]
) -> None:
    """--record writes a session folder that replays onto the same timeline; meanwhile the
    camera (a 2 s clip, then gone) is lost and retried while the conversation goes on."""
    clip = tmp_path / "camera.avi"
    write_clip(SESSION / "video.mp4", clip, 2.0)
    folder = tmp_path / "recorded"
    recorder = SessionRecorder(folder)
    recorder.start()
    try:
        run = await run_on_card(tmp_path, models, questions[0], seconds=6, camera_clip=clip, recorder=recorder)
    finally:
        await asyncio.to_thread(recorder.close)
    lost = [e for e in run.of(DeviceStatus) if e.state == "lost"]
    assert lost and lost[0].kind == "camera"
    replies = run.of(ReplyText)
    assert len(replies) == 1 and not replies[0].interrupted  # the conversation kept running

    out = tmp_path / "replayed"
    proc = run_cli("--session", str(folder), "--speed", "0", "--out", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    replayed = read_events(out)
    live_speech = [(e.speech_start_at, e.speech_end_at) for e in run.of(SpeechEnded)]
    replay_speech = [(e["speech_start_at"], e["speech_end_at"]) for e in replayed if e["type"] == "speech_end"]
    assert len(live_speech) == len(replay_speech) == 1
    frame = 0.1  # the recorder's 10 fps
    for (ls, le), (rs, re_) in zip(live_speech, replay_speech, strict=True):
        assert abs(ls - rs) <= frame and abs(le - re_) <= frame
    live_text = [e.text for e in run.of(Transcribed)]
    assert live_text == [e["text"] for e in replayed if e["type"] == "transcript"]
    assert any(e["type"] == "scene" for e in replayed)  # the recorded video replays too


def test_live_command_line_device_errors_and_listing(tmp_path: Path) -> None:
    """The command line on the simulated card: --list-devices, and one clear line for a wrong device."""
    with SimulatedSoundCard(tmp_path / "card", mic_rate=RATE, speaker_rate=SPEAKER_RATE) as card:
        card.release()  # free running: nothing in these runs may block on the card
        listing = run_cli("--list-devices")
        assert listing.returncode == 0, listing.stderr
        assert MIC in listing.stdout and SPEAKER in listing.stdout and "Cameras:" in listing.stdout
        for flags, named in (
            (["--mic", "no-such-mic"], "no-such-mic"),
            (["--speaker", "no-such-speaker"], "no-such-speaker"),
            (["--camera", str(tmp_path / "no-such-camera.avi")], "no-such-camera.avi"),
        ):
            proc = run_cli("--live", "--out", str(tmp_path / "out"), *flags)
            lines = [line for line in proc.stderr.splitlines() if line.startswith("omnilive:")]
            assert proc.returncode == 2, proc.stderr
            assert len(lines) == 1 and named in lines[0], proc.stderr
            assert "Traceback" not in proc.stderr
            if "camera" not in named:
                assert MIC in lines[0] or SPEAKER in lines[0]  # it lists what is available


def _live_until_described(tmp_path: Path, args: list[str], cwd: Path) -> tuple[subprocess.Popen[str], str, str]:
    """Runs ``run_assistant.py --live`` on the simulated sound card until the camera is described,
    then stops it with Ctrl-C; returns the process, its stdout and its stderr."""
    import os
    import sys

    from .conftest import ROOT, ctrl_c, interruptible

    clip = tmp_path / "camera.avi"
    write_clip(SESSION / "video.mp4", clip, 2.0)
    with SimulatedSoundCard(tmp_path / "card", mic_rate=RATE, speaker_rate=SPEAKER_RATE) as card:
        card.release()
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_") and k != "DISPLAY"}
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONFAULTHANDLER"] = "1"
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "run_assistant.py"), "--config", str(ROOT / "configs" / "desktop.yaml"),
             "--camera", str(clip), "--mic", MIC, "--speaker", SPEAKER, *args],
            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible,
        )
        try:
            assert proc.stdout is not None
            seen = []
            for line in proc.stdout:
                seen.append(line)
                if "Camera:" in line:  # running: the live camera was described
                    break
            rest, stderr = ctrl_c(proc, 30)
        finally:
            proc.kill()
    return proc, "".join(seen) + rest, stderr


def _older_run(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "events.jsonl").write_text('{"type": "session_start"}\n')
    (folder / "replies.bin").write_bytes(b"\0" * 3 * 1024 * 1024)
    return folder


def test_live_command_line_runs_headless_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """`--live --preview` on a machine without a display: it says so, runs, and Ctrl-C stops it.
    A folder the user named (--out) never costs the folders beside it anything, whatever the cap."""
    from .conftest import ROOT

    out = tmp_path / "out"
    beside = _older_run(tmp_path / "older")
    proc, text, stderr = _live_until_described(
        tmp_path, ["--preview", "--out", str(out), "--set", "output.max_mb=1"], cwd=ROOT)
    assert "running headless" in text
    assert proc.returncode == 130, stderr
    events = read_events(out)
    assert events[0]["type"] == "session_start" and events[-1]["type"] == "session_end"
    assert any(e["type"] == "scene" for e in events)
    assert beside.exists()


def test_live_runs_in_their_own_folders_stay_under_the_size_cap(tmp_path: Path) -> None:
    """Each live start makes runs/<time>/; earlier runs go, oldest first, once they pass output.max_mb."""
    runs = tmp_path / "runs"
    oldest, older = _older_run(runs / "20260101-000000"), _older_run(runs / "20260102-000000")
    now = time.time()  # both within output.max_age_days: only the size cap removes one
    os.utime(oldest, (now - 200, now - 200))
    os.utime(older, (now - 100, now - 100))
    proc, _, stderr = _live_until_described(tmp_path, ["--set", "output.max_mb=4"], cwd=tmp_path)
    assert proc.returncode == 130, stderr
    left = sorted(p.name for p in runs.iterdir())
    assert left[0] == "20260102-000000" and len(left) == 2  # the oldest went; this run's folder is there
    assert read_events(runs / left[1])[-1]["type"] == "session_end"


async def test_half_duplex_does_not_hear_the_assistant(
    tmp_path: Path, models: Models, questions: list[np.ndarray]
) -> None:
    """With the echo loud in the microphone, half duplex hears nothing while the assistant talks."""
    run = await run_on_card(tmp_path, models, questions[0], seconds=10, echo_gain=0.8,
                            settings={"live": {"echo": {"half_duplex": True, "correlation_threshold": 1.0,
                                                        "transcript_similarity": 100.0}}})
    replies = run.of(ReplyText)
    assert len(replies) == 1 and not replies[0].interrupted
    starts = run.of(SpeechStarted)
    assert len(starts) == 1  # only the user's question: the echo never reached the VAD
