#!/usr/bin/env python3
"""Voice-to-voice latency and replay speed on the bundled session.

Runs the demo session once in real time (--speed 1) and once as fast as possible
(--speed 0), in this one process run, and prints per-turn latencies from the end
of speech (VAD end detection, final transcript, first token, first audio), the
model compute times, and the real-time factor of the fast replay.

    .venv/bin/python benchmarks/replay_latency.py [--runs N] [--set a.b=v ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def replay(out: Path, speed: float, overrides: list[str]) -> dict:  # type: ignore[type-arg]
    cmd = [sys.executable, str(ROOT / "run_assistant.py"), "--config", "configs/demo.yaml", "-q",
           "--speed", str(speed), "--out", str(out)]
    for o in overrides:
        cmd += ["--set", o]
    subprocess.run(cmd, cwd=ROOT, check=True)
    return json.loads((out / "metrics.json").read_text())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=1, help="real-time replays to pool")
    p.add_argument("--set", dest="overrides", action="append", default=[])
    args = p.parse_args()
    turns = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            turns += replay(Path(tmp) / f"rt{i}", 1, args.overrides)["turns"]
        fast = replay(Path(tmp) / "fast", 0, args.overrides)
    keys = ["vad_end_ms", "asr_final_ms", "first_token_ms", "first_audio_ms"]
    print(f"real time, {len(turns)} turns: median ms from the end of speech")
    for k in keys:
        values = [t[k] for t in turns if t[k] is not None]
        print(f"  {k:16s} {statistics.median(values):7.0f}  (min {min(values):.0f}, max {max(values):.0f})")
    for k in ("asr_ms", "llm_first_token_ms", "tts_ms"):
        values = [t["compute"].get(k, 0.0) for t in turns]
        print(f"  compute {k:18s} {statistics.median(values):7.0f}")
    end = fast["session_end"]
    wall = fast.get("pipeline_seconds")
    print(f"fast replay: {end['media_seconds']:.1f} s of media" + (f" in {wall:.1f} s" if wall else ""))
    first_audio = statistics.median(t["first_audio_ms"] for t in turns)
    vad = statistics.median(t["vad_end_ms"] for t in turns)
    print(f"share of the wait spent on the VAD's silence: {vad / first_audio:.2f}")


if __name__ == "__main__":
    main()
