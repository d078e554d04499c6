"""The kiosk's MQTT link against a real Mosquitto broker (the Debian package), started by the tests.

Nothing here sleeps to time a result: each test awaits the messages it expects
(with a timeout), or polls a condition on the link.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from kernel.clock import FakeClock
from kernel.errors import ConfigError
from kernel.eventlog import EventBus
from kernel.events import (
    BargeIn,
    DeviceStatus,
    ErrorOccurred,
    Event,
    ReplyChunk,
    ReplyText,
    SceneDescribed,
    SessionEnded,
    SessionStarted,
    SpeechStarted,
    Transcribed,
    TurnMetrics,
    to_record,
)
from kiosk.commands import MAX_PAYLOAD, CommandRejected, parse_command
from kiosk.mqtt import MqttLink, check_broker
from kiosk.settings import DEFAULT_EVENTS, KioskSettings, MqttSettings, read_password
from omnilive.settings import Settings, load_settings

from .broker import Mosquitto, Watcher, find_mosquitto, make_certificates

pytestmark = pytest.mark.skipif(find_mosquitto() is None, reason="mosquitto not installed (make system)")

ROOT = Path(__file__).resolve().parents[1]
KIOSK_PASSWORD = "kiosk-pw-4b1d"
WATCHER_PASSWORD = "watcher-pw-77c2"
USERS = {"kiosk": KIOSK_PASSWORD, "watcher": WATCHER_PASSWORD}


# --- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with Mosquitto(tmp_path) as running:
        yield running


@pytest.fixture
def auth_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with Mosquitto(tmp_path, users=USERS) as running:
        yield running


def mqtt_settings(broker: Mosquitto, **overrides: Any) -> MqttSettings:
    values: dict[str, Any] = {
        "enabled": True,
        "host": broker.host,
        "port": broker.port,
        "kiosk_id": "k1",
        "reconnect_initial_s": 0.05,
        "reconnect_max_s": 0.2,
        "metrics_interval_s": 3600,
        "timeout_s": 3,
        "allow_anonymous": True,  # most test brokers let anyone in: said explicitly, as the kiosk requires
    }
    values.update(overrides)
    return MqttSettings.model_validate(values)


def watcher(broker: Mosquitto, settings: MqttSettings) -> Watcher:
    credentials = {"username": "watcher", "password": WATCHER_PASSWORD} if broker.users else {}
    return Watcher(broker, f"{settings.prefix}/{settings.kiosk_id}", **credentials)


@asynccontextmanager
async def running(link: MqttLink) -> AsyncIterator[tuple[asyncio.Event, asyncio.Task[None]]]:
    """Run the link; on the way out, stop it and check that ``run`` returned without raising."""
    stop = asyncio.Event()
    task = asyncio.create_task(link.run(stop), name="link-under-test")
    try:
        yield stop, task
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def until(link: MqttLink, condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Waits for a condition on the link, woken each time its connection or a counter moves."""
    await link.wait_until(condition, timeout_s)


async def online(w: Watcher) -> dict[str, Any]:
    """The next status message, which must say online."""
    status = (await w.get("status")).data
    assert status["online"] is True, status
    return status  # type: ignore[no-any-return]


class RecordingController:
    """A controller that records each call; ``fail`` names a method that raises, ``hang`` one that never returns."""

    def __init__(self, *, fail: str | None = None, hang: str | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail = fail
        self.hang = hang
        self.on_shutdown: Callable[[], None] | None = None

    async def _call(self, name: str, *args: Any) -> dict[str, Any] | None:
        self.calls.append((name, *args))
        if name == self.fail:
            raise RuntimeError(f"{name} is broken\nsecond line that must not reach the result")
        if name == self.hang:
            await asyncio.Event().wait()
        if name == "shutdown" and self.on_shutdown is not None:
            self.on_shutdown()
        return {"echo": list(args)} if args else None

    async def say(self, text: str) -> dict[str, Any] | None:
        return await self._call("say", text)

    async def mute(self) -> dict[str, Any] | None:
        return await self._call("mute")

    async def unmute(self) -> dict[str, Any] | None:
        return await self._call("unmute")

    async def reset(self) -> dict[str, Any] | None:
        return await self._call("reset")

    async def describe_now(self) -> dict[str, Any] | None:
        return await self._call("describe_now")

    async def set_volume(self, level: float) -> dict[str, Any] | None:
        return await self._call("set_volume", level)

    async def shutdown(self) -> dict[str, Any] | None:
        return await self._call("shutdown")

    async def watch(self, request: str) -> dict[str, Any] | None:
        return await self._call("watch", request)

    async def watches(self) -> dict[str, Any] | None:
        return await self._call("watches")

    async def unwatch(self, name: str) -> dict[str, Any] | None:
        return await self._call("unwatch", name)


# --- settings ---------------------------------------------------------------------------------


def test_settings_defaults_and_root_section() -> None:
    settings = Settings()
    assert isinstance(settings.kiosk, KioskSettings)
    mqtt = settings.kiosk.mqtt
    assert (mqtt.enabled, mqtt.host, mqtt.port, mqtt.prefix, mqtt.qos, mqtt.buffer) == (
        False,
        "127.0.0.1",
        1883,
        "omnilive",
        1,
        1000,
    )
    assert mqtt.kiosk_id  # the hostname
    assert (mqtt.client_id, mqtt.mqtt5, mqtt.reconnect_max_s, mqtt.command_rate, mqtt.command_burst) == (
        None,
        True,
        10.0,
        5.0,
        10,
    )
    assert (mqtt.username, mqtt.allow_anonymous) == (None, False)  # credentials required unless said otherwise
    assert "transcript" in mqtt.events and "reply_chunk" not in mqtt.events
    dumped = settings.model_dump(mode="json")
    assert dumped["kiosk"]["mqtt"]["events"] == sorted(DEFAULT_EVENTS)  # a stable order in events.jsonl
    assert Settings.model_validate(dumped) == settings  # the event log's copy loads back


def test_settings_load_from_yaml_and_reject_mistakes(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.yaml"
    config.write_text(
        "kiosk:\n  mqtt:\n    enabled: true\n    kiosk_id: lobby-1\n    username: kiosk\n"
        "    password_env: KIOSK_MQTT_PASSWORD\n    events: [error, scene]\n"
    )
    mqtt = load_settings(config).kiosk.mqtt
    assert (mqtt.enabled, mqtt.kiosk_id, mqtt.password_env, mqtt.events) == (
        True,
        "lobby-1",
        "KIOSK_MQTT_PASSWORD",
        frozenset({"error", "scene"}),
    )
    with pytest.raises(ConfigError, match=r"kiosk\.mqtt\.colour: unknown field"):
        load_settings(None, [("kiosk.mqtt.colour", "red")])
    with pytest.raises(ConfigError, match="unknown event type 'sceen'"):
        load_settings(None, [("kiosk.mqtt.events", ["sceen"])])
    with pytest.raises(ConfigError, match="kiosk_id"):
        load_settings(None, [("kiosk.mqtt.kiosk_id", "a/b")])
    # A password pasted where the variable's name belongs is refused without being echoed.
    with pytest.raises(ConfigError) as refused:
        load_settings(None, [("kiosk.mqtt.username", "kiosk"), ("kiosk.mqtt.password_env", "hunter2 !")])
    assert "hunter2" not in str(refused.value)
    for bad in (
        {"password_env": "PW"},
        {"username": "u", "password_env": "PW", "password_file": "/x"},
        {"reconnect_initial_s": 5, "reconnect_max_s": 1},
        {"tls": {"keyfile": "/k.pem"}},
    ):
        with pytest.raises(ValidationError):
            MqttSettings.model_validate(bad)


def test_password_comes_from_env_or_file_and_never_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIOSK_TEST_PW", "from-the-env")
    from_env = MqttSettings(username="kiosk", password_env="KIOSK_TEST_PW")
    assert read_password(from_env) == "from-the-env"
    assert "from-the-env" not in repr(from_env) + from_env.model_dump_json()
    secret = tmp_path / "pw"
    secret.write_text("from-the-file\n")
    assert read_password(MqttSettings(username="kiosk", password_file=secret)) == "from-the-file"
    assert read_password(MqttSettings()) is None
    monkeypatch.delenv("KIOSK_TEST_PW")
    with pytest.raises(ConfigError, match="KIOSK_TEST_PW is not set"):
        read_password(from_env)
    with pytest.raises(ConfigError, match="No such file"):
        read_password(MqttSettings(username="kiosk", password_file=tmp_path / "missing"))


# --- the command schema -----------------------------------------------------------------------


def test_parse_command_accepts_each_command() -> None:
    say = parse_command(b'{"id": "a1", "cmd": "say", "text": " Welcome! "}')
    assert (say.cmd, say.id, say.text) == ("say", "a1", "Welcome!")  # type: ignore[union-attr]
    volume = parse_command(b'{"id": "a2", "cmd": "set_volume", "level": 1}')
    assert volume.level == 1.0  # type: ignore[union-attr]
    for name in ("mute", "unmute", "reset", "describe_now", "shutdown"):
        assert parse_command(json.dumps({"id": "x", "cmd": name}).encode()).cmd == name


def _fuzz_payloads() -> list[tuple[bytes, str | None]]:
    """Malformed commands, each with the id its error result must carry (None: unreadable)."""
    rng = random.Random(6)
    cases: list[tuple[bytes, str | None]] = [
        (b"", None),
        (b"{", None),
        (b"not json", None),
        (b'{"id": "f1", "cmd": "mute",}', None),
        (b'{"id": "f1", "cmd": "mute"} trailing', None),
        (b"[]", None),
        (b'[{"id": "f2", "cmd": "mute"}]', None),
        (b'"mute"', None),
        (b"42", None),
        (b"null", None),
        (b"true", None),
        (b"{}", None),
        (b'{"cmd": "mute"}', None),
        (b'{"id": "", "cmd": "mute"}', None),
        (b'{"id": 7, "cmd": "mute"}', None),
        (json.dumps({"id": "x" * 65, "cmd": "mute"}).encode(), None),
        (b'{"id": "f3"}', "f3"),
        (b'{"id": "f4", "cmd": "dance"}', "f4"),
        (b'{"id": "f5", "cmd": "MUTE"}', "f5"),
        (b'{"id": "f6", "cmd": 1}', "f6"),
        (b'{"id": "f7", "cmd": null}', "f7"),
        (b'{"id": "f8", "cmd": "mute", "force": true}', "f8"),
        (b'{"id": "f9", "cmd": "say"}', "f9"),
        (b'{"id": "f10", "cmd": "say", "text": ""}', "f10"),
        (b'{"id": "f11", "cmd": "say", "text": "   "}', "f11"),
        (b'{"id": "f12", "cmd": "say", "text": 5}', "f12"),
        (b'{"id": "f13", "cmd": "say", "text": ["hi"]}', "f13"),
        (json.dumps({"id": "f14", "cmd": "say", "text": "x" * 501}).encode(), "f14"),
        (b'{"id": "f15", "cmd": "set_volume"}', "f15"),
        (b'{"id": "f16", "cmd": "set_volume", "level": "0.5"}', "f16"),
        (b'{"id": "f17", "cmd": "set_volume", "level": 1.5}', "f17"),
        (b'{"id": "f18", "cmd": "set_volume", "level": -0.1}', "f18"),
        (b'{"id": "f19", "cmd": "set_volume", "level": true}', "f19"),
        (b'{"id": "f20", "cmd": "set_volume", "level": NaN}', "f20"),
        (b'{"id": "f21", "cmd": "set_volume", "level": Infinity}', "f21"),
        (b'{"id": "f22", "cmd": "set_volume", "level": null}', "f22"),
        (b'{"id": "f23", "cmd": "reset", "text": "extra"}', "f23"),
        (json.dumps({"id": "f24", "cmd": "say", "text": "x" * MAX_PAYLOAD}).encode(), None),  # over 4 KiB
        (b"\xff\xfe\x00garbage", None),
        (b'{"id": "f25", "cmd": "say", "text": "caf\xe9"}', None),  # Latin-1, not UTF-8
        (bytes(rng.randrange(256) for _ in range(64)), None),
        (bytes(rng.randrange(256) for _ in range(4097)), None),
        ('{"id": "f26", "cmd": "say", "text": "\ud800"}'.encode("utf-8", "surrogatepass"), None),
    ]
    return cases


def test_parse_command_rejects_the_fuzz_set_with_one_line() -> None:
    for payload, command_id in _fuzz_payloads():
        with pytest.raises(CommandRejected) as rejected:
            parse_command(payload)
        assert rejected.value.command_id == command_id, payload[:60]
        assert rejected.value.message and "\n" not in rejected.value.message, payload[:60]
    with pytest.raises(CommandRejected, match="unknown cmd 'dance'"):
        parse_command(b'{"id": "a", "cmd": "dance"}')
    with pytest.raises(CommandRejected, match="missing field 'text'"):
        parse_command(b'{"id": "a", "cmd": "say"}')
    with pytest.raises(CommandRejected, match="over the limit of 4096"):
        parse_command(b" " * 4097)


# --- the link against a broker ----------------------------------------------------------------


async def test_status_is_retained_follows_the_state_and_goes_offline_on_stop(broker: Mosquitto) -> None:
    settings = mqtt_settings(broker)
    link = MqttLink(settings)
    async with watcher(broker, settings) as w:
        async with running(link) as (stop, task):
            status = await online(w)
            assert status["state"] == "starting" and status["kiosk_id"] == "k1"
            assert {"omnilive", "python", "aiomqtt", "paho-mqtt"} <= status["versions"].keys()
            assert isinstance(status["uptime_s"], float)
            link.set_state("listening")
            assert (await online(w))["state"] == "listening"
            # A dashboard that connects later gets the current status at once, retained.
            async with watcher(broker, settings) as late:
                first = await late.get("status")
                assert first.retain and first.data["online"] and first.data["state"] == "listening"
            stop.set()
            await asyncio.wait_for(task, 10)
        offline = (await w.get("status")).data
        assert (offline["online"], offline["state"], offline["reason"]) == (False, "stopped", "shutdown")
    # A clean stop is not a death: the retained status is the stop's, not the last will's.
    async with watcher(broker, settings) as late:
        retained = await late.get("status")
        assert retained.retain and retained.data["state"] == "stopped"


CHILD = """
import asyncio, sys
from kiosk.mqtt import MqttLink
from kiosk.settings import MqttSettings
asyncio.run(MqttLink(MqttSettings.model_validate_json(sys.argv[1])).run(asyncio.Event()))
"""


async def test_last_will_says_offline_when_the_kiosk_process_is_killed(broker: Mosquitto) -> None:
    settings = mqtt_settings(broker, kiosk_id="k-child")
    async with watcher(broker, settings) as w:
        child = await asyncio.create_subprocess_exec(sys.executable, "-c", CHILD, settings.model_dump_json(), cwd=ROOT)
        try:
            status = (await w.get("status", timeout_s=15)).data
            assert status["online"] is True
            child.send_signal(signal.SIGKILL)  # no DISCONNECT, no offline status: only the broker can tell
        finally:
            if child.returncode is None:
                child.kill()
            await child.wait()
        will = (await w.get("status")).data
        assert (will["online"], will["state"], will["reason"]) == (False, "offline", "connection lost")
    async with watcher(broker, settings) as late:
        retained = await late.get("status")
        assert retained.retain and retained.data["online"] is False and retained.data["reason"] == "connection lost"


def _session_events() -> tuple[list[Event], list[Event]]:
    """Events of a short session, and those of them the link publishes by default."""
    sent: list[Event] = [
        SessionStarted(t=0.0, source="live", speed=1.0, config={"mode": "live"}),
        SpeechStarted(t=1.0, utterance=1, speech_start_at=0.9),
        Transcribed(t=1.5, utterance=1, text="what do", final=False, compute_ms=20.0),
        Transcribed(t=2.0, utterance=1, text="What do you see?", final=True, compute_ms=40.0),
        SceneDescribed(t=2.1, text="a desk with a mug", frame_t=2.0, change=0.2, backend="basic", compute_ms=5.0),
        ReplyChunk(t=2.5, turn=1, text="I see a desk"),
        ReplyText(
            t=3.0, turn=1, utterance=1, text="I see a desk with a mug.", question="What do you see?", interrupted=False
        ),
        TurnMetrics(
            t=3.1,
            turn=1,
            utterance=1,
            speech_end_at=1.9,
            vad_end_ms=100.0,
            asr_final_ms=150.0,
            llm_request_ms=160.0,
            first_token_ms=400.0,
            first_chunk_ms=500.0,
            first_audio_ms=700.0,
            compute={"asr": 40.0},
        ),
        BargeIn(t=3.5, utterance=2, turn=1, echo_score=0.1),
        DeviceStatus(t=4.0, kind="camera", device="0", state="lost", message="no frames"),
        ErrorOccurred(t=4.1, stage="video", code="device", message="camera lost", retryable=True),
        SessionEnded(t=5.0, reason="stopped", media_seconds=5.0, dropped={"video": 0}),
    ]
    skipped = (SpeechStarted, ReplyChunk)
    published = [e for e in sent if not isinstance(e, skipped) and not (isinstance(e, Transcribed) and not e.final)]
    return sent, published


async def test_events_flow_from_the_bus_in_order_as_json(broker: Mosquitto) -> None:
    settings = mqtt_settings(broker)
    link = MqttLink(settings)
    bus = EventBus(FakeClock())
    bus.subscribe(link.publish_event)
    sent, published = _session_events()
    async with watcher(broker, settings) as w, running(link):
        await online(w)
        for event in sent:
            bus.publish(event)
        received = await w.get_many("events", len(published))
        assert [r.data for r in received] == [json.loads(json.dumps(to_record(e))) for e in published]
        assert not any(r.retain for r in received)
    assert link.stats.published == 1 + len(published)  # the online status, then the events
    # The set is configurable: partial transcripts only when asked for.
    partials = MqttLink(mqtt_settings(broker, events=["transcript_partial"]))
    for event in sent:
        partials.publish_event(event)
    assert partials.buffered == 1


async def test_metrics_are_published_with_the_links_counters(broker: Mosquitto) -> None:
    settings = mqtt_settings(broker, metrics_interval_s=0.05)
    link = MqttLink(settings, metrics=lambda: {"turns": 3, "queue_drops": {"video": 1}})
    async with watcher(broker, settings) as w, running(link):
        await online(w)
        metrics = (await w.get("metrics")).data
        assert metrics["turns"] == 3 and metrics["queue_drops"] == {"video": 1}
        assert metrics["mqtt"]["connects"] == 1 and metrics["mqtt"]["dropped_outgoing"] == 0
        assert {"published", "reconnects", "commands_ok", "commands_rejected", "buffered"} <= metrics["mqtt"].keys()
        later = (await w.get("metrics")).data
        assert later["mqtt"]["published"] > metrics["mqtt"]["published"]  # the first metrics went out


async def test_every_command_reaches_the_controller_and_gets_a_result(broker: Mosquitto) -> None:
    settings = mqtt_settings(broker)
    controller = RecordingController()
    link = MqttLink(settings, controller=controller)
    commands: list[dict[str, Any]] = [
        {"id": "c1", "cmd": "say", "text": "Hello there"},
        {"id": "c2", "cmd": "mute"},
        {"id": "c3", "cmd": "unmute"},
        {"id": "c4", "cmd": "reset"},
        {"id": "c5", "cmd": "describe_now"},
        {"id": "c6", "cmd": "set_volume", "level": 0.25},
    ]
    async with watcher(broker, settings) as w, running(link) as (stop, task):
        controller.on_shutdown = stop.set
        await online(w)
        for command in commands:
            await w.send("cmd", json.dumps(command).encode())
        results = [r.data for r in await w.get_many("cmd/result", len(commands))]
        assert results[0] == {"id": "c1", "ok": True, "cmd": "say", "echo": ["Hello there"]}
        assert results[5] == {"id": "c6", "ok": True, "cmd": "set_volume", "echo": [0.25]}
        assert [(r["id"], r["ok"], r["cmd"]) for r in results] == [(c["id"], True, c["cmd"]) for c in commands]
        assert controller.calls == [
            ("say", "Hello there"),
            ("mute",),
            ("unmute",),
            ("reset",),
            ("describe_now",),
            ("set_volume", 0.25),
        ]
        # shutdown: its result goes out before the link goes offline.
        await w.send("cmd", b'{"id": "c7", "cmd": "shutdown"}')
        assert (await w.get("cmd/result")).data == {"id": "c7", "ok": True, "cmd": "shutdown"}
        await asyncio.wait_for(task, 10)
        assert (await w.get("status")).data["state"] == "stopped"
    assert controller.calls[-1] == ("shutdown",)
    assert (link.stats.commands_ok, link.stats.commands_rejected, link.stats.commands_failed) == (7, 0, 0)


async def test_a_failing_or_hanging_controller_gives_an_error_result(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    settings = mqtt_settings(broker, command_timeout_s=0.2)
    controller = RecordingController(fail="describe_now", hang="reset")
    link = MqttLink(settings, controller=controller)
    async with watcher(broker, settings) as w, running(link):
        await online(w)
        await w.send("cmd", b'{"id": "d1", "cmd": "describe_now"}')
        await w.send("cmd", b'{"id": "d2", "cmd": "reset"}')
        await w.send("cmd", b'{"id": "d3", "cmd": "mute"}')
        failed, hung, fine = (r.data for r in await w.get_many("cmd/result", 3))
    assert failed == {
        "id": "d1",
        "ok": False,
        "cmd": "describe_now",
        "error": "describe_now failed: describe_now is broken",
    }
    assert hung == {"id": "d2", "ok": False, "cmd": "reset", "error": "reset took longer than 0.2 s"}
    assert fine == {"id": "d3", "ok": True, "cmd": "mute"}  # the link goes on after a failure
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == "kiosk.mqtt"]
    assert any("d1" in m and "is broken" in m for m in warnings) and any("d2" in m for m in warnings)


async def test_malformed_commands_get_error_results_and_change_nothing(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    settings = mqtt_settings(broker)
    controller = RecordingController()
    link = MqttLink(settings, controller=controller)
    cases = _fuzz_payloads()
    assert len(cases) >= 30
    async with watcher(broker, settings) as w, running(link):
        await online(w)
        for payload, _ in cases:
            await w.send("cmd", payload)
        results = [r.data for r in await w.get_many("cmd/result", len(cases))]
        assert controller.calls == []
        for (payload, command_id), result in zip(cases, results, strict=True):
            assert result.keys() == {"id", "ok", "error"}, payload[:60]
            assert (result["id"], result["ok"]) == (command_id, False), payload[:60]
            assert result["error"] and "\n" not in result["error"]
        # The link still takes a good command afterwards.
        await w.send("cmd", b'{"id": "ok1", "cmd": "mute"}')
        assert (await w.get("cmd/result")).data == {"id": "ok1", "ok": True, "cmd": "mute"}
    assert controller.calls == [("mute",)]
    assert (link.stats.commands_rejected, link.stats.commands_ok) == (len(cases), 1)
    rejected = [r for r in caplog.records if r.levelno == logging.WARNING and "rejected" in r.getMessage()]
    assert len(rejected) == len(cases)


async def test_broker_killed_and_restarted_buffers_in_order_and_counts_drops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kiosk.mqtt")
    broker = Mosquitto(tmp_path, users=USERS)
    password_file = tmp_path / "kiosk.pw"
    password_file.write_text(KIOSK_PASSWORD + "\n")
    settings = mqtt_settings(broker, username="kiosk", password_file=password_file, buffer=5)
    link = MqttLink(settings)
    bus = EventBus(FakeClock())
    bus.subscribe(link.publish_event)

    def event(n: int) -> ErrorOccurred:
        return ErrorOccurred(t=float(n), stage="test", code="n", message=f"event {n}", retryable=True)

    with broker:
        async with running(link) as (_, task):
            async with watcher(broker, settings) as w:
                await online(w)
                acked = link.stats.published
                bus.publish(event(0))
                assert (await w.get("events")).data["message"] == "event 0"
                # The watcher can have it before the link has the broker's ack: killing the broker
                # then would make event 0 a message to send again, and a fourth drop.
                await until(link, lambda: link.stats.published > acked)
                broker.kill()
                # Keep the link out of the new broker until a watcher is subscribed there, so that
                # nothing it flushes can be missed: the link reads its password at each attempt.
                password_file.write_text("not-yet\n")
                for n in range(1, 9):
                    bus.publish(event(n))  # 8 into a buffer of 5: events 1-3 are dropped
                assert link.stats.dropped_outgoing == 3
                await until(link, lambda: not link.connected)
            assert not task.done()
            failures = link.stats.connect_failures
            broker.start()
            async with watcher(broker, settings) as w:
                # An attempt begun before the restart may fail as unreachable; the next one is refused.
                await until(link, lambda: link.stats.connect_failures >= failures + 2)
                assert not link.connected and not task.done()
                password_file.write_text(KIOSK_PASSWORD + "\n")
                status = await online(w)
                assert status["state"] == "starting"
                flushed = await w.get_many("events", 5)
                assert [r.data["message"] for r in flushed] == [f"event {n}" for n in range(4, 9)]
                bus.publish(event(9))
                assert (await w.get("events")).data["message"] == "event 9"
                assert w.pending("events") == 0
            assert (link.stats.reconnects, link.stats.dropped_outgoing) == (1, 3)
    messages = [r.getMessage() for r in caplog.records if r.name == "kiosk.mqtt"]
    assert any(m.startswith(f"MQTT connection to 127.0.0.1:{broker.port} lost: ") for m in messages), messages
    assert any("refused the connection" in m for m in messages), messages
    assert any("buffer full" in m for m in messages), messages
    assert any(m.endswith(f"connected to 127.0.0.1:{broker.port} again") for m in messages), messages


async def test_wrong_credentials_one_clear_error_retries_then_connects(
    auth_broker: Mosquitto, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)  # paho's own debug lines too: none may show the password
    monkeypatch.setenv("KIOSK_TEST_MQTT_PW", "wrong-pw-5e3a")
    settings = mqtt_settings(auth_broker, username="kiosk", password_env="KIOSK_TEST_MQTT_PW")
    link = MqttLink(settings)
    async with watcher(auth_broker, settings) as w, running(link) as (_, task):
        await until(link, lambda: link.stats.connect_failures >= 3)
        assert not link.connected and not task.done()
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1, errors  # one line, not one per retry
        assert errors[0].startswith(
            f"MQTT broker 127.0.0.1:{auth_broker.port} refused the connection: not authorized "
            "(check the username and password)"
        )
        monkeypatch.setenv("KIOSK_TEST_MQTT_PW", KIOSK_PASSWORD)
        await online(w)
    assert "wrong-pw-5e3a" not in caplog.text and KIOSK_PASSWORD not in caplog.text
    assert any(r.getMessage().startswith("MQTT connected to") for r in caplog.records)


async def test_check_broker_says_why(auth_broker: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIOSK_TEST_MQTT_PW", KIOSK_PASSWORD)
    good = mqtt_settings(auth_broker, username="kiosk", password_env="KIOSK_TEST_MQTT_PW")
    assert await check_broker(good, timeout_s=3) is None
    wrong = mqtt_settings(auth_broker, username="watcher", password_env="KIOSK_TEST_MQTT_PW")
    reason = await check_broker(wrong, timeout_s=3)
    assert reason is not None and "refused the connection" in reason and KIOSK_PASSWORD not in reason
    anonymous = await check_broker(mqtt_settings(auth_broker), timeout_s=3)
    assert anonymous is not None and "refused" in anonymous
    monkeypatch.delenv("KIOSK_TEST_MQTT_PW")
    assert await check_broker(good, timeout_s=3) == "MQTT password: environment variable KIOSK_TEST_MQTT_PW is not set"
    auth_broker.kill()
    down = await check_broker(good.model_copy(update={"password_env": None, "username": None}), timeout_s=3)
    assert down is not None and down.startswith(f"MQTT broker 127.0.0.1:{auth_broker.port} is unreachable")


async def test_tls_with_a_client_certificate(tmp_path: Path) -> None:
    files = make_certificates(tmp_path / "tls")
    with Mosquitto(tmp_path, tls=files) as broker:
        tls = {
            "enabled": True,
            "ca_file": files["ca.crt"],
            "certfile": files["client.crt"],
            "keyfile": files["client.key"],
        }
        settings = mqtt_settings(broker, tls=tls)
        assert await check_broker(settings, timeout_s=3) is None
        link = MqttLink(settings)
        async with running(link):
            await until(link, lambda: link.connected)
            link.publish_event(ErrorOccurred(t=1.0, stage="test", code="tls", message="over TLS", retryable=False))
            await until(link, lambda: link.stats.published == 2)  # the status, then the event, acknowledged
        # Plain TCP to a TLS listener, and TLS without the client certificate, both fail with a reason.
        plain = await check_broker(mqtt_settings(broker), timeout_s=0.5)
        assert plain == f"MQTT broker 127.0.0.1:{broker.port} did not answer within 0.5 s"
        no_cert = mqtt_settings(broker, tls={"enabled": True, "ca_file": files["ca.crt"]})
        assert await check_broker(no_cert, timeout_s=0.5) is not None
        system_ca = await check_broker(mqtt_settings(broker, tls={"enabled": True}), timeout_s=3)
        assert system_ca is not None and "certificate verify failed" in system_ca
