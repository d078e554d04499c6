"""The headless kiosk end to end: ``run_assistant.py`` with ``kiosk.enabled``, a looped replay of
the bundled session (as fast as the models allow) standing in for the devices, and a real
Mosquitto broker. An operator's client watches status, events and metrics and sends every command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import yaml

from .broker import Mosquitto, Watcher, find_mosquitto, free_port
from .conftest import ROOT, SESSION, read_events, run_cli

pytestmark = pytest.mark.skipif(find_mosquitto() is None, reason="needs mosquitto (make system installs it)")

BASE = "omnilive/test-kiosk"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with Mosquitto(tmp_path) as running:
        yield running


def kiosk_config(tmp_path: Path, port: int, **kiosk: Any) -> Path:
    config = {
        "mode": "replay",
        "log_level": "INFO",
        "input": {"session": str(SESSION)},
        "replay": {"speed": 0, "loops": 0},
        "output": {"dir": str(tmp_path / "runs")},
        "kiosk": {
            "enabled": True,
            "mqtt": {"enabled": True, "port": port, "kiosk_id": "test-kiosk", "metrics_interval_s": 0.5,
                     "reconnect_initial_s": 0.2, "allow_anonymous": True},  # the test broker lets anyone in
            **kiosk,
        },
    }
    path = tmp_path / "kiosk.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start(config: Path) -> subprocess.Popen[str]:
    """The kiosk as a service manager starts it; its logs go to ``<config folder>/kiosk.log``
    (a file, not a pipe nobody reads while the test runs)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    with open(config.parent / "kiosk.log", "a", encoding="utf-8") as log:
        return subprocess.Popen([sys.executable, str(ROOT / "run_assistant.py"), "--config", str(config)],
                                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, text=True)


async def wait_for(watcher: Watcher, leaf: str, match: Any, timeout_s: float = 60.0) -> list[dict[str, Any]]:
    """Messages on ``leaf`` up to and including the first for which ``match(data)`` holds."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"nothing matched on {leaf} within {timeout_s} s; last: {seen[-3:]}")
        data = (await watcher.get(leaf, left)).data
        seen.append(data)
        if match(data):
            return seen


async def command(watcher: Watcher, **cmd: Any) -> dict[str, Any]:
    await watcher.send("cmd", json.dumps(cmd).encode())
    results = await wait_for(watcher, "cmd/result", lambda r: r.get("id") == cmd.get("id"), 30)
    return results[-1]


def rms(path: Path) -> float:
    audio, _ = sf.read(path, dtype="float32")
    return float(np.sqrt(np.mean(np.square(audio))))


async def test_kiosk_over_mqtt_status_events_metrics_and_every_command(tmp_path: Path, broker: Mosquitto) -> None:
    async with Watcher(broker, BASE) as watcher:
        proc = start(kiosk_config(tmp_path, broker.port))
        try:
            await wait_for(watcher, "status", lambda s: s["online"] and s["state"] == "idle")
            flow = await wait_for(watcher, "events", lambda e: e["type"] == "reply_text")
            assert {"session_start", "transcript"} <= {e["type"] for e in flow}
            metrics = await wait_for(watcher, "metrics", lambda m: m["turns"] >= 1)
            assert {"media_s", "first_audio", "restarts", "dropped", "rss_mb", "mqtt"} <= set(metrics[-1])

            said = await command(watcher, id="s1", cmd="say", text="Welcome to the museum.")
            assert said["ok"] and said["cmd"] == "say"
            await wait_for(watcher, "events", lambda e: e["type"] == "reply_text" and e["turn"] == said["turn"]
                           and e["text"] == "Welcome to the museum." and e["question"] == "")
            volume = await command(watcher, id="v1", cmd="set_volume", level=0.5)
            assert volume == {"id": "v1", "ok": True, "cmd": "set_volume", "volume": 0.5}
            quieter = await command(watcher, id="s2", cmd="say", text="Welcome to the museum.")
            await wait_for(watcher, "events", lambda e: e["type"] == "reply_text" and e["turn"] == quieter["turn"])

            cleared = await command(watcher, id="r1", cmd="reset")
            assert cleared["ok"] and cleared["cleared"] >= 1
            look = await command(watcher, id="d1", cmd="describe_now")
            assert look["ok"] and look["text"]
            await wait_for(watcher, "events", lambda e: e["type"] == "scene" and e["backend"] == "basic:now")

            cat = await command(watcher, id="w1", cmd="watch", request="a cat")  # only the thing
            assert cat["ok"] and cat["watch"]["name"] == "cat" and cat["said"] == "I'll tell you when I see a cat."
            listed = await command(watcher, id="w2", cmd="watches")
            assert [w["id"] for w in listed["watches"]] == [cat["watch"]["id"]]
            unwatched = await command(watcher, id="w3", cmd="unwatch", name="cat")
            assert unwatched["cleared"] == [cat["watch"]["id"]]
            nonsense = await command(watcher, id="w4", cmd="watch", request="What time is it?")
            assert not nonsense["ok"] and "can't watch for it" in nonsense["error"], nonsense
            sign = await command(watcher, id="w5", cmd="watch", request="Tell me when the sign says OPEN.")
            assert sign["ok"] and sign["watch"]["kind"] == "text" and "OPEN" in sign["said"], sign
            fired = await wait_for(watcher, "events", lambda e: e["type"] == "watch_fired")  # the loop's next sign
            assert fired[-1]["watch"] == sign["watch"]["id"] and "OPEN" in fired[-1]["said"]
            await wait_for(watcher, "events", lambda e: e["type"] == "reply_text" and e["text"] == fired[-1]["said"])
            assert (await command(watcher, id="w6", cmd="watches"))["watches"] == []  # it fired once: done

            muted = await command(watcher, id="m1", cmd="mute")
            assert muted["ok"]
            await wait_for(watcher, "status", lambda s: s["state"] == "muted")
            refused = await command(watcher, id="s3", cmd="say", text="Hello?")
            assert not refused["ok"] and "muted" in refused["error"]
            at_mute = (await watcher.get("metrics", 10)).data["media_s"]
            during = await wait_for(watcher, "events", lambda e: e["t"] > at_mute + 35)  # a whole loop and more
            assert not [e for e in during if e["type"] == "transcript" and e["t"] > at_mute + 1]
            assert (await command(watcher, id="u1", cmd="unmute"))["ok"]
            await wait_for(watcher, "events", lambda e: e["type"] == "transcript")  # listening again

            bad = await command(watcher, id="x1", cmd="explode")
            assert not bad["ok"] and bad["id"] == "x1"
            stopping = await command(watcher, id="q1", cmd="shutdown")
            assert stopping["ok"]
            assert proc.wait(timeout=60) == 0
            await wait_for(watcher, "status", lambda s: not s["online"] and s["state"] == "stopped", 10)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
    lines = (tmp_path / "kiosk.log").read_text().splitlines()
    logs = [json.loads(line) for line in lines if line.strip()]  # every line is JSON
    assert {"heard", "said", "ready", "stopped"} <= {entry["message"] for entry in logs}
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in logs)
    (run,) = (tmp_path / "runs").iterdir()
    events = read_events(run)
    assert events[-1]["type"] == "session_end" and events[-1]["reason"] == "stopped"
    replies = run / "replies"
    ratio = rms(replies / f"turn-{quieter['turn']:02d}.wav") / rms(replies / f"turn-{said['turn']:02d}.wav")
    assert 0.35 < ratio < 0.65, ratio  # set_volume 0.5


async def test_sigterm_stops_the_kiosk_cleanly_and_the_will_covers_a_crash(tmp_path: Path, broker: Mosquitto) -> None:
    async with Watcher(broker, BASE) as watcher:
        proc = start(kiosk_config(tmp_path, broker.port))
        try:
            await wait_for(watcher, "status", lambda s: s["online"] and s["state"] == "idle")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
            await wait_for(watcher, "status", lambda s: s["state"] == "stopped", 10)
            proc = start(kiosk_config(tmp_path, broker.port))
            await wait_for(watcher, "status", lambda s: s["online"] and s["state"] == "idle")
            proc.kill()  # a crash: the broker publishes the last will
            proc.wait(timeout=10)
            will = await wait_for(watcher, "status", lambda s: not s["online"], 30)
            assert will[-1]["reason"] == "connection lost"
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)


def test_check_prints_a_table_and_fails_on_an_unreachable_broker(tmp_path: Path, broker: Mosquitto) -> None:
    ok = run_cli("--config", str(kiosk_config(tmp_path, broker.port)), "--check")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    for row in ("config", "inputs", "models", "broker"):
        assert row in ok.stdout
    assert "FAIL" not in ok.stdout
    down = run_cli("--config", str(kiosk_config(tmp_path, free_port())), "--check")
    assert down.returncode == 2
    assert "FAIL" in down.stdout and "broker" in down.stdout and "Traceback" not in down.stdout + down.stderr


def test_an_invalid_kiosk_config_is_one_line(tmp_path: Path) -> None:
    config = kiosk_config(tmp_path, 1883)
    data = yaml.safe_load(config.read_text())
    data["kiosk"]["mqtt"]["password_env"] = "hunter2 is my password"
    config.write_text(yaml.safe_dump(data))
    done = run_cli("--config", str(config))
    assert done.returncode == 2 and "kiosk.mqtt" in done.stderr and "hunter2" not in done.stderr
    assert done.stderr.strip().count("\n") == 0


def test_kiosk_secret_and_tls_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    from omnilive.settings import load_settings

    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "kiosk.yaml").write_text(yaml.safe_dump({"kiosk": {"mqtt": {
        "username": "kiosk", "password_file": "mqtt.password",
        "tls": {"enabled": True, "ca_file": "ca.crt", "certfile": "/abs/kiosk.crt"}}}}))
    mqtt = load_settings(folder / "kiosk.yaml").kiosk.mqtt
    assert mqtt.password_file == folder / "mqtt.password"
    assert mqtt.tls.ca_file == folder / "ca.crt" and mqtt.tls.certfile == Path("/abs/kiosk.crt")


def test_kiosk_state_follows_the_conversation() -> None:
    from kernel.events import ReplyAudioStarted, ReplyText, SpeechStarted, Transcribed
    from kiosk.runtime import KioskState

    state = KioskState()
    shown: list[str] = []
    state.listeners.append(shown.append)
    state.ready()
    state(SpeechStarted(t=1.0, utterance=1, speech_start_at=0.8))
    state(Transcribed(t=2.0, utterance=1, text="", final=True, compute_ms=1.0))  # no words: no turn
    state(SpeechStarted(t=3.0, utterance=2, speech_start_at=2.8))
    state(Transcribed(t=4.0, utterance=2, text="Hello there", final=True, compute_ms=1.0))
    state(ReplyAudioStarted(t=4.5, turn=1))
    state.set_muted(True)
    state(ReplyText(t=5.0, turn=1, utterance=2, text="Hi.", question="Hello there", interrupted=True))
    state.set_muted(False)
    assert shown == ["idle", "listening", "idle", "listening", "thinking", "speaking", "muted", "idle"]
    assert state.last_activity == 4.5
