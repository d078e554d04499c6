#!/usr/bin/env python3
"""Voice-to-voice latency with everything in the box: the bundled session replayed in real
time with the default recognizer, the offline describer, the local LLM (llama.cpp in
process) and Piper, on this CPU.

    .venv/bin/python benchmarks/latency_local.py [--runs 3] [--set asr.model=tiny.en]

The models load once and serve every run, as in a long session: the first turn of the
first run is the cold one (llama.cpp evaluates the whole prompt), every later turn finds
the stable part of the prompt in the KV cache. Prints, from one run of this script:

- true end of speech (session.json) → first reply audio, p50/p90, cold and warm turns;
- the breakdown (VAD end, ASR final, first token, first audio) and the LLM's own
  first-token time (compute), with how much of each prompt came from the cache;
- the same warm turns with no video (nothing described in the background, no look), so
  the cost of describing on two cores shows as a ratio measured in the same run;
- the first spoken piece of each warm turn (a short clause such as "Yes," may go alone);
- the process RSS, now and at peak.
"""

from __future__ import annotations

import argparse
import resource
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from latency import pct, replay_with  # noqa: E402  (benchmarks/latency.py, beside this file)

from assistant.models import Models, prepare_models  # noqa: E402
from kernel.events import Event, ReplyChunk, SessionStarted, TurnMetrics  # noqa: E402
from omnilive.settings import Settings, load_settings, parse_override  # noqa: E402

SESSION = ROOT / "examples" / "sessions" / "desk"


def settings_for(overrides: list[str], video: bool) -> Settings:
    extra = [] if video else ["input.session=null", f"input.audio={SESSION / 'audio.wav'}"]
    return load_settings(ROOT / "configs" / "demo.yaml",
                         [parse_override(o) for o in ["replay.speed=1", "dialogue.backend=local",
                                                       "dialogue.grounded=false",  # every turn asks the LLM
                                                       *extra, *overrides]])


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--set", dest="overrides", action="append", default=[])
    args = p.parse_args()
    with_video = settings_for(args.overrides, video=True)
    models = prepare_models(with_video, hearing=True, seeing=True)
    llm = models.llm
    cached: list[str] = []
    v2v: list[float] = []
    metrics: list[TurnMetrics] = []
    events: list[Event] = []
    for _ in range(args.runs):
        m, v = replay_with(with_video, models, events)
        metrics += m
        v2v += v
        cached.append(f"{getattr(llm, 'cached_tokens', 0)}/{getattr(llm, 'prompt_tokens', 0)}")
    audio_only = Models(vad=models.vad, asr=models.asr, describer=None, tts=models.tts, llm=models.llm)
    blind_v2v: list[float] = []
    for _ in range(args.runs):
        blind_v2v += replay_with(settings_for(args.overrides, video=False), audio_only)[1]

    cold, warm = v2v[:1], v2v[1:]
    s = with_video
    print(f"voice-to-voice with the local LLM ({s.dialogue.local.model}, {s.dialogue.local.threads} threads), "
          f"asr {s.asr.model} beam {s.asr.beam_size}, describer {s.describer.backend}, {len(v2v)} turns")
    print(f"  cold (first turn):  {cold[0]:.0f} ms" if cold else "  cold: -")
    print(f"  every turn (ms):    {', '.join(f'{v:.0f}' for v in v2v)}")
    print(f"  warm turns:         p50 {pct(warm, 50):.0f} ms, p90 {pct(warm, 90):.0f} ms "
          f"(true end of speech -> first reply audio)")
    print(f"  warm, no video:     p50 {pct(blind_v2v[1:], 50):.0f} ms, p90 {pct(blind_v2v[1:], 90):.0f} ms "
          f"(nothing described in the background, no look); ratio with video / without: "
          f"{pct(warm, 50) / pct(blind_v2v[1:], 50):.2f}")
    rows = [("VAD end of turn", "vad_end_ms"), ("ASR final", "asr_final_ms"),
            ("first token", "first_token_ms"), ("first audio", "first_audio_ms")]
    for label, key in rows:
        values = [getattr(t, key) for t in metrics[1:] if getattr(t, key) is not None]
        print(f"  {label:16s} p50 {pct(values, 50):6.0f} ms after the VAD's end of speech (warm)")
    first = [t.compute.get("llm_first_token_ms", 0.0) for t in metrics]
    print(f"  LLM first token (compute): cold {first[0]:.0f} ms, warm p50 {pct(first[1:], 50):.0f} ms, "
          f"p90 {pct(first[1:], 90):.0f} ms; cached/prompt tokens at the end of each run: {', '.join(cached)}")
    for key in ("asr_ms", "look_ms", "tts_ms"):
        values = [t.compute.get(key, 0.0) for t in metrics[1:]]
        print(f"  compute {key:10s} p50 {pct(values, 50):6.0f} ms")
    firsts: dict[int, str] = {}
    turn_base = 0
    for e in events:  # turn numbers restart with each run
        if isinstance(e, SessionStarted):
            turn_base = max(firsts, default=0)
        elif isinstance(e, ReplyChunk):
            firsts.setdefault(turn_base + e.turn, e.text)
    print("  first spoken pieces: " + " | ".join(repr(t) for t in list(firsts.values())[1:]))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  RSS now {rss_mb():.0f} MB, peak {peak:.0f} MB")


if __name__ == "__main__":
    main()
