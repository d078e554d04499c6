#!/usr/bin/env python3
"""Standing watches: how soon the alert is heard, how often one comes for nothing, how many are missed.

    .venv/bin/python benchmarks/watch.py [--quiet-minutes 10] [--fresh] [--set tuning|unseen]

The sessions of scripts/make_watch_sessions.py (made once into runs/watch/): in those where the thing
asked about appears, each replayed in real time (``--speed 1``, so the describer's and the voice's
compute count), the time from the first frame that shows it to the first audio of the alert, p50
and p90, and the alerts missed; in those where nothing asked for appears, made ``--quiet-minutes``
long and replayed as fast as the models allow (every sampled frame is still described), the alerts
that came anyway, per hour. ``--set unseen``: sessions the watches were not made on (other photos,
voices, wordings), in runs/watch-unseen/. The request is spoken and heard like any question; the LLM is not asked
(the offline responder stands in: no question of these sessions is for it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.make_watch_sessions import SETS, Speakers, make  # noqa: E402

RUNS = ROOT / "runs"


def replay(folder: Path, speed: float, language: str) -> list[dict[str, Any]]:
    out = folder.parent / f"{folder.name}-out-{speed:g}"
    shutil.rmtree(out, ignore_errors=True)  # the previous run's
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run_assistant.py"), "--session", str(folder), "--speed", f"{speed:g}", "--out",
         str(out), "-q", "--set", "dialogue.backend=offline", "--set", f"language={language}"],
        cwd=ROOT, capture_output=True, text=True, timeout=7200)
    if proc.returncode != 0:
        raise SystemExit(f"replaying {folder} failed: {proc.stderr[-500:]}")
    return [json.loads(line) for line in (out / "events.jsonl").read_text(encoding="utf-8").splitlines() if line]


def alert_audio(events: list[dict[str, Any]]) -> list[float]:
    """The media time of each alert's first audio (the turns that no question started)."""
    alert_turns = {e["turn"] for e in events if e["type"] == "reply_text" and not e["question"]}
    return [e["t"] for e in events if e["type"] == "reply_audio_start" and e["turn"] in alert_turns]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--quiet-minutes", type=float, default=10.0, help="length of each session where nothing appears")
    p.add_argument("--fresh", action="store_true", help="make the sessions again")
    p.add_argument("--set", choices=sorted(SETS), default="tuning", help="tuning (the tests' sessions) or unseen")
    args = p.parse_args()
    chosen = SETS[args.set](args.quiet_minutes)
    folder = RUNS / ("watch" if args.set == "tuning" else f"watch-{args.set}")
    speakers = Speakers()
    try:
        for session in chosen:
            manifest = folder / session.name / "session.json"
            made = json.loads(manifest.read_text(encoding="utf-8")) if manifest.is_file() else {}
            if args.fresh or made.get("seconds") != session.seconds:
                make(folder / session.name, session, speakers)
    finally:
        speakers.close()

    delays: list[float] = []
    missed = extra = 0
    started = time.perf_counter()
    for session in (s for s in chosen if s.shown):
        events = replay(folder / session.name, 1.0, session.language)
        heard = alert_audio(events)
        for start, end in session.shown:
            after = [t for t in heard if start <= t <= end + 4.0]
            if after:
                delays.append(after[0] - start)
                heard.remove(after[0])
            else:
                missed += 1
        extra += len(heard)
        print(f"{session.name}: alerts at {[round(t, 2) for t in alert_audio(events)]} (shown {session.shown})")
    quiet_s = 0.0
    false_alarms = 0
    for session in (s for s in chosen if not s.shown):
        events = replay(folder / session.name, 0.0, session.language)
        quiet_s += session.seconds
        found = alert_audio(events)
        false_alarms += len(found)
        print(f"{session.name} ({session.seconds / 60:.1f} min): {len(found)} alerts")
    delays.sort()
    p50 = statistics.median(delays) if delays else float("nan")
    p90 = delays[min(len(delays) - 1, int(0.9 * len(delays)))] if delays else float("nan")
    print(f"\nalert after the first frame that shows it: p50 {p50:.2f} s, p90 {p90:.2f} s over {len(delays)} "
          f"appearances (real time); missed {missed}; alerts at other times {extra}")
    print(f"false alarms: {false_alarms} in {quiet_s / 60:.0f} min where nothing asked for appears "
          f"({false_alarms / (quiet_s / 3600):.1f} an hour); {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
