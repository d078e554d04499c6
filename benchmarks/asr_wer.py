#!/usr/bin/env python3
"""Word error rate of the shipped Whisper models on voices the project did not tune for.

Questions about a camera scene are spoken by espeak-ng in several accents, voice variants
and speeds (the bundled session uses plain en-us at 150 wpm; none of these do), with pink
noise at 20 dB SNR (seeded), at 16 kHz. Every clip is transcribed by each recognizer
configuration (``--configs``: model/bN, ``+NAME`` adds PROMPTS[NAME] as Whisper's initial
prompt; language "en", int8, 2 threads), all loaded through ``speech.asr.WhisperAsr`` and
timed in the same run, rotating which configuration goes first. The bundled session's three
questions (cut from its audio.wav, 0.3 s padding) are scored apart. WER is jiwer's, after
lowercasing and stripping punctuation. The best configuration (lowest espeak WER, then
session WER, then decode time) gets a per-voice breakdown. Every configuration is also fed
silence and pink noise alone: a prompted Whisper tends to echo its prompt when nobody speaks.

    .venv/bin/python benchmarks/asr_wer.py [--takes 4] [--snr-db 20] [--no-variants]
        [--configs tiny.en/b1,tiny.en/b1/w3,base/b5+prompt]   (--snr-db inf: no noise; /wS: asr.window_s)
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import jiwer
import numpy as np
import soundfile as sf
import soxr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from speech.asr import WhisperAsr  # noqa: E402
from speech.audio import SAMPLE_RATE  # noqa: E402

QUESTIONS = [
    "What is inside the red box on the shelf?",
    "Can you tell me what the sign above the door says?",
    "How many people are sitting in the room?",
    "Is the cat asleep on the sofa?",
    "What does the label on the bottle say?",
    "Which way is the green ball rolling?",
    "Is there anyone standing by the window?",
    "What kind of plant is next to the lamp?",
    "Did somebody leave the lights on in the kitchen?",
    "Is the laptop on the desk open or closed?",
    "What is the man holding in his left hand?",
    "Could you describe the picture on the wall?",
]
VOICES = [  # espeak-ng voice (+variant), words per minute
    ("en-gb-scotland", 150),
    ("en-029+f2", 165),
    ("en-gb-x-rp+m3", 180),
    ("en-us+f3", 140),
    ("en-us-nyc+m7", 175),
    ("en-gb-x-gbclan", 160),
    ("en-gb-x-gbcwmd+f4", 150),
    ("en-us+m7", 190),
]
CONFIGS = (
    "tiny.en/b1",
    "tiny.en/b5",
    "tiny.en/b5+prompt",
    "base/b1",
    "base/b5",
    "base/b1+prompt",
    "base/b5+prompt",
)
PROMPTS = {
    # Primes the domain (questions to a seeing assistant) without any content word of QUESTIONS
    # or of the session's questions.
    "prompt": "Questions to an assistant that looks through a camera and describes what it sees.",
    # Adds scene vocabulary; "sign" and "ball" also occur in the test questions and the session.
    "cues": (
        "Questions to an assistant that sees through a camera: What is in front of you? "
        "Read the sign. What colour is the ball?"
    ),
}
PAD_S = 0.3


@dataclass
class Clip:
    source: str  # voice and speed, or "session"
    text: str
    audio: np.ndarray
    heard: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
    noise = np.fft.irfft(spectrum, n)
    return noise / np.sqrt(np.mean(noise**2))


def speak(text: str, voice: str, wpm: int, snr_db: float, folder: Path, rng: np.random.Generator) -> np.ndarray:
    path = folder / "q.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(path), text], check=True)
    audio, rate = sf.read(path, dtype="float32")
    audio = soxr.resample(audio, rate, SAMPLE_RATE).astype(np.float32)
    pad = np.zeros(int(PAD_S * SAMPLE_RATE), dtype=np.float32)
    audio = np.concatenate([pad, audio, pad])
    voiced = audio[np.abs(audio) > 0.01]
    noise_rms = np.sqrt(np.mean(voiced**2)) / 10 ** (snr_db / 20)
    return (audio + noise_rms * pink_noise(len(audio), rng)).astype(np.float32)


def synthetic_clips(takes: int, snr_db: float, variants: bool) -> list[Clip]:
    rng = np.random.default_rng(7)
    clips = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, text in enumerate(QUESTIONS):
            for k in range(takes):
                voice, wpm = VOICES[(i + 3 * k) % len(VOICES)]
                voice = voice if variants else voice.split("+")[0]
                clips.append(Clip(f"{voice} {wpm}", text, speak(text, voice, wpm, snr_db, Path(tmp), rng)))
    return clips


def session_clips() -> list[Clip]:
    folder = ROOT / "examples" / "sessions" / "desk"
    audio, rate = sf.read(folder / "audio.wav", dtype="float32")
    assert rate == SAMPLE_RATE, rate
    clips = []
    for q in json.loads((folder / "session.json").read_text())["questions"]:
        start, end = int((q["start"] - PAD_S) * rate), int((q["end"] + PAD_S) * rate)
        clips.append(Clip("session", q["text"], audio[max(start, 0) : end]))
    return clips


def parse_config(spec: str) -> tuple[str, int, float, str | None]:
    """``model/bN[/wS][+NAME]``: model name or folder, beam size, encoder window in seconds
    (asr.window_s; default 30, Whisper's full window), initial prompt."""
    match = re.fullmatch(r"(.+?)/b(\d+)(?:/w(\d+(?:\.\d+)?))?(?:\+(\w+))?", spec)
    if not match or (match[4] is not None and match[4] not in PROMPTS):
        raise SystemExit(
            f"--configs: {spec!r} is not MODEL/bN[/wS][+NAME], NAME one of {', '.join(PROMPTS)}"
        )
    window = float(match[3]) if match[3] else 30.0
    return match[1], int(match[2]), window, PROMPTS[match[4]] if match[4] else None


def wer(clip: Clip, config: str) -> float:
    return float(jiwer.wer(normalise(clip.text), normalise(clip.heard[config]) or "-"))


def score(clips: list[Clip], config: str) -> tuple[float, int, float]:
    wers = [wer(c, config) for c in clips]
    return statistics.mean(wers), sum(w > 0 for w in wers), statistics.median(c.seconds[config] for c in clips)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--takes", type=int, default=4, help="voices per question (default 4)")
    parser.add_argument("--snr-db", type=float, default=20.0, help="speech to pink noise (default 20; inf: none)")
    parser.add_argument("--no-variants", action="store_true", help="plain accents: no +f2/+m3/... timbres")
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated (default {','.join(CONFIGS)})")
    args = parser.parse_args()
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    wall = time.perf_counter()

    synthetic = synthetic_clips(args.takes, args.snr_db, not args.no_variants)
    session = session_clips()
    recognizers = {}
    for config in configs:
        model, beam, window, prompt = parse_config(config)
        started = time.perf_counter()
        recognizers[config] = WhisperAsr(
            model, compute_type="int8", cpu_threads=2, beam_size=beam, language="en", initial_prompt=prompt,
            window_s=window,
        )
        print(f"loaded {config} in {time.perf_counter() - started:.1f} s", flush=True)
    for i, clip in enumerate(synthetic + session):
        for config in configs[i % len(configs) :] + configs[: i % len(configs)]:
            started = time.perf_counter()
            clip.heard[config] = recognizers[config].transcribe(clip.audio)
            clip.seconds[config] = time.perf_counter() - started

    voices = sorted({c.source.split()[0] for c in synthetic})
    print(
        f"\n{len(synthetic)} espeak-ng clips ({len(QUESTIONS)} questions x {args.takes} of {len(voices)} voices, "
        f"{args.snr_db:g} dB SNR pink noise) and the bundled session's {len(session)} questions"
    )
    for name, text in PROMPTS.items():
        if any(c.endswith(f"+{name}") for c in configs):
            print(f"+{name}: {text!r}")
    width = max(len(c) for c in configs)
    print(f"{'config':<{width}} {'espeak WER':>10} {'misheard':>9} {'session WER':>11} {'median decode s':>16}")
    results = {}
    for config in configs:
        espeak_wer, misheard, _ = score(synthetic, config)
        session_wer, _, _ = score(session, config)
        median = statistics.median(c.seconds[config] for c in synthetic + session)
        results[config] = (espeak_wer, session_wer, median)
        heard = f"{misheard}/{len(synthetic)}"
        print(f"{config:<{width}} {espeak_wer:>10.3f} {heard:>9} {session_wer:>11.3f} {median:>16.2f}")
    best = min(configs, key=lambda c: results[c])
    print(f"\nbest: {best}; mean WER per voice (clips), every config:")
    print(f"{'voice':<22} {'clips':>5} " + " ".join(f"{c:>{len(c)}}" for c in configs))
    for voice in voices:
        group = [c for c in synthetic if c.source.split()[0] == voice]
        kind = "variant" if "+" in voice else "accent"
        row = " ".join(f"{statistics.mean(wer(c, k) for c in group):>{len(k)}.3f}" for k in configs)
        print(f"{voice:<22} {len(group):>5} {row}   ({kind})")
    print("\nsession:")
    for clip in session:
        for config in configs:
            print(f"  {config:<{width}} {clip.text!r} -> {clip.heard[config]!r}")
    print(f"\nmisheard by {best}:")
    for clip in synthetic:
        if normalise(clip.heard[best]) != normalise(clip.text):
            print(f"  {clip.source:<22} {clip.text!r} -> {clip.heard[best]!r}")
    rng = np.random.default_rng(11)
    quiet = {
        "silence": np.zeros(2 * SAMPLE_RATE, dtype=np.float32),
        "noise -34 dBFS": (0.02 * pink_noise(2 * SAMPLE_RATE, rng)).astype(np.float32),
        "noise -20 dBFS": (0.1 * pink_noise(2 * SAMPLE_RATE, rng)).astype(np.float32),
    }
    print("\nno speech, 2 s each (anything heard here is a phantom question):")
    for config in configs:
        heard = ", ".join(f"{label}: {recognizers[config].transcribe(audio)!r}" for label, audio in quiet.items())
        print(f"  {config:<{width}} {heard}")
    print(f"\ntotal {time.perf_counter() - wall:.0f} s")


if __name__ == "__main__":
    main()
