"""``run_assistant.py --config configs/kiosk.yaml --check``: is this machine ready to run?

Checks the config (already validated when this runs), the inputs (devices in live mode,
files for a replay), the models (loaded for real, as the run would) and the
MQTT credentials (required unless ``allow_anonymous``) and broker (reachable, and
it accepts the credentials). Prints one row per check;
the exit status is 0 when all pass, 2 when any fails.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from kernel.errors import AssistantError
from kiosk.settings import ANONYMOUS_RISK, MqttSettings, check_credentials, connects_anonymously

from .settings import Settings

Check = tuple[str, bool, str]


def _run(name: str, probe: Callable[[], str]) -> Check:
    started = time.perf_counter()
    try:
        detail = probe()
    except AssistantError as exc:
        return name, False, str(exc)
    except Exception as exc:  # a check reports what broke; it never crashes the checker
        return name, False, f"{type(exc).__name__}: {exc}"
    return name, True, f"{detail} ({time.perf_counter() - started:.1f} s)"


def _inputs(settings: Settings) -> tuple[str, bool, bool]:
    """A description of the inputs, and whether there is audio / video."""
    if settings.mode == "live":
        from perception.camera import CameraSource
        from speech.devices import resolve_audio_device

        live = settings.live
        _, mic = resolve_audio_device(live.microphone, "input")
        _, speaker = resolve_audio_device(live.speaker, "output")
        camera = "none"
        if live.camera:
            source = CameraSource(live.camera)
            source.open()
            source.close()
            camera = live.camera
        return f"microphone {mic}, speaker {speaker}, camera {camera}", True, bool(live.camera)
    if settings.mode == "web":  # the page brings the camera and the mic: the server's own settings are checked
        from web.server import ssl_context
        from web.settings import read_token

        token = read_token(settings.web)
        ssl_context(settings.web)
        web = settings.web
        access = "an access token from $" + web.token_env if token else "no token: this machine only"
        return f"a browser's camera and mic, served at {web.scheme}://{web.host}:{web.port}/ ({access})", True, True
    from assistant.session import prepare_sources

    sources = prepare_sources(settings)
    return sources.label, sources.audio is not None, sources.video is not None


def mqtt_credentials(mqtt: MqttSettings) -> str:
    """What the link will authenticate with; raises ConfigError when it has nothing and anonymous is not allowed."""
    check_credentials(mqtt)
    if connects_anonymously(mqtt):
        return f"WARNING: none (allow_anonymous: true): {ANONYMOUS_RISK}"
    found = []
    if mqtt.password_env is not None:
        found.append(f"user {mqtt.username!r}, password from ${mqtt.password_env}")
    elif mqtt.password_file is not None:
        found.append(f"user {mqtt.username!r}, password from {mqtt.password_file}")
    if mqtt.tls.enabled and mqtt.tls.certfile is not None:
        found.append(f"TLS client certificate {mqtt.tls.certfile}")
    return "; ".join(found)


def run_checks(settings: Settings, config: Path | None) -> list[Check]:
    checks: list[Check] = [("config", True, f"{config or 'defaults'} is valid")]
    found: dict[str, bool] = {}

    def inputs() -> str:
        label, found["audio"], found["video"] = _inputs(settings)
        return label

    checks.append(_run({"live": "devices", "web": "server"}.get(settings.mode, "inputs"), inputs))

    def models() -> str:
        from assistant.models import prepare_models

        loaded = prepare_models(settings, hearing=found.get("audio", True), seeing=found.get("video", True))
        parts = {f.name: getattr(loaded, f.name) for f in dataclasses.fields(loaded)}
        names = [f"{k}={type(v).__name__}" for k, v in parts.items() if v is not None]
        return ", ".join(names)

    if not found and settings.mode == "live":  # the models do not depend on which devices are there
        found.update(audio=True, video=bool(settings.live.camera))
    if found:
        checks.append(_run("models", models))
    else:
        checks.append(("models", False, "not checked: the inputs failed"))
    mqtt = settings.kiosk.mqtt
    if mqtt.enabled:
        from kiosk.mqtt import check_broker

        def broker() -> str:
            reason = asyncio.run(check_broker(mqtt, timeout_s=min(mqtt.timeout_s, 5.0)))
            if reason is not None:
                raise AssistantError(reason)
            return f"{mqtt.broker} accepted the connection"

        checks.append(_run("mqtt auth", lambda: mqtt_credentials(mqtt)))
        checks.append(_run("broker", broker))
    else:
        checks.append(("broker", True, "MQTT disabled (kiosk.mqtt.enabled: false)"))
    return checks


def print_checks(console: Console, checks: list[Check]) -> int:
    table = Table(title="omnilive --check", show_lines=False)
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for name, ok, detail in checks:
        table.add_row(name, "[green]ok[/]" if ok else "[red]FAIL[/]", detail)
    console.print(table)
    return 0 if all(ok for _, ok, _ in checks) else 2
