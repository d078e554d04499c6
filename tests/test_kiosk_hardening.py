"""The kiosk's MQTT link under hostile or careless input, against a real Mosquitto broker:
deeply nested payloads, retained commands, floods, control characters in ``say``, a long
broker outage, and another client that connects with the kiosk's old, predictable client ID.

Nothing here sleeps to time a result: each test awaits the messages it expects (with a
timeout), polls a condition on the link, or drives a fake clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import aiomqtt
import numpy as np
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from assistant.timing import TurnTimer
from assistant.turn_manager import TurnManager
from assistant.turns import TurnRunner
from dialogue.offline import OfflineResponder
from dialogue.prompt import Conversation
from kernel.channels import Activity
from kernel.clock import FakeClock
from kernel.eventlog import EventBus
from kernel.events import Event, ReplyText
from kiosk.commands import MAX_DEPTH, MAX_SAY_CHARS, CommandRejected, parse_command
from kiosk.mqtt import Backoff, MqttLink
from kiosk.runtime import KioskController, KioskState
from kiosk.settings import MqttSettings
from perception.memory import SceneMemory

from .broker import Mosquitto, Watcher, find_mosquitto
from .fakes import GatedSink
from .test_kiosk import BASE, command, kiosk_config, start, wait_for
from .test_kiosk_mqtt import RecordingController, mqtt_settings, online, running, until, watcher

pytestmark = pytest.mark.skipif(find_mosquitto() is None, reason="mosquitto not installed (make system)")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with Mosquitto(tmp_path) as running_broker:
        yield running_broker


@contextlib.asynccontextmanager
async def client(broker: Mosquitto, identifier: str) -> AsyncIterator[aiomqtt.Client]:
    """Another MQTT client, as an operator's tool (or an intruder) would connect."""
    other = aiomqtt.Client(broker.host, broker.port, identifier=identifier)
    await other.__aenter__()
    try:
        yield other
    finally:
        with contextlib.suppress(aiomqtt.MqttError):
            await other.__aexit__(None, None, None)


# --- 1. nested JSON ---------------------------------------------------------------------------

NESTED_ARRAYS = b"[" * 999 + b"]" * 999
NESTED_OBJECTS = b'{"a": ' * 500 + b"1" + b"}" * 500
NESTED_FIELD = b'{"id": "n1", "cmd": "say", "text": ' + b"[" * 50 + b"]" * 50 + b"}"


def test_nesting_is_refused_before_parsing() -> None:
    for payload in (NESTED_ARRAYS, NESTED_OBJECTS, NESTED_FIELD):
        assert len(payload) <= 4096
        with pytest.raises(CommandRejected, match=f"nested deeper than {MAX_DEPTH} levels"):
            parse_command(payload)
    # Brackets inside strings are text, not nesting; a flat command with them is fine.
    say = parse_command(json.dumps({"id": "n2", "cmd": "say", "text": '[[[[[[{{{{{{ \\" ]]]'}).encode())
    assert say.text.startswith("[[[[[[")  # type: ignore[union-attr]


async def test_nested_payloads_get_an_error_result_and_the_link_stays_up(broker: Mosquitto) -> None:
    settings = mqtt_settings(broker)
    controller = RecordingController()
    link = MqttLink(settings, controller=controller)
    async with watcher(broker, settings) as w, running(link) as (_, task):
        await online(w)
        await w.send("cmd", NESTED_ARRAYS)
        await w.send("cmd", NESTED_OBJECTS)
        for n in range(5):
            await w.send("cmd", json.dumps({"id": f"ok{n}", "cmd": "mute" if n % 2 else "unmute"}).encode())
        results = [r.data for r in await w.get_many("cmd/result", 7)]
        assert [(r["id"], r["ok"]) for r in results[:2]] == [(None, False), (None, False)]
        assert all("nested deeper than" in r["error"] for r in results[:2]), results[:2]
        assert [(r["id"], r["ok"]) for r in results[2:]] == [(f"ok{n}", True) for n in range(5)]
        assert not task.done()
    assert (link.stats.connects, link.stats.reconnects, link.stats.connect_failures) == (1, 0, 0)
    assert link.stats.commands_rejected == 2 and link.stats.commands_ok == 5


async def test_an_exception_while_handling_a_command_does_not_end_the_link(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    class Circular(RecordingController):
        async def describe_now(self) -> dict[str, Any] | None:
            details: dict[str, Any] = {"text": "a loop"}
            details["self"] = details  # json.dumps raises ValueError: circular reference
            return details

    settings = mqtt_settings(broker)
    link = MqttLink(settings, controller=Circular())
    async with watcher(broker, settings) as w, running(link) as (_, task):
        await online(w)
        await w.send("cmd", b'{"id": "e1", "cmd": "describe_now"}')
        await w.send("cmd", b'{"id": "e2", "cmd": "mute"}')
        broken, fine = (r.data for r in await w.get_many("cmd/result", 2))
        assert (broken["id"], broken["ok"]) == ("e1", False) and "describe_now" in broken["error"]
        assert fine == {"id": "e2", "ok": True, "cmd": "mute"}
        assert not task.done()
    assert (link.stats.connects, link.stats.commands_failed, link.stats.commands_ok) == (1, 1, 1)


# --- 2. retained commands ---------------------------------------------------------------------


@pytest.mark.parametrize("retained", ["shutdown", "mute"])
async def test_a_retained_command_is_ignored_and_counted(
    broker: Mosquitto, retained: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = mqtt_settings(broker)
    async with client(broker, "operator-tool") as tool:
        await tool.publish("omnilive/k1/cmd", json.dumps({"id": "old", "cmd": retained}).encode(), qos=1, retain=True)
    controller = RecordingController()
    link = MqttLink(settings, controller=controller)
    async with watcher(broker, settings) as w, running(link) as (stop, task):
        controller.on_shutdown = stop.set
        await online(w)
        # The retained command comes at subscribe time, before this one: had it run, its result would come first.
        await w.send("cmd", b'{"id": "now", "cmd": "unmute"}')
        assert (await w.get("cmd/result")).data == {"id": "now", "ok": True, "cmd": "unmute"}
        assert not task.done() and link.connected
    assert controller.calls == [("unmute",)]
    assert link.stats.commands_ignored == 1
    lines = [r.getMessage() for r in caplog.records if r.name == "kiosk.mqtt" and "retained" in r.getMessage()]
    assert len(lines) == 1 and "omnilive/k1/cmd" in lines[0], lines


async def test_the_kiosk_stays_up_and_unmuted_with_retained_shutdown_and_mute(
    tmp_path: Path, broker: Mosquitto
) -> None:
    cmd_topic = f"{BASE}/cmd"
    async with client(broker, "operator-tool") as tool:
        for retained in ("shutdown", "mute"):
            await tool.publish(
                cmd_topic, json.dumps({"id": f"old-{retained}", "cmd": retained}).encode(), qos=1, retain=True
            )
            async with Watcher(broker, BASE) as w:
                proc = start(kiosk_config(tmp_path, broker.port))
                try:
                    states = await wait_for(w, "status", lambda s: s["online"] and s["state"] == "idle")
                    said = await command(w, id=f"s-{retained}", cmd="say", text="Still here.")
                    assert said["ok"], said  # a muted kiosk answers "muted: send unmute first"
                    metrics = await wait_for(w, "metrics", lambda m: m["mqtt"]["commands_ok"] >= 1)
                    assert metrics[-1]["mqtt"].get("commands_ignored") == 1  # and not run
                    assert proc.poll() is None
                    assert all(s["state"] != "muted" for s in states)
                    proc.send_signal(signal.SIGTERM)
                    assert proc.wait(timeout=60) == 0
                finally:
                    if proc.poll() is None:
                        proc.kill()
                    proc.wait(timeout=30)


# --- 3. floods, control characters -----------------------------------------------------------


def test_say_text_is_checked_for_control_characters_and_length() -> None:
    for text in ("hello\x00there", "bell\x07!", "esc\x1b[2J", "del\x7f!", "next\x85line"):
        with pytest.raises(CommandRejected, match=r"text: control character U\+00") as refused:
            parse_command(json.dumps({"id": "c1", "cmd": "say", "text": text}).encode())
        assert refused.value.command_id == "c1"
    with pytest.raises(CommandRejected, match=f"at most {MAX_SAY_CHARS} characters"):
        parse_command(json.dumps({"id": "c2", "cmd": "say", "text": "x" * (MAX_SAY_CHARS + 1)}).encode())
    # Line breaks and tabs are text an operator may paste; they stay.
    say = parse_command(json.dumps({"id": "c3", "cmd": "say", "text": "Line one.\nLine\ttwo."}).encode())
    assert say.text == "Line one.\nLine\ttwo."  # type: ignore[union-attr]


async def test_a_nul_in_say_is_refused_with_a_clear_result(broker: Mosquitto) -> None:
    settings = mqtt_settings(broker)
    controller = RecordingController()
    link = MqttLink(settings, controller=controller)
    async with watcher(broker, settings) as w, running(link):
        await online(w)
        await w.send("cmd", json.dumps({"id": "nul", "cmd": "say", "text": "Hello\x00world"}).encode())
        result = (await w.get("cmd/result")).data
    assert result == {"id": "nul", "ok": False, "error": "text: control character U+0000 at position 5"}
    assert controller.calls == []


async def test_a_flood_every_command_is_answered_or_counted(broker: Mosquitto) -> None:
    sent = 600
    clock = FakeClock()  # frozen: the bucket never refills, so exactly the burst gets through
    settings = mqtt_settings(broker, buffer=200, command_rate=5, command_burst=10)
    controller = RecordingController()
    link = MqttLink(settings, controller=controller, clock=clock.now)
    payloads = [
        json.dumps({"id": f"f{n}", "cmd": "say", "text": f"number {n}"} if n % 3 else {"id": f"f{n}", "cmd": "mute"})
        for n in range(sent)
    ]
    async with watcher(broker, settings) as w, running(link) as (_, task):
        await online(w)
        async with client(broker, "flooder") as flooder:
            flooder.pending_calls_threshold = sent  # aiomqtt warns of each publish beyond 10 waiting for its ack
            await asyncio.gather(*(flooder.publish("omnilive/k1/cmd", p.encode(), qos=1) for p in payloads))
        answered: list[dict[str, Any]] = []

        def lost() -> int:
            return link.stats.commands_dropped + link.stats.results_dropped

        while len(answered) + lost() < sent:
            try:
                answered.append((await w.get("cmd/result", timeout_s=10)).data)
            except AssertionError:
                raise AssertionError(f"{sent} sent, {len(answered)} answered, {lost()} counted as dropped") from None
        # Nothing more is on its way: the next command's result is the next result.
        clock.advance(1.0)  # a token for one more
        await w.send("cmd", b'{"id": "last", "cmd": "unmute"}')
        assert (await w.get("cmd/result")).data == {"id": "last", "ok": True, "cmd": "unmute"}
        assert not task.done()
    ids = [r["id"] for r in answered]
    assert len(ids) == len(set(ids)) and set(ids) <= {f"f{n}" for n in range(sent)}
    ok = [r for r in answered if r["ok"]]
    limited = [r for r in answered if not r["ok"]]
    assert len(ok) <= len(controller.calls) - 1 == 10  # the burst ran (the outbox may have dropped results)
    assert limited and all(r["error"].startswith("rate limited") for r in limited), limited[:3]
    stats = link.stats
    # Each command of the flood is one of: run, refused over the rate, or dropped on arrival.
    assert stats.commands_ok - 1 + stats.commands_rate_limited + stats.commands_dropped == sent
    assert stats.commands_rejected == stats.commands_failed == 0
    assert 0 < stats.results_dropped <= stats.dropped_outgoing  # the outbox of 200 overflowed, and said so
    assert len(answered) + stats.commands_dropped + stats.results_dropped == sent
    assert stats.connects == 1


async def test_commands_still_waiting_at_a_clean_stop_are_answered(broker: Mosquitto) -> None:
    settings = mqtt_settings(broker, command_timeout_s=60)
    controller = RecordingController(hang="reset")
    link = MqttLink(settings, controller=controller)
    async with watcher(broker, settings) as w:
        async with running(link) as (stop, task):
            await online(w)
            await w.send("cmd", b'{"id": "w0", "cmd": "reset"}')  # runs, and never returns
            for n in (1, 2):
                await w.send("cmd", json.dumps({"id": f"w{n}", "cmd": "mute"}).encode())
            await until(link, lambda: link.commands_waiting == 2 and ("reset",) in controller.calls)
            stop.set()
            await asyncio.wait_for(task, 10)
        results = [r.data for r in await w.get_many("cmd/result", 2)]
        assert results == [{"id": f"w{n}", "ok": False, "error": "the kiosk is stopping"} for n in (1, 2)]
        assert (await w.get("status")).data["state"] == "stopped"
    assert controller.calls == [("reset",)]


class SilentTts:
    name = "silent"
    sample_rate = 16000

    def synthesize(self, text: str) -> np.ndarray:
        return np.zeros(1600, dtype=np.int16)


async def test_says_back_to_back_each_end_with_a_reply_text() -> None:
    bus = EventBus(FakeClock())
    events: list[Event] = []
    bus.subscribe(events.append)
    sink = GatedSink()
    sink.gate.set()
    runner = TurnRunner(
        bus=bus,
        llm=OfflineResponder(),
        tts=SilentTts(),
        sink=sink,
        memory=SceneMemory(),
        conversation=Conversation(4),
        timer=TurnTimer(),
    )
    activity = Activity()
    manager = TurnManager(runner, activity)
    controller = KioskController(asyncio.Event(), KioskState())
    # the part of Pipeline's control surface that ``say`` uses
    controller.pipeline = cast(Any, type("Pipeline", (), {
        "voiced": True, "muted": False, "announce": staticmethod(manager.announce)})())
    turns = [(await controller.say(f"Announcement {n}."))["turn"] for n in range(8)]
    await asyncio.wait_for(activity.wait_idle(), 10)
    replies = {e.turn: e for e in events if isinstance(e, ReplyText)}
    assert sorted(replies) == turns  # each acknowledged turn ends with its reply_text
    assert [replies[t].interrupted for t in turns] == [True] * 7 + [False]


# --- 4. reconnect backoff ---------------------------------------------------------------------


def test_backoff_doubles_to_its_cap_and_resets() -> None:
    backoff = Backoff(1.0, 10.0, jitter=lambda: 1.0)
    assert [backoff.next() for _ in range(7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    backoff.reset()
    assert backoff.next() == 1.0
    jittered = Backoff(1.0, 10.0)
    assert all(0.8 <= jittered.next() / d <= 1.0 for d in (1.0, 2.0, 4.0, 8.0, 10.0))
    assert MqttSettings().reconnect_max_s == 10.0


async def test_after_a_long_outage_the_wait_is_capped_and_resets_once_connected(tmp_path: Path) -> None:
    """Defaults (1 s doubling to 10 s), with the waits recorded instead of slept."""
    broker = Mosquitto(tmp_path)  # not started yet: the broker is down
    waits: list[float] = []
    resume = asyncio.Event()
    counted = asyncio.Event()

    async def pause(seconds: float, stop: asyncio.Event) -> None:
        waits.append(seconds)
        if len(waits) == 12:
            counted.set()
            await resume.wait()  # the outage goes on until the test starts the broker

    settings = MqttSettings(
        enabled=True, host=broker.host, port=broker.port, kiosk_id="k1", timeout_s=3, allow_anonymous=True
    )
    link = MqttLink(settings, pause=pause)
    try:
        async with running(link):
            await asyncio.wait_for(counted.wait(), 30)
            assert max(waits) <= settings.reconnect_max_s == 10.0
            assert waits[0] <= settings.reconnect_initial_s and min(waits[5:]) >= 0.8 * 10.0
            broker.start()
            resume.set()
            await until(link, lambda: link.connected and link.stats.published == 1)  # the status, acknowledged
            broker.kill()
            await until(link, lambda: len(waits) >= 13 and not link.connected)
            assert 0.8 <= waits[12] <= 1.0  # back to reconnect_initial_s after the connection
    finally:
        broker.kill()


# --- 5. client ID takeover ---------------------------------------------------------------------


async def test_another_client_with_the_old_predictable_id_does_not_kick_the_kiosk(broker: Mosquitto) -> None:
    settings = mqtt_settings(broker)
    link = MqttLink(settings, controller=RecordingController())
    assert link.client_id.startswith("omnilive/k1/") and len(link.client_id) >= len("omnilive/k1/") + 16
    assert MqttLink(settings).client_id != link.client_id  # a new one each start
    async with watcher(broker, settings) as w, running(link):
        await online(w)
        for _ in range(3):
            async with client(broker, "omnilive/k1"):  # the ID every kiosk used to have
                await w.send("cmd", b'{"id": "t1", "cmd": "mute"}')
                assert (await w.get("cmd/result")).data["ok"] is True
        assert link.connected
    assert (link.stats.connects, link.stats.reconnects, link.stats.connect_failures) == (1, 0, 0)


async def test_a_pinned_client_id_is_used_and_a_takeover_is_logged_plainly(
    broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    settings = mqtt_settings(broker, client_id="lobby-kiosk")
    link = MqttLink(settings)
    assert link.client_id == "lobby-kiosk"
    async with watcher(broker, settings) as w, running(link):
        await online(w)
        async with client(broker, "lobby-kiosk"):
            await until(link, lambda: link.stats.connect_failures >= 1)
    lost = [r.getMessage() for r in caplog.records if r.name == "kiosk.mqtt" and "lost" in r.getMessage()]
    assert lost and "client ID 'lobby-kiosk'" in lost[0], lost


def test_the_session_taken_over_reason_reads_plainly() -> None:
    from aiomqtt.exceptions import MqttCodeError

    from kiosk.mqtt import lost_reason

    settings = MqttSettings(kiosk_id="k1")
    error = aiomqtt.MqttError("Disconnected during message iteration")
    error.__cause__ = MqttCodeError(ReasonCode(PacketTypes.DISCONNECT, identifier=0x8E), "Unexpected disconnection")
    reason = lost_reason(settings, "omnilive/k1/abc", error)
    assert reason == (
        "MQTT broker 127.0.0.1:1883 dropped this kiosk: another client connected with its client ID "
        "'omnilive/k1/abc' (session taken over)"
    )


@pytest.mark.parametrize(("mqtt5", "level"), [(True, "p5"), (False, "p2")])
async def test_mqtt5_by_default_and_3_1_1_for_older_brokers(broker: Mosquitto, mqtt5: bool, level: str) -> None:
    settings = mqtt_settings(broker, mqtt5=mqtt5)
    link = MqttLink(settings, controller=RecordingController())
    async with watcher(broker, settings) as w, running(link):
        await online(w)
        await w.send("cmd", b'{"id": "v1", "cmd": "mute"}')
        assert (await w.get("cmd/result")).data == {"id": "v1", "ok": True, "cmd": "mute"}
    assert f"as {link.client_id} ({level}," in broker.log()  # mosquitto names the protocol: p2 is 3.1.1
