"""How the reply path shares two cores: early decodes that wait their turn instead of being
dropped, warm-ups held while Whisper decodes, and background describing at the lowest priority.

Whisper here is a small stand-in whose decode blocks until the test lets it finish: what is
tested is the scheduling around it, with no clock at all."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from assistant.sharing import PromptWarmer
from kernel.control import Flag
from kernel.events import SceneDescribed, SpeechStarted
from perception.stages import BACKGROUND_NICE, BackgroundThread, background_work_running
from speech.stages import EarlyTranscriber

from .conftest import ROOT


class GatedAsr:
    """Decodes when released, one release per decode; returns the clip's first sample as text."""

    def __init__(self) -> None:
        self.heard: list[str] = []
        self.started = threading.Semaphore(0)
        self.release = threading.Semaphore(0)

    def transcribe(self, audio: np.ndarray) -> str:
        self.started.release()
        assert self.release.acquire(timeout=30)
        text = f"clip {int(audio[0])}"
        self.heard.append(text)
        return text


def clip(n: int) -> np.ndarray:
    return np.full(1600, n, dtype=np.float32)


async def test_a_pause_during_a_running_decode_is_decoded_next_and_a_newer_one_replaces_it() -> None:
    asr = GatedAsr()
    early = EarlyTranscriber(asr)
    early.pause(1, 1.0, clip(1))  # a gap between two words
    assert await asyncio.to_thread(asr.started.acquire, True, 30)
    early.pause(1, 2.0, clip(2))  # another gap: waits for the running decode
    early.pause(1, 3.0, clip(3))  # the real end of the turn: replaces the waiting one
    assert early.decoding
    job = early.take(1, 3.0)
    assert job is not None and job.task is not None and not job.task.done()
    asr.release.release()  # the first decode ends; the newest pause's starts at once
    assert await asyncio.to_thread(asr.started.acquire, True, 30)
    asr.release.release()
    assert await job.task == "clip 3" and job.decode_ms > 0
    assert asr.heard == ["clip 1", "clip 3"]  # the replaced pause was never decoded
    assert early.used == 1 and early.wasted == 2
    await asyncio.sleep(0)  # the done callbacks run
    assert not early.decoding


async def test_a_pause_with_no_decode_running_starts_at_once_and_a_stale_one_is_not_used() -> None:
    asr = GatedAsr()
    early = EarlyTranscriber(asr, after_ms=96)
    assert early.after_blocks == 3  # 96 ms of 32 ms blocks
    early.pause(2, 5.0, clip(5))
    assert await asyncio.to_thread(asr.started.acquire, True, 30)
    asr.release.release()
    assert early.take(2, 5.5) is None  # the voice went on after that pause: not this utterance's end
    assert early.wasted == 1 and early.used == 0


async def test_warm_ups_are_held_while_whisper_decodes() -> None:
    class Runner:
        warmed = 0

        async def warm(self) -> None:
            Runner.warmed += 1

    decoding = Flag("early-decode", True)
    warmer = PromptWarmer(Runner(), hold=decoding)  # type: ignore[arg-type]
    warmer(SpeechStarted(t=0.0, utterance=1, speech_start_at=0.0))
    warmer(SceneDescribed(t=0.5, text="a cup", frame_t=0.4, change=0.2, backend="basic", compute_ms=1.0))
    await asyncio.sleep(0)
    assert Runner.warmed == 0  # both would have competed with the decode
    decoding.set(False)
    warmer(SceneDescribed(t=1.5, text="a cup; text: OPEN", frame_t=1.4, change=0.2, backend="basic", compute_ms=1.0))
    assert warmer._task is not None
    await warmer._task
    assert Runner.warmed == 1


async def test_background_work_runs_on_one_thread_at_the_lowest_nice_not_sched_idle() -> None:
    worker = BackgroundThread("test-describer")
    try:
        nice, tid = await worker.run(lambda: (os.getpriority(os.PRIO_PROCESS, threading.get_native_id()),
                                              threading.get_native_id()))
        policy = await worker.run(lambda: os.sched_getscheduler(threading.get_native_id()))
        _, again = await worker.run(lambda: (0, threading.get_native_id()))
    finally:
        worker.close()
    assert nice == BACKGROUND_NICE and policy == os.SCHED_OTHER and tid == again and tid != threading.get_native_id()
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < BACKGROUND_NICE  # the caller is not lowered


def test_a_description_still_running_does_not_hold_up_the_exit(tmp_path: Path) -> None:
    """Ctrl-C must not wait for a description starved of CPU on a busy machine."""
    child = tmp_path / "child.py"
    child.write_text(
        "import asyncio, threading\n"
        "from perception.stages import BackgroundThread\n"
        "async def main():\n"
        "    worker = BackgroundThread('stuck')\n"
        "    started = threading.Event()\n"
        "    def stuck():\n"
        "        started.set()\n"
        "        threading.Event().wait()  # never ends\n"
        "    task = asyncio.ensure_future(worker.run(stuck))\n"
        "    await asyncio.to_thread(started.wait, 30)\n"
        "    task.cancel()\n"
        "    worker.close()\n"
        "    print('leaving', flush=True)\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run([sys.executable, str(child)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "leaving" in done.stdout, done.stderr


async def test_the_program_knows_when_a_description_is_still_running() -> None:
    """``omnilive.cli.entry`` leaves with ``os._exit`` then, so the interpreter never finalizes
    around a daemon thread inside native code."""
    worker = BackgroundThread("test-busy")
    started, release = threading.Event(), threading.Event()

    def job() -> str:
        started.set()
        release.wait(30)
        return "done"

    running = asyncio.ensure_future(worker.run(job))
    await asyncio.to_thread(started.wait, 30)
    assert background_work_running()
    release.set()
    assert await running == "done"
    worker.close()
    assert not background_work_running()


def test_the_program_leaves_at_once_when_a_description_is_still_running(tmp_path: Path) -> None:
    child = tmp_path / "child.py"
    child.write_text(
        "import asyncio, atexit, threading\n"
        "import omnilive.cli\n"
        "from perception.stages import BackgroundThread\n"
        "started = threading.Event()\n"
        "def stuck():\n"
        "    started.set()\n"
        "    threading.Event().wait()  # never ends\n"
        "def run():\n"
        "    worker = BackgroundThread('stuck')\n"
        "    async def go():\n"
        "        task = asyncio.ensure_future(worker.run(stuck))\n"
        "        await asyncio.to_thread(started.wait, 30)\n"
        "        task.cancel()\n"
        "    asyncio.run(go())\n"
        "    print('written')  # not flushed yet: stdout is a pipe\n"
        "    return 130\n"
        "omnilive.cli.main = run\n"
        "atexit.register(lambda: print('finalized', flush=True))\n"
        "omnilive.cli.entry()\n"
    )
    done = subprocess.run([sys.executable, str(child)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 130, done.stderr
    assert "written" in done.stdout  # flushed before leaving
    assert "finalized" not in done.stdout  # no atexit, no finalization
