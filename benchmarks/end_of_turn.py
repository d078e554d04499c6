#!/usr/bin/env python3
"""How long a silence should end a turn? Measures, for several ``vad.min_silence_ms``,
how often a question with a pause inside it is cut in two, against the wait that the
silence adds to every reply.

Questions are spoken by espeak-ng with SSML breaks of known length inside them
(hesitations like "what is on the table ... near the window"); each is run through
Silero and the segmenter exactly as the pipeline does.

    .venv/bin/python benchmarks/end_of_turn.py

``vad.end_of_turn: smart_turn`` is measured the same way: Smart Turn v3.2 asked after
``stop_ms`` of silence, with ``min_silence_ms`` as the fallback when it says the turn goes on;
its rows also give the p50 wait from the end of speech to the end of the turn.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from speech.audio import BLOCK, SAMPLE_RATE  # noqa: E402
from speech.smart_turn import SmartTurn  # noqa: E402
from speech.vad import Segmenter, SileroVad, VadEnd  # noqa: E402

PHRASES = [
    ("what is on the table", "near the window"),
    ("can you tell me", "what colour the mug is"),
    ("how many people", "are in the room right now"),
    ("read the sign", "on the left for me"),
    ("I would like to know, um", "what is on the table"),  # a trailing "um" before the pause
    ("there is a cup, a pen,", "and a book on the desk, right"),  # a list
]
PAUSES_MS = [150, 300, 450, 600]
SILENCES_MS = [300, 400, 500, 600, 700, 800]


def speak(first: str, second: str, pause_ms: int, folder: Path) -> np.ndarray:
    path = folder / "q.wav"
    ssml = f'<speak>{first} <break time="{pause_ms}ms"/> {second}</speak>'
    subprocess.run(["espeak-ng", "-m", "-v", "en-us", "-s", "150", "-w", str(path), ssml], check=True)
    audio, rate = sf.read(path, dtype="float32")
    audio = soxr.resample(audio, rate, SAMPLE_RATE).astype(np.float32)
    pad = np.zeros(SAMPLE_RATE, dtype=np.float32)
    return np.concatenate([pad, audio, pad, pad])


def utterances(audio: np.ndarray, vad: SileroVad, min_silence_ms: int) -> int:
    vad.reset()
    seg = Segmenter(min_silence_ms=min_silence_ms)
    ends = 0
    for i in range(0, len(audio) - BLOCK + 1, BLOCK):
        block = audio[i : i + BLOCK]
        ends += sum(isinstance(s, VadEnd) for s in seg.push(block, i / SAMPLE_RATE, vad(block)))
    return ends + sum(isinstance(s, VadEnd) for s in seg.flush())


def smart_turn_ends(audio: np.ndarray, vad: SileroVad, turn: SmartTurn, stop_ms: int,
                    fallback_ms: int) -> tuple[int, float]:
    """As the VAD stage runs it: the turn ends at ``stop_ms`` of silence if Smart Turn says it is
    over, else at ``fallback_ms``. The utterances, and the wait after the last one's speech."""
    vad.reset()
    seg = Segmenter(min_silence_ms=fallback_ms)
    stop_blocks = max(1, round(stop_ms / 1000 * SAMPLE_RATE / BLOCK))
    ends, wait = 0, 0.0
    for i in range(0, len(audio) - BLOCK + 1, BLOCK):
        block = audio[i : i + BLOCK]
        signals = seg.push(block, i / SAMPLE_RATE, vad(block))
        if not signals and seg.silent_run == stop_blocks and turn.probability(seg.audio_so_far()) >= 0.5:
            signals = seg.flush()
        for signal in signals:
            if isinstance(signal, VadEnd):
                ends += 1
                wait = (i + BLOCK) / SAMPLE_RATE - signal.end
    return ends + sum(isinstance(s, VadEnd) for s in seg.flush()), wait


def main() -> None:
    vad = SileroVad()
    with tempfile.TemporaryDirectory() as tmp:
        clips = {(p, ms): speak(*p, ms, Path(tmp)) for p in PHRASES for ms in PAUSES_MS}
    print("questions cut in two, by pause inside the question (columns) and end-of-turn silence (rows)")
    print("min_silence_ms " + " ".join(f"{ms:>6} ms" for ms in PAUSES_MS) + "   wait added to every reply")
    for silence in SILENCES_MS:
        cells = []
        for ms in PAUSES_MS:
            split = sum(utterances(clips[(p, ms)], vad, silence) > 1 for p in PHRASES)
            cells.append(f"{split}/{len(PHRASES):<6}")
        print(f"{silence:>14} " + "   ".join(cells) + f"   ~{silence + 16} ms")
    turn = SmartTurn()
    print("smart_turn (stop 200 ms; fallback min_silence_ms)        p50 wait after the end of speech")
    for fallback in (500, 700, 800):
        cells, waits = [], []
        for ms in PAUSES_MS:
            runs = [smart_turn_ends(clips[(p, ms)], vad, turn, 200, fallback) for p in PHRASES]
            cells.append(f"{sum(n > 1 for n, _ in runs)}/{len(PHRASES):<6}")
            waits += [w for n, w in runs if n == 1]
        p50 = float(np.median(waits)) * 1000 if waits else float("nan")
        print(f"{fallback:>14} " + "   ".join(cells) + f"   {p50:.0f} ms (questions not cut)")


if __name__ == "__main__":
    main()
