#!/usr/bin/env python3
"""Soak: the kiosk replaying the bundled session in a loop, as fast as the models allow, for
``--minutes`` (default 10), with the MQTT link to a real Mosquitto (when installed) and an
operator's client reading everything it publishes. The resident memory (RSS) of the kiosk
process is sampled every few seconds; after ``--warmup`` minutes it may grow by at most
``--bound`` percent (default 10) — the median of the last minute against the median of the
first minute after warm-up. One run; prints the figures and PASS or FAIL.

    .venv/bin/python benchmarks/soak.py [--minutes 10] [--warmup 2] [--bound 10]
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.broker import Mosquitto, find_mosquitto  # noqa: E402


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def operator(port: int, counts: dict[str, int], stop: threading.Event) -> None:
    """An operator's dashboard: subscribes to everything the kiosk publishes and counts it."""
    import asyncio

    import aiomqtt

    async def run() -> None:
        async with aiomqtt.Client("127.0.0.1", port, identifier="soak-operator") as client:
            await client.subscribe("omnilive/soak/#", qos=1)
            async for message in client.messages:
                leaf = str(message.topic).removeprefix("omnilive/soak/")
                counts[leaf] = counts.get(leaf, 0) + 1
                if stop.is_set():
                    return

    try:
        asyncio.run(run())
    except Exception as exc:  # the benchmark reports it; the soak goes on
        if not stop.is_set():
            counts["operator_error"] = 1
            print(f"operator client ended: {exc}", file=sys.stderr)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--bound", type=float, default=10.0, help="allowed RSS growth after warm-up, percent")
    p.add_argument("--every", type=float, default=5.0, help="seconds between RSS samples")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        broker = Mosquitto(tmp) if find_mosquitto() else None
        if broker is not None:
            broker.start()
        config = {
            "mode": "replay",
            "log_level": "WARNING",
            "input": {"session": str(ROOT / "examples" / "sessions" / "desk")},
            "replay": {"speed": 0, "loops": 0},
            "output": {"dir": str(tmp / "runs")},
            "kiosk": {"enabled": True, "mqtt": {
                "enabled": broker is not None, "port": broker.port if broker else 1883, "kiosk_id": "soak",
                "metrics_interval_s": 5}},
        }
        (tmp / "kiosk.yaml").write_text(yaml.safe_dump(config))
        counts: dict[str, int] = {}
        done = threading.Event()
        if broker is not None:
            threading.Thread(target=operator, args=(broker.port, counts, done), daemon=True).start()
        with open(tmp / "kiosk.log", "w") as log:
            proc = subprocess.Popen([sys.executable, str(ROOT / "run_assistant.py"), "--config",
                                     str(tmp / "kiosk.yaml")], cwd=ROOT, stdout=log, stderr=log)
        samples: list[tuple[float, float]] = []
        started = time.monotonic()
        try:
            while (elapsed := time.monotonic() - started) < args.minutes * 60:
                if proc.poll() is not None:
                    print(f"the kiosk exited early ({proc.returncode}):\n{(tmp / 'kiosk.log').read_text()[-2000:]}")
                    return 2
                rss = rss_mb(proc.pid)
                if rss is not None:
                    samples.append((elapsed, rss))
                time.sleep(args.every)  # a benchmark paced by the wall clock, not a test
        finally:
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=60)
            done.set()
            time.sleep(0.5)  # let the operator see the offline status before the broker goes
            if broker is not None:
                broker.kill()
        (run,) = (tmp / "runs").iterdir()
        events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    turns = sum(e["type"] == "reply_text" for e in events)
    media = max(e["t"] for e in events)
    restarts = sum(e["type"] == "stage_restart" for e in events)
    warm = args.warmup * 60
    first = [r for t, r in samples if warm <= t < warm + 60]
    last = [r for t, r in samples if t >= samples[-1][0] - 60]
    base, end = statistics.median(first), statistics.median(last)
    growth = (end - base) / base * 100
    print(f"soak: {args.minutes:g} min, {media / 60:.1f} min of media looped, {turns} replies, "
          f"{len(events)} events, {restarts} stage restarts, exit {rc}")
    if counts:
        print(f"  MQTT messages the operator received: {dict(sorted(counts.items()))}")
    print(f"  RSS: {samples[0][1]:.0f} MB at start, {base:.0f} MB after {args.warmup:g} min warm-up, "
          f"{end:.0f} MB in the last minute (peak {max(r for _, r in samples):.0f} MB)")
    verdict = "PASS" if growth <= args.bound and rc == 0 else "FAIL"
    print(f"{verdict}: RSS grew {growth:+.1f}% after warm-up (bound {args.bound:g}%)")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
