#!/usr/bin/env python3
"""How much slower this machine runs code right after it has been idle.

A real-time assistant is idle between words: everything on the reply path runs after a
pause. On some virtual machines, memory not touched for a fraction of a second is slow to
touch again, and every step after a pause pays for it. This measures three things back to
back (warm) and after ``--idle-s`` of sleep, in one run:

  - one event through ``assistant.state.StateTracker`` (a few microseconds of Python);
  - summing 100 MB of floats (memory bandwidth);
  - Piper synthesising a five-word piece.

    .venv/bin/python benchmarks/idle_penalty.py [--idle-s 0.5] [--repeats 5]

The pipeline overhead in ``benchmarks/latency.py`` (VAD end of turn to first audio, instant
models) is a dozen such steps; on a machine with a large penalty it is milliseconds where a
warm machine takes microseconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.state import StateTracker  # noqa: E402
from kernel.events import SpeechEnded, SpeechStarted  # noqa: E402
from speech.tts import PiperTts  # noqa: E402


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-s", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    tracker = StateTracker()
    counter = iter(range(10**9))

    def event() -> None:
        n = next(counter)
        tracker(SpeechStarted(t=0.0, utterance=n, speech_start_at=0.0))
        tracker(SpeechEnded(t=0.1, utterance=n, speech_start_at=0.0, speech_end_at=0.1))

    floats = np.ones(100_000_000 // 8)
    piper = PiperTts()
    cases = {
        "a state-tracker event (Python)": event,
        "sum of 100 MB (memory)": floats.sum,
        "Piper, five words": lambda: piper.synthesize("The camera shows a red board"),
    }
    print(f"median of {args.repeats}; idle = {args.idle_s:g} s of sleep before each call")
    for name, work in cases.items():
        for _ in range(3):
            work()  # warm-up
        warm = statistics.median(timed(work) for _ in range(args.repeats))
        idle = []
        for _ in range(args.repeats):
            time.sleep(args.idle_s)
            idle.append(timed(work))
        after = statistics.median(idle)
        print(f"  {name:32s} warm {warm:9.3f} ms   after idle {after:9.3f} ms   ratio {after / warm:7.1f}x")


if __name__ == "__main__":
    main()
