"""Kiosk security: credentials are required unless an anonymous broker is allowed on purpose, and
the shipped Mosquitto config and ACL (deploy/mosquitto/) keep a kiosk's topics to the kiosk and
its operators, checked against a real Mosquitto with that ACL and a password file from
``mosquitto_passwd``.

Nothing here sleeps to time a result: each test awaits the messages it expects (with a timeout),
polls a condition on the link, or uses a message the broker must route after the ones that matter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import yaml

from kernel.errors import ConfigError, InputError
from kernel.events import Transcribed
from kiosk.mqtt import MqttLink
from kiosk.settings import ANONYMOUS_RISK, MqttSettings, check_credentials
from omnilive import check
from omnilive.settings import load_settings

from .broker import Mosquitto, Watcher, find_mosquitto, free_port
from .conftest import ROOT, SESSION, run_cli
from .test_kiosk_mqtt import RecordingController, mqtt_settings, online, running, until

pytestmark = pytest.mark.skipif(
    find_mosquitto() is None or shutil.which("mosquitto_passwd") is None,
    reason="mosquitto and mosquitto_passwd not installed (make system)",
)

DEPLOY = ROOT / "deploy" / "mosquitto"
KIOSK_ID = "lobby-1"  # the kiosk the shipped ACL names
BASE = f"omnilive/{KIOSK_ID}"
USERS = {"kiosk": "kiosk-pw-0c1e", "operator": "operator-pw-9d2a", "mallory": "mallory-pw-41f7"}
SANDBOX = "sandbox/mallory"  # the only topics the test grants the intruder: somewhere to ping itself


# --- credentials required by default ----------------------------------------------------------


def test_credentials_are_required_unless_an_anonymous_broker_is_allowed(tmp_path: Path) -> None:
    assert MqttSettings().allow_anonymous is False
    for missing in ({}, {"username": "kiosk"}, {"tls": {"enabled": True}}, {"tls": {"certfile": "/c.pem"}}):
        settings = MqttSettings.model_validate({"enabled": True, **missing})
        with pytest.raises(ConfigError) as refused:
            MqttLink(settings)
        message = str(refused.value)
        assert message.startswith("kiosk.mqtt: no broker credentials") and "\n" not in message
        assert "allow_anonymous: true" in message and ANONYMOUS_RISK in message
    for enough in (
        {"username": "kiosk", "password_env": "SOME_VARIABLE"},
        {"username": "kiosk", "password_file": str(tmp_path / "pw")},
        {"tls": {"enabled": True, "certfile": "/c.pem"}},
        {"allow_anonymous": True},
    ):
        MqttLink(MqttSettings.model_validate({"enabled": True, **enough}))  # no error
    # The shipped kiosk config names its credentials, and does not allow an anonymous broker.
    shipped = load_settings(ROOT / "configs" / "kiosk.yaml").kiosk.mqtt
    assert (shipped.username, shipped.password_env, shipped.allow_anonymous) == (
        "kiosk",
        "OMNILIVE_MQTT_PASSWORD",
        False,
    )
    check_credentials(shipped)


def _kiosk_config(tmp_path: Path, port: int, **mqtt: Any) -> Path:
    config = {
        "mode": "replay",
        "input": {"session": str(SESSION)},
        "replay": {"speed": 0, "loops": 0},
        "output": {"dir": str(tmp_path / "runs")},
        "kiosk": {"enabled": True, "mqtt": {"enabled": True, "port": port, "kiosk_id": KIOSK_ID, **mqtt}},
    }
    path = tmp_path / "kiosk.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_kiosk_with_no_credentials_refuses_to_start_with_one_line(tmp_path: Path) -> None:
    done = run_cli("--config", str(_kiosk_config(tmp_path, free_port())), timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("omnilive: error: kiosk.mqtt: no broker credentials: set username and ")
    assert done.stderr.strip().count("\n") == 0, done.stderr
    runs = tmp_path / "runs"
    assert not runs.exists() or not any(runs.iterdir())  # refused before an output folder was made


def test_check_reports_the_missing_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()  # no broker there: this is about the credentials row
    for mqtt, ok, detail in (
        ({}, False, "kiosk.mqtt: no broker credentials"),
        ({"allow_anonymous": True}, True, f"WARNING: none (allow_anonymous: true): {ANONYMOUS_RISK}"),
        ({"username": "kiosk", "password_env": "KIOSK_PW"}, True, "user 'kiosk', password from $KIOSK_PW"),
    ):
        settings = load_settings(_kiosk_config(tmp_path, port, **mqtt))

        def no_inputs(settings: Any) -> Any:
            raise InputError("inputs are not this test's business")

        monkeypatch.setattr(check, "_inputs", no_inputs)  # and the models are then not loaded
        rows = {name: (passed, text) for name, passed, text in check.run_checks(settings, None)}
        assert rows["mqtt auth"][0] is ok and rows["mqtt auth"][1].startswith(detail), rows["mqtt auth"]
        assert rows["broker"][0] is False  # still checked: unreachable
    # The command line: a FAIL row and exit 2, however the rest goes.
    done = run_cli("--config", str(_kiosk_config(tmp_path, port)), "--check", env={"COLUMNS": "400"}, timeout=120)
    assert done.returncode == 2
    (row,) = [line for line in done.stdout.splitlines() if "mqtt auth" in line]
    assert "FAIL" in row and "no broker credentials" in row, done.stdout


async def test_an_allowed_anonymous_broker_is_a_warning_at_every_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Mosquitto(tmp_path) as broker:
        for start in (1, 2):
            link = MqttLink(mqtt_settings(broker))  # allow_anonymous: true, no credentials
            async with running(link):
                await until(link, lambda: link.connected)  # noqa: B023 (awaited here, in this iteration)
            warnings = [
                r.getMessage()
                for r in caplog.records
                if r.levelno == logging.WARNING and r.name == "kiosk.mqtt" and ANONYMOUS_RISK in r.getMessage()
            ]
            assert len(warnings) == start, warnings
    assert warnings[0] == (
        f"MQTT link to 127.0.0.1:{broker.port} has no credentials (kiosk.mqtt.allow_anonymous: true): "
        "anyone who can reach the broker can command this kiosk and read its transcripts and events"
    )


# --- the shipped Mosquitto config and ACL -----------------------------------------------------


def _directives() -> list[tuple[str, str]]:
    """The shipped mosquitto.conf, as (option, value) pairs, comments left out."""
    found = []
    for line in (DEPLOY / "mosquitto.conf").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            option, _, value = line.strip().partition(" ")
            found.append((option, value.strip()))
    return found


def test_the_shipped_broker_config_requires_a_login_and_an_acl() -> None:
    options = dict(_directives())
    assert options["allow_anonymous"] == "false"
    assert options["password_file"] and options["acl_file"].endswith("/omnilive.acl")
    assert options.get("per_listener_settings", "false") == "false"  # the three apply to every listener
    listeners = [value for option, value in _directives() if option == "listener"]
    assert listeners and "certfile" not in options  # no TLS set up: plain MQTT only on this machine
    assert all(value.endswith(" 127.0.0.1") for value in listeners), listeners


@pytest.fixture
def acl_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """Mosquitto with the shipped config's options, its ACL, and a password file for the users.

    The ACL gets one block more, for the intruder: a sandbox topic of its own, so that a ping it
    sends itself marks the point by which anything else routed to it would have arrived.
    """
    acl = tmp_path / "omnilive.acl"
    acl.write_text((DEPLOY / "omnilive.acl").read_text() + f"\nuser mallory\ntopic readwrite {SANDBOX}/#\n")
    supplied = {"listener", "allow_anonymous", "password_file"}  # the test broker writes its own
    extra = [f"{option} {acl if option == 'acl_file' else value}" for option, value in _directives()]
    extra = [line for line in extra if line.split()[0] not in supplied]
    with Mosquitto(tmp_path, users=USERS, extra=extra) as broker:
        yield broker


def kiosk_settings(broker: Mosquitto, tmp_path: Path) -> MqttSettings:
    password_file = tmp_path / "kiosk.password"
    password_file.write_text(USERS["kiosk"] + "\n")
    return mqtt_settings(
        broker, kiosk_id=KIOSK_ID, username="kiosk", password_file=password_file, allow_anonymous=False
    )


def operator(broker: Mosquitto) -> Watcher:
    """The operator's dashboard, subscribed to the kiosk's ``#``: the broker sends it what it may read."""
    return Watcher(broker, BASE, username="operator", password=USERS["operator"])


@contextlib.asynccontextmanager
async def intruder(broker: Mosquitto) -> AsyncIterator[tuple[aiomqtt.Client, asyncio.Queue[aiomqtt.Message]]]:
    """Another user of the broker, logged in with its own password; what it receives is queued."""
    heard: asyncio.Queue[aiomqtt.Message] = asyncio.Queue()
    async with aiomqtt.Client(
        broker.host, broker.port, username="mallory", password=USERS["mallory"], identifier="mallory-tool"
    ) as other:

        async def listen() -> None:
            with contextlib.suppress(aiomqtt.MqttError):
                async for message in other.messages:
                    heard.put_nowait(message)

        reader = asyncio.create_task(listen())
        try:
            yield other, heard
        finally:
            reader.cancel()
            await asyncio.wait([reader])


async def test_the_operator_commands_the_kiosk_and_reads_its_status_and_results(
    acl_broker: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    controller = RecordingController()
    link = MqttLink(kiosk_settings(acl_broker, tmp_path), controller=controller)
    async with operator(acl_broker) as dashboard, running(link) as (_, task):
        status = await online(dashboard)
        assert status["kiosk_id"] == KIOSK_ID
        await dashboard.send("cmd", json.dumps({"id": "op-1", "cmd": "say", "text": "We close soon."}).encode())
        await dashboard.send("cmd", b'{"id": "op-2", "cmd": "mute"}')
        results = [r.data for r in await dashboard.get_many("cmd/result", 2)]
        assert results == [
            {"id": "op-1", "ok": True, "cmd": "say", "echo": ["We close soon."]},
            {"id": "op-2", "ok": True, "cmd": "mute"},
        ]
        link.set_state("muted")
        assert (await online(dashboard))["state"] == "muted"
        assert not task.done()
    assert controller.calls == [("say", "We close soon."), ("mute",)]
    assert f"Denied PUBLISH from {link.client_id}" not in acl_broker.log()  # the kiosk's own topics are its own
    assert not [r for r in caplog.records if ANONYMOUS_RISK in r.getMessage()]  # it has credentials: no warning


async def test_another_user_can_do_nothing_with_the_kiosks_topics(acl_broker: Mosquitto, tmp_path: Path) -> None:
    controller = RecordingController()
    link = MqttLink(kiosk_settings(acl_broker, tmp_path), controller=controller)
    async with operator(acl_broker) as dashboard, running(link) as (_, task):
        await online(dashboard)
        async with intruder(acl_broker) as (mallory, heard):
            await mallory.subscribe("omnilive/#", qos=1)  # the broker grants it, then sends nothing it may not read
            await mallory.subscribe(f"{BASE}/events", qos=1)
            await mallory.subscribe(f"{SANDBOX}/#", qos=1)
            # Each is acknowledged, then dropped by the broker.
            fakes = {
                "cmd": {"id": "evil-1", "cmd": "shutdown"},
                "status": {"online": False, "state": "hacked", "kiosk_id": KIOSK_ID},
                "events": {"type": "transcript", "text": "fake words"},
                "cmd/result": {"id": "op-1", "ok": False, "error": "fake result"},
            }
            for leaf, fake in fakes.items():
                await mallory.publish(f"{BASE}/{leaf}", json.dumps(fake).encode(), qos=1, retain=leaf == "status")
            await mallory.publish(f"{BASE}/cmd", b'{"id": "evil-2", "cmd": "say", "text": "All free today."}', qos=1)
            # The operator's command comes after them: had any gone through, it would come first.
            await dashboard.send("cmd", b'{"id": "op-1", "cmd": "mute"}')
            assert (await dashboard.get("cmd/result")).data == {"id": "op-1", "ok": True, "cmd": "mute"}
            assert controller.calls == [("mute",)]
            assert (dashboard.pending("status"), dashboard.pending("cmd/result")) == (0, 0)
            # What the kiosk publishes now (a transcript, a result), acknowledged by the broker,
            # and then the intruder's ping to itself: it hears the ping, and nothing before it.
            published = link.stats.published
            link.publish_event(Transcribed(t=1.0, utterance=1, text="a visitor's words", final=True, compute_ms=1.0))
            await dashboard.send("cmd", b'{"id": "op-2", "cmd": "unmute"}')
            assert (await dashboard.get("cmd/result")).data["id"] == "op-2"
            await until(link, lambda: link.stats.published >= published + 2)
            await mallory.publish(f"{SANDBOX}/ping", b"ping", qos=1)
            first = await asyncio.wait_for(heard.get(), 5)
            assert (str(first.topic), first.payload) == (f"{SANDBOX}/ping", b"ping")
            assert heard.empty()
        assert link.connected and not task.done()
    assert (link.stats.commands_ok, link.stats.commands_rejected, link.stats.connects) == (2, 0, 1)
    # A dashboard that connects now gets the kiosk's retained status, not the intruder's.
    async with operator(acl_broker) as late:
        retained = await late.get("status")
        assert retained.retain and retained.data["kiosk_id"] == KIOSK_ID and retained.data["state"] == "stopped"
    log = acl_broker.log()
    for leaf in fakes:  # the broker says why each was dropped
        r = int(leaf == "status")
        assert re.search(rf"Denied PUBLISH from mallory-tool \(d0, q1, r{r}, m\d+, '{BASE}/{leaf}'", log), leaf
    assert f"Denied PUBLISH from {link.client_id}" not in log  # the kiosk's transcript went out: no one may read it


async def test_a_kiosk_with_no_credentials_is_refused_by_the_broker_with_one_clear_line(
    acl_broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    settings = mqtt_settings(acl_broker, kiosk_id=KIOSK_ID)  # allow_anonymous: true, and no credentials
    link = MqttLink(settings)
    async with running(link) as (_, task):
        await until(link, lambda: link.stats.connect_failures >= 3)
        assert not link.connected and not task.done()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [
        f"MQTT broker 127.0.0.1:{acl_broker.port} refused the connection: not authorized (this kiosk has no "
        "credentials: set kiosk.mqtt.username and password_env); retrying with backoff up to 0.2 s"
    ]
    assert "disconnected, not authorised." in acl_broker.log()  # the broker's side of it
