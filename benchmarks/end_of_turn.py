#!/usr/bin/env python3
"""How often does each end-of-turn strategy cut a question in two, and how long does it make
every reply wait? Run through the pipeline's own VAD stage (``speech.stages.run_vad`` with
real Silero, the early decode on real Whisper, and Smart Turn v3.2) on speech it was not tuned on.

Questions are spoken by espeak-ng (SSML breaks of known length inside them):
  - mid-sentence pauses of 300, 500 and 800 ms ("can you tell me ... what colour the mug is"),
    including a trailing "um" and a list;
  - questions asked slowly (110 words a minute, 250-350 ms between word groups);
  - finished questions with no pause inside, for the wait every reply pays.

Strategies: ``silence`` (``vad.min_silence_ms``), ``smart_turn`` with the audio model alone, and
``smart_turn`` with the transcript check (``vad.smart_turn.transcript_check``, the default),
with 500 ms (today's default) or a longer silence as the fallback.

For each strategy: the false end-of-turn rate (questions with a pause inside that were cut),
and the p50/p90 wait from the end of speech to the end of the turn on the questions that were
not cut. The wait counts compute: with the transcript check the turn cannot end before the
early decode of the pause is done (it starts after ``asr.early_decode_after_ms``), so the wait
is the later of the media time and that decode's end.

    .venv/bin/python benchmarks/end_of_turn.py [--asr-model tiny.en] [--window-s 30] [--beam-size 5]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from omnilive.testing import speech_ends  # noqa: E402
from speech.asr import WhisperAsr, default_window  # noqa: E402
from speech.audio import SAMPLE_RATE  # noqa: E402
from speech.settings import ASR_PROMPT  # noqa: E402
from speech.smart_turn import SmartTurn, sounds_finished  # noqa: E402
from speech.stages import EarlyTranscriber, TurnEndCheck  # noqa: E402
from speech.vad import Segmenter, SileroVad  # noqa: E402

PAUSED = [  # (before the pause, after it)
    ("what is on the table", "near the window"),
    ("can you tell me", "what colour the mug is"),
    ("how many people", "are in the room right now"),
    ("read the sign", "on the left for me"),
    ("is the man holding", "a cup or a phone"),
    ("I would like to know, um", "what is on the table"),  # a trailing "um" before the pause
    ("there is a cup, a pen,", "and a book on the desk, right"),  # a list
    ("tell me what you see on the shelf and", "whether the light is on"),
]
PAUSES_MS = [300, 500, 800]
SLOW = [  # word groups, spoken at 110 wpm with a 250-350 ms break between groups
    ["what", "is the man", "holding in his hand"],
    ["could you", "please read", "the sign for me"],
    ["how many", "cups are there", "on the table"],
    ["which way", "is the ball", "rolling"],
]
FINISHED = [
    "What is on the table?",
    "Can you read the sign for me?",
    "How many people are in the room?",
    "Is the light on in the kitchen?",
    "What colour is the ball?",
    "Tell me what you see.",
    "Is the laptop open or closed?",
    "Who is standing by the door?",
]
EARLY_AFTER_MS = 96  # asr.early_decode_after_ms's default


@dataclass(frozen=True)
class Strategy:
    name: str
    fallback_ms: int
    smart_turn: bool = False
    words: bool = False


STRATEGIES = [
    Strategy("silence 500 ms (today's default)", 500),
    Strategy("silence 700 ms", 700),
    Strategy("smart_turn, audio only, fallback 500", 500, smart_turn=True),
    Strategy("smart_turn + transcript, fallback 500", 500, smart_turn=True, words=True),
    Strategy("smart_turn + transcript, fallback 800", 800, smart_turn=True, words=True),
]


def speak(ssml: str, folder: Path, wpm: int = 150) -> np.ndarray:
    path = folder / "q.wav"
    subprocess.run(["espeak-ng", "-m", "-v", "en-us", "-s", str(wpm), "-w", str(path), f"<speak>{ssml}</speak>"],
                   check=True)
    audio, rate = sf.read(path, dtype="float32")
    speech = np.asarray(soxr.resample(audio, rate, SAMPLE_RATE), dtype=np.float32)
    rng = np.random.default_rng(len(ssml))
    quiet = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)
    clip = np.concatenate([quiet, speech, np.zeros(int(1.2 * SAMPLE_RATE), dtype=np.float32)])
    return clip + (0.003 * rng.standard_normal(len(clip))).astype(np.float32)  # light noise, ~-50 dBFS


async def run_case(audio: np.ndarray, strategy: Strategy, vad: SileroVad, turn: SmartTurn,
                   asr: WhisperAsr) -> tuple[int, float]:
    """Utterances found, and the last one's wait in seconds from its end of speech to the end of
    the turn (compute included: see the module's docstring)."""
    vad.reset()
    early = EarlyTranscriber(asr, after_ms=EARLY_AFTER_MS) if strategy.words else None
    check = TurnEndCheck(turn, after_ms=200, threshold=0.5, words=sounds_finished if strategy.words else None) \
        if strategy.smart_turn else None
    ended = await speech_ends(audio, vad, Segmenter(min_silence_ms=strategy.fallback_ms), early=early, turn_end=check)
    last = ended[-1]
    wait = last.t - last.speech_end_at
    if early is not None:
        job = early.take(last.utterance, last.speech_end_at)
        if job is not None and job.task is not None:
            await job.task
            wait = max(wait, (EARLY_AFTER_MS + job.decode_ms) / 1000)
    return len(ended), wait


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else float("nan")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--asr-model", default="base", help="asr.model (default base, the default profile's)")
    parser.add_argument("--window-s", type=float, default=None,
                        help="asr.window_s (default: the model's own, speech.asr.default_window: base 12, tiny.en 30)")
    parser.add_argument("--beam-size", type=int, default=5, help="asr.beam_size (default 5)")
    args = parser.parse_args()
    vad, turn = SileroVad(), SmartTurn()
    if args.window_s is None:
        args.window_s = default_window(args.asr_model)
    asr = WhisperAsr(args.asr_model, beam_size=args.beam_size, initial_prompt=ASR_PROMPT, window_s=args.window_s)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paused = {(a, b, ms): speak(f'{a} <break time="{ms}ms"/> {b}', folder) for a, b in PAUSED for ms in PAUSES_MS}
        slow = [speak(" ".join(f'{g} <break time="{250 + 50 * (i % 3)}ms"/>' for i, g in enumerate(q)), folder, 110)
                for q in SLOW]
        finished = [speak(q, folder) for q in FINISHED]
    print(f"{len(paused)} questions with a pause inside ({len(PAUSED)} x {PAUSES_MS} ms), {len(slow)} asked slowly, "
          f"{len(finished)} finished; early decode on {args.asr_model} "
          f"(beam {args.beam_size}, window {args.window_s:g} s)")
    header = " ".join(f"{ms:>5} ms" for ms in PAUSES_MS)
    print(f"{'strategy':<40} cut: {header}  slow  all   wait p50  p90 (not cut)")
    for strategy in STRATEGIES:
        cut_by_pause, waits = [], []
        for ms in PAUSES_MS:
            runs = [await run_case(paused[(a, b, ms)], strategy, vad, turn, asr) for a, b in PAUSED]
            cut_by_pause.append(sum(n > 1 for n, _ in runs))
            waits += [w for n, w in runs if n == 1]
        slow_runs = [await run_case(clip, strategy, vad, turn, asr) for clip in slow]
        finished_runs = [await run_case(clip, strategy, vad, turn, asr) for clip in finished]
        slow_cut = sum(n > 1 for n, _ in slow_runs)
        waits += [w for n, w in slow_runs + finished_runs if n == 1]
        total = len(paused) + len(slow)
        rate = (sum(cut_by_pause) + slow_cut) / total
        cells = " ".join(f"{c:>2}/{len(PAUSED):<3}" for c in cut_by_pause)
        print(f"{strategy.name:<40}      {cells}  {slow_cut}/{len(slow)}  {rate:4.0%}   "
              f"{pct(waits, 50) * 1000:5.0f} ms {pct(waits, 90) * 1000:4.0f} ms")


if __name__ == "__main__":
    asyncio.run(main())
