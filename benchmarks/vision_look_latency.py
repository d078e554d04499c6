#!/usr/bin/env python3
"""What seeing costs the reply, through the real ``TurnRunner`` and ``Look``.

1. A visual question ("what is this?") with the question-aware look on and off: the
   look sends the freshest frame and the question to the describer before the reply,
   so its time is added to the first token. The describer is a stand-in that takes
   ``--vlm-ms`` on its own (in a worker thread, as a real one runs), or the real
   ``basic`` describer (``--describer basic``) on a frame of the bundled session.
2. A non-visual question while a slow describer (``--background-ms``) describes
   changing frames in the background through the real ``run_vision`` stage, against
   the same question with no describer at all: the reply path never waits for it.

The LLM stand-in yields its first token after ``--llm-ms`` and TTS is instant, so the
differences are what the look and the background describer add. All figures come
from this one run.

    .venv/bin/python benchmarks/vision_look_latency.py [--vlm-ms 300] [--background-ms 2000] [--runs 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.timing import TurnTimer  # noqa: E402
from assistant.turns import TurnRunner  # noqa: E402
from dialogue.prompt import Conversation, ReplyRequest  # noqa: E402
from kernel.channels import Channel  # noqa: E402
from kernel.clock import WallClock  # noqa: E402
from kernel.eventlog import EventBus  # noqa: E402
from kernel.events import Event, ReplyStarted  # noqa: E402
from perception.describer import Describer  # noqa: E402
from perception.frames import Frame, Image, VideoFileSource  # noqa: E402
from perception.look import Look  # noqa: E402
from perception.memory import SceneMemory  # noqa: E402
from perception.sampling import ChangeGate  # noqa: E402
from perception.settings import BasicDescriberSettings  # noqa: E402
from perception.stages import VisionStats, run_vision  # noqa: E402

VISUAL = "What is this in front of you?"
NON_VISUAL = "Tell me a joke about ducks."


class DelayedDescriber:
    """A VLM stand-in: answers after ``delay_s``, blocking its worker thread as a real model does."""

    name = "delayed"

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.calls = 0

    def describe(self, image: Image, question: str | None = None) -> str:
        self.calls += 1
        time.sleep(self.delay_s)  # the model's own time, off the event loop
        return "A wooden desk with a blue mug."


class StandInLlm:
    name = "stand-in"

    def __init__(self, first_token_s: float) -> None:
        self.first_token_s = first_token_s

    async def stream(self, request: ReplyRequest) -> AsyncIterator[str]:
        await asyncio.sleep(self.first_token_s)  # the server's time to first token
        yield "Sure."


class InstantTts:
    name = "instant"
    sample_rate = 16_000

    def synthesize(self, text: str) -> np.ndarray:
        return np.zeros(160, dtype=np.int16)


class NullSink:
    async def open_turn(self, turn: int, sample_rate: int) -> None:
        pass

    async def write(self, pcm: np.ndarray) -> None:
        pass

    async def close_turn(self, *, interrupted: bool = False) -> tuple[float, str | None]:
        return 0.0, None


def session_frame(t: float) -> Frame:
    source = VideoFileSource(ROOT / "examples" / "sessions" / "desk" / "video.mp4")
    return next(f for f in source.frames() if f.t >= t)


async def first_token_ms(runner: TurnRunner, question: str, turn: int) -> float:
    """Milliseconds from the final transcript (``TurnRunner.run``) to the first reply token."""
    started = time.perf_counter()
    first: list[float] = []

    def on_event(event: Event) -> None:
        if isinstance(event, ReplyStarted) and event.turn == turn and not first:
            first.append(time.perf_counter())

    runner.bus.subscribe(on_event)
    await runner.run(turn, turn, question)
    return (first[0] - started) * 1000


def make_runner(bus: EventBus, memory: SceneMemory, llm_s: float, describer: Describer | None) -> TurnRunner:
    look = Look(describer, memory, bus, timeout_s=BasicDescriberSettings().look_timeout_s) if describer else None
    return TurnRunner(bus=bus, llm=StandInLlm(llm_s), tts=InstantTts(), sink=NullSink(), memory=memory,
                      conversation=Conversation(), timer=TurnTimer(), look=look)


async def visual_question(args: argparse.Namespace, frame: Frame) -> None:
    describer: Describer
    if args.describer == "basic":
        from perception.basic import BasicDescriber

        describer = BasicDescriber()
        label = "basic describer (OpenCV + tesseract)"
    else:
        describer = DelayedDescriber(args.vlm_ms / 1000)
        label = f"stand-in VLM taking {args.vlm_ms:.0f} ms"
    results: dict[str, list[float]] = {}
    for name, with_look in (("no look", False), ("look", True)):
        bus = EventBus(WallClock())
        memory = SceneMemory()
        memory.latest_frame = frame
        runner = make_runner(bus, memory, args.llm_ms / 1000, describer if with_look else None)
        results[name] = [await first_token_ms(runner, VISUAL, i + 1) for i in range(args.runs)]
    base, look = statistics.median(results["no look"]), statistics.median(results["look"])
    print(f"visual question, {args.runs} turns each, {label}, LLM first token after {args.llm_ms:.0f} ms:")
    print(f"  first token without the look: p50 {base:7.1f} ms")
    print(f"  first token with the look:    p50 {look:7.1f} ms  (max {max(results['look']):.1f} ms)")
    print(f"  added by the look: {look - base:.1f} ms (deadline describer.look_timeout_s = "
          f"{BasicDescriberSettings().look_timeout_s:g} s)")


async def background(args: argparse.Namespace, frame: Frame) -> None:
    results: dict[str, list[float]] = {}
    calls = 0
    for name, slow in (("none", False), ("slow", True)):
        bus = EventBus(WallClock())
        memory = SceneMemory()
        memory.latest_frame = frame
        describer = DelayedDescriber(args.background_ms / 1000)
        runner = make_runner(bus, memory, args.llm_ms / 1000, describer)  # the look is on, as in the pipeline
        frames: Channel[Frame] = Channel("frames", 1)
        stop = asyncio.Event()

        async def feed(frames: Channel[Frame] = frames, stop: asyncio.Event = stop) -> None:
            flip = 0
            try:
                while not stop.is_set():  # a frame every 100 ms, each one changed
                    flip ^= 255
                    frames.put_nowait(Frame(0.0, 0, np.full_like(frame.image, flip)))
                    await asyncio.sleep(0.1)
            finally:
                frames.close()

        times: list[float] = []
        async with asyncio.TaskGroup() as tg:
            if slow:
                tg.create_task(feed(), name="feed")
                tg.create_task(run_vision(frames, ChangeGate(0.03), describer, memory, bus, VisionStats()),
                               name="vision")
                await asyncio.sleep(0.2)  # the first description is under way
            for i in range(args.runs):
                times.append(await first_token_ms(runner, NON_VISUAL, i + 1))
                await asyncio.sleep(0.137)  # questions land at different points of a description
            stop.set()
        results[name] = times
        calls = max(calls, describer.calls)
    idle, busy = statistics.median(results["none"]), statistics.median(results["slow"])
    print(f"non-visual question, {args.runs} turns each, LLM first token after {args.llm_ms:.0f} ms:")
    print(f"  first token, no describer:                         p50 {idle:7.1f} ms")
    print(f"  first token, {args.background_ms:.0f} ms describer busy in the background: "
          f"p50 {busy:7.1f} ms  (max {max(results['slow']):.1f} ms; {calls} descriptions ran meanwhile)")
    print(f"  added by background describing: {busy - idle:.1f} ms")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--vlm-ms", type=float, default=300)
    p.add_argument("--describer", choices=["stand-in", "basic"], default="stand-in")
    p.add_argument("--background-ms", type=float, default=2000)
    p.add_argument("--llm-ms", type=float, default=200)
    p.add_argument("--runs", type=int, default=10)
    args = p.parse_args()
    frame = session_frame(15.0)  # the red OPEN sign

    async def both() -> None:
        await visual_question(args, frame)
        await background(args, frame)

    asyncio.run(both())


if __name__ == "__main__":
    main()
