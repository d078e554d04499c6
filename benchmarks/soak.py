#!/usr/bin/env python3
"""Soak: the kiosk replaying the bundled session in a loop, as fast as the models allow, for
``--minutes`` (default 10), with the MQTT link to a real Mosquitto (when installed) and an
operator's client reading everything it publishes. The resident memory (RSS) of the kiosk
process is sampled every few seconds; after ``--warmup`` minutes it may grow by at most
``--bound`` percent (default 10) — the median of the last minute against the median of the
first minute after warm-up. One run; prints the figures and PASS or FAIL.

With ``--fuzz`` (default on; ``--no-fuzz`` turns it off) a command fuzzer runs beside it, as a
hostile or broken client would: every ``--fuzz-every`` seconds it publishes a random command —
valid ones (``say`` of up to 500 characters, ``mute``/``unmute``, ``set_volume``, ``reset``,
``describe_now``), malformed JSON, 2 KB of nested brackets, oversized payloads, control characters,
unknown commands, retained commands, and now and then a flood of 200 at once. Never ``shutdown``.
At the end every command must be answered (a result on ``cmd/result``) or counted as dropped by the
kiosk (``commands_dropped``, ``commands_ignored`` for retained ones, ``results_dropped``), and the
process must not have crashed.

    .venv/bin/python benchmarks/soak.py [--minutes 20] [--warmup 2] [--bound 10] [--no-fuzz]
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.broker import Mosquitto, find_mosquitto  # noqa: E402


def anonymous_allowed() -> dict[str, bool]:
    """The test broker is anonymous: say so, where the kiosk requires it to be said."""
    from kiosk.settings import MqttSettings

    return {"allow_anonymous": True} if "allow_anonymous" in MqttSettings.model_fields else {}


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def operator(port: int, counts: dict[str, int], stop: threading.Event, last_metrics: dict[str, Any]) -> None:
    """An operator's dashboard: subscribes to everything the kiosk publishes and counts it."""
    import asyncio

    import aiomqtt

    async def run() -> None:
        async with aiomqtt.Client("127.0.0.1", port, identifier="soak-operator", max_queued_incoming_messages=0) \
                as client:
            await client.subscribe("omnilive/soak/#", qos=1)
            async for message in client.messages:
                leaf = str(message.topic).removeprefix("omnilive/soak/")
                counts[leaf] = counts.get(leaf, 0) + 1
                if leaf == "metrics":
                    last_metrics.clear()
                    last_metrics.update(json.loads(message.payload))
                if stop.is_set():
                    return

    try:
        asyncio.run(run())
    except Exception as exc:  # the benchmark reports it; the soak goes on
        if not stop.is_set():
            counts["operator_error"] = 1
            print(f"operator client ended: {exc}", file=sys.stderr)


def fuzz_payloads(rng: random.Random, n: int) -> list[tuple[bytes, bool]]:
    """``n`` command payloads for the fuzzer, each with whether to publish it retained."""
    out: list[tuple[bytes, bool]] = []
    for i in range(n):
        ident = f"f{rng.randrange(10**9)}-{i}"
        kind = rng.choice(["say", "say", "mute", "unmute", "volume", "reset", "describe", "bad_json", "nested",
                           "huge", "control", "unknown", "retained", "wrong_type"])
        cmd: object
        if kind == "say":
            cmd = {"id": ident, "cmd": "say", "text": " ".join(rng.choice(["the", "cup", "is", "blue", "and", "sign",
                                                                          "reads", "open"])
                                                               for _ in range(rng.randint(1, 80)))[:500]}
        elif kind in ("mute", "unmute", "reset"):
            cmd = {"id": ident, "cmd": kind}
        elif kind == "volume":
            cmd = {"id": ident, "cmd": "set_volume", "level": rng.choice([0.0, 0.5, 1.0, 7, -1, "loud"])}
        elif kind == "describe":
            cmd = {"id": ident, "cmd": "describe_now"}
        elif kind == "bad_json":
            out.append((b'{"id": "' + ident.encode() + b'", "cmd": "say", "text": ', False))
            continue
        elif kind == "nested":
            out.append((b"[" * 999 + b"]" * 999, False))
            continue
        elif kind == "huge":
            cmd = {"id": ident, "cmd": "say", "text": "a" * 6000}
        elif kind == "control":
            cmd = {"id": ident, "cmd": "say", "text": "hello\x00\x07there"}
        elif kind == "unknown":
            cmd = {"id": ident, "cmd": rng.choice(["reboot", "exec", "", "SAY"])}
        elif kind == "wrong_type":
            cmd = rng.choice([[1, 2, 3], "say", 42, None, {"id": ident}])
        else:  # retained: must be ignored, never run at the next start
            out.append((json.dumps({"id": ident, "cmd": "mute"}).encode(), True))
            continue
        out.append((json.dumps(cmd).encode(), False))
    return out


def fuzzer(port: int, every_s: float, sent: dict[str, int], stop: threading.Event) -> None:
    """Publishes fuzz commands until ``stop``; counts what it sent (``sent["total"]``, ``sent["retained"]``)."""
    import asyncio

    import aiomqtt

    rng = random.Random(7)

    async def run() -> None:
        async with aiomqtt.Client("127.0.0.1", port, identifier="soak-fuzzer") as client:
            while not stop.is_set():
                flood = rng.random() < 0.02
                for payload, retained in fuzz_payloads(rng, 200 if flood else 1):
                    await client.publish("omnilive/soak/cmd", payload, qos=1, retain=retained)
                    sent["total"] += 1
                    sent["retained"] += retained
                if retained:
                    await client.publish("omnilive/soak/cmd", b"", qos=1, retain=True)  # clears it
                await asyncio.sleep(every_s)  # a benchmark paced by the wall clock, not a test

    try:
        asyncio.run(run())
    except Exception as exc:
        if not stop.is_set():
            sent["fuzzer_error"] = 1
            print(f"fuzzer client ended: {exc}", file=sys.stderr)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--bound", type=float, default=10.0, help="allowed RSS growth after warm-up, percent")
    p.add_argument("--every", type=float, default=5.0, help="seconds between RSS samples")
    p.add_argument("--fuzz", action=argparse.BooleanOptionalAction, default=True, help="run the command fuzzer")
    p.add_argument("--fuzz-every", type=float, default=0.5, help="seconds between fuzz commands")
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
                "metrics_interval_s": 5, **anonymous_allowed()}},
        }
        (tmp / "kiosk.yaml").write_text(yaml.safe_dump(config))
        counts: dict[str, int] = {}
        last_metrics: dict[str, Any] = {}
        sent = {"total": 0, "retained": 0}
        done = threading.Event()
        if broker is not None:
            threading.Thread(target=operator, args=(broker.port, counts, done, last_metrics), daemon=True).start()
        with open(tmp / "kiosk.log", "w") as log:
            proc = subprocess.Popen([sys.executable, str(ROOT / "run_assistant.py"), "--config",
                                     str(tmp / "kiosk.yaml")], cwd=ROOT, stdout=log, stderr=log)
        samples: list[tuple[float, float]] = []
        started = time.monotonic()
        fuzzing = threading.Event()
        if broker is not None and args.fuzz:
            threading.Thread(target=fuzzer, args=(broker.port, args.fuzz_every, sent, fuzzing), daemon=True).start()
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
            fuzzing.set()
            time.sleep(args.every + 6)  # the last results and one more metrics message come in
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
    accounted_ok = True
    if sent["total"]:
        mqtt = last_metrics.get("mqtt", {})
        answered = counts.get("cmd/result", 0)
        dropped = sum(int(mqtt.get(k, 0)) for k in ("commands_dropped", "commands_ignored", "results_dropped"))
        accounted = answered + dropped
        accounted_ok = accounted >= sent["total"]
        print(f"  fuzzer: {sent['total']} commands sent ({sent['retained']} retained); {answered} results received, "
              f"{dropped} counted as dropped or ignored by the kiosk "
              f"({', '.join(f'{k} {v}' for k, v in sorted(mqtt.items()) if k.startswith(('commands', 'results')))}); "
              f"unaccounted: {max(0, sent['total'] - accounted)}")
    verdict = "PASS" if growth <= args.bound and rc == 0 and accounted_ok else "FAIL"
    print(f"{verdict}: RSS grew {growth:+.1f}% after warm-up (bound {args.bound:g}%)")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
