#!/usr/bin/env python3
"""Word error rate of the shipped Whisper models on voices the project did not tune for.

Questions about a camera scene, long and short, are spoken in voices the project's sessions do
not use (espeak-ng in several accents, variants and speeds; flite's slt, awb, rms and kal16; Piper's
joe faster and slower), each take at its own level of pink noise (30 to 12 dB SNR, seeded), at
16 kHz: 24 questions x 4 takes = 96 clips by default. Every clip is transcribed by each recognizer
configuration (``--configs``: model/bN, ``+NAME`` adds PROMPTS[NAME] as Whisper's initial
prompt; language "en", int8, 2 threads), all loaded through ``speech.asr.WhisperAsr`` and
timed in the same run, rotating which configuration goes first. The bundled session's three
questions (cut from its audio.wav, 0.3 s padding) are scored apart. WER is jiwer's, after
lowercasing and stripping punctuation. The best configuration (lowest WER, then
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

from benchmarks.answer_set import Voice  # noqa: E402
from benchmarks.answers import Speakers  # noqa: E402
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
    # Short ones, as people ask a camera: a 30 s window's padding matters most for them (base on an
    # 8 s window dropped "animal" from the first).
    "What animal can you see?",
    "Is there a dog?",
    "What colour is the mug?",
    "Read the sign for me.",
    "Who is that?",
    "How many cups are there?",
    "Where is the cat?",
    "What do you see?",
    "Is it dark in here?",
    "Which way is it going?",
    "What does it say?",
    "Is anyone there?",
]
VOICES = [  # engine, voice (espeak-ng: +variant), speed (espeak-ng: words per minute; else x the voice's own)
    ("espeak", "en-gb-scotland", 150),
    ("flite", "slt", 1.0),
    ("espeak", "en-029+f2", 165),
    ("piper", "joe", 1.2),
    ("espeak", "en-gb-x-rp+m3", 180),
    ("flite", "awb", 0.9),
    ("espeak", "en-us+f3", 140),
    ("flite", "rms", 1.15),
    ("espeak", "en-us-nyc+m7", 175),
    ("piper", "joe", 0.9),
    ("espeak", "en-gb-x-gbclan", 160),
    ("flite", "kal16", 1.0),
    ("espeak", "en-gb-x-gbcwmd+f4", 150),
    ("espeak", "en-us+m7", 190),
]
NOISE_DB = (20.0, 30.0, 12.0, 16.0)  # speech to pink noise, one level per take
CONFIGS = (  # the profiles before 2026-12-07 (full 30 s window), then today's (the clip + 12 s, + 8 s)
    "tiny.en/b5+prompt",
    "base/b5+prompt",
    "base/b5/w12+prompt",
    "base/b5/w8+prompt",
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


def speak(text: str, voice: tuple[str, str, float], snr_db: float, folder: Path, rng: np.random.Generator,
          speakers: Speakers) -> np.ndarray:
    engine, name, speed = voice
    if engine == "espeak":
        path = folder / "q.wav"
        subprocess.run(["espeak-ng", "-v", name, "-s", str(int(speed)), "-w", str(path), text], check=True)
        audio, rate = sf.read(path, dtype="float32")
        audio = soxr.resample(audio, rate, SAMPLE_RATE).astype(np.float32)
    else:  # the answer benchmark's flite and Piper voices, silence trimmed
        audio = speakers.speak(text, Voice(f"{engine}-{name}", engine, name if engine == "flite" else "", speed))
    pad = np.zeros(int(PAD_S * SAMPLE_RATE), dtype=np.float32)
    audio = np.concatenate([pad, audio, pad])
    voiced = audio[np.abs(audio) > 0.01]
    noise_rms = np.sqrt(np.mean(voiced**2)) / 10 ** (snr_db / 20)
    return (audio + noise_rms * pink_noise(len(audio), rng)).astype(np.float32)


def synthetic_clips(takes: int, snr_db: float | None, variants: bool) -> list[Clip]:
    """Each question in ``takes`` voices, each take at its own noise level (:data:`NOISE_DB`) unless
    ``snr_db`` fixes one."""
    rng = np.random.default_rng(7)
    clips = []
    speakers = Speakers()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for i, text in enumerate(QUESTIONS):
                for k in range(takes):
                    engine, name, speed = VOICES[(i + 3 * k) % len(VOICES)]
                    name = name if variants else name.split("+")[0]
                    snr = snr_db if snr_db is not None else NOISE_DB[k % len(NOISE_DB)]
                    audio = speak(text, (engine, name, speed), snr, Path(tmp), rng, speakers)
                    clips.append(Clip(f"{engine}:{name} {speed:g} {snr:g}dB", text, audio))
    finally:
        speakers.close()
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
    parser.add_argument("--snr-db", type=float, default=None,
                        help=f"speech to pink noise for every clip (default: {', '.join(f'{n:g}' for n in NOISE_DB)} "
                             "dB by take; inf: none)")
    parser.add_argument("--no-variants", action="store_true", help="plain accents: no +f2/+m3/... timbres")
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated (default {','.join(CONFIGS)})")
    args = parser.parse_args()
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    wall = time.perf_counter()

    synthetic = synthetic_clips(args.takes, args.snr_db, not args.no_variants)
    session = session_clips()
    recognizers: dict[str, WhisperAsr] = {}
    for config in configs:
        started = time.perf_counter()
        model, beam, window, prompt = parse_config(config)
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
        f"\n{len(synthetic)} clips ({len(QUESTIONS)} questions x {args.takes} of {len(voices)} voices in espeak-ng, "
        f"flite and Piper, pink noise at {args.snr_db if args.snr_db is not None else NOISE_DB} dB SNR) and the "
        f"bundled session's {len(session)} questions"
    )
    for name, text in PROMPTS.items():
        if any(c.endswith(f"+{name}") for c in configs):
            print(f"+{name}: {text!r}")
    width = max(len(c) for c in configs)
    print(f"{'config':<{width}} {'WER':>10} {'misheard':>9} {'session WER':>11} {'median decode s':>16}")
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
