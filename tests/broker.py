"""A real Mosquitto broker for the tests, and a watcher client that records what it hears.

:class:`Mosquitto` runs the Debian package's ``mosquitto`` on 127.0.0.1 on a free
port with its own config (anonymous, or a password file made with
``mosquitto_passwd``, plus any ``extra`` lines such as an ``acl_file``), no
persistence, and its log in the work folder. It can be killed (SIGKILL, as a
crash would) and started again on the same port.

:class:`Watcher` subscribes to ``<base>/#`` and files each message by topic, so a
test awaits "the next message on ``events``" with a timeout instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import aiomqtt

HOST = "127.0.0.1"


def find_mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    if found is None and os.access("/usr/sbin/mosquitto", os.X_OK):  # not on a non-root PATH
        found = "/usr/sbin/mosquitto"
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def make_certificates(folder: Path) -> dict[str, Path]:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl."""
    folder.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=omnilive test CA")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name in ("server", "client"):
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        extra = ["-extfile", "san.ext"] if name == "server" else []
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.crt", "-days", "1", *extra)  # fmt: skip
    return {name: folder / name for name in ("ca.crt", "server.crt", "server.key", "client.crt", "client.key")}


def _drain(process: subprocess.Popen[bytes], said: threading.Event) -> None:
    """Reads the broker's log on stderr to its end (a full pipe would stall it); sets ``said`` at the
    line that says it is running, or at the end."""
    assert process.stderr is not None
    for line in process.stderr:
        if line.rstrip().endswith(b" running"):
            said.set()
    said.set()


class Mosquitto:
    """One broker process; ``users`` (name → password) turns anonymous access off.

    ``tls`` (from :func:`make_certificates`) makes the listener TLS-only and asks
    each client for a certificate signed by the same CA. ``extra`` config lines go
    first, before the listener (``per_listener_settings`` must precede it).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        users: dict[str, str] | None = None,
        tls: dict[str, Path] | None = None,
        extra: Sequence[str] = (),
    ) -> None:
        binary = find_mosquitto()
        if binary is None:
            raise RuntimeError("mosquitto is not installed (make system, or apt-get install mosquitto)")
        self.binary = binary
        self.workdir = workdir
        self.users = dict(users or {})
        self.tls = tls
        self.extra = list(extra)
        self.host = HOST
        self.port = free_port()
        self.log_path = workdir / "mosquitto.log"
        self._process: subprocess.Popen[bytes] | None = None

    def _write_config(self) -> Path:
        lines = [
            *self.extra,
            f"listener {self.port} {self.host}",
            "persistence false",
            f"log_dest file {self.log_path}",
            "log_dest stderr",  # read by start(), which waits for the line that says it is running
            "log_type all",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to the mosquitto user and cannot write its log here
        if self.users:
            passwords = self.workdir / "mosquitto.passwd"
            passwords.unlink(missing_ok=True)
            for name, password in self.users.items():
                create = [] if passwords.exists() else ["-c"]
                subprocess.run(
                    ["mosquitto_passwd", "-b", *create, str(passwords), name, password],
                    check=True,
                    capture_output=True,
                )
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        if self.tls is not None:
            lines += [
                f"cafile {self.tls['ca.crt']}",
                f"certfile {self.tls['server.crt']}",
                f"keyfile {self.tls['server.key']}",
                "require_certificate true",
            ]
        config = self.workdir / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        return config

    def start(self, timeout_s: float = 5.0) -> None:
        """Start the broker and return once it says it is running (after it opened its listener)."""
        assert self._process is None, "already running"
        config = self._write_config()
        self._process = subprocess.Popen([self.binary, "-c", str(config)], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
        said = threading.Event()  # set on "mosquitto version … running", or when its stderr ends
        threading.Thread(target=_drain, args=(self._process, said), daemon=True, name="mosquitto-log").start()
        if not said.wait(timeout_s):
            self.kill()
            raise RuntimeError(f"mosquitto did not say it was running within {timeout_s} s")
        if self._process.poll() is not None:
            self._process = None
            raise RuntimeError(f"mosquitto exited at start: {self.log()[-2000:]}")
        with socket.create_connection((self.host, self.port), timeout=timeout_s):
            pass  # the listener is open

    def kill(self) -> None:
        """SIGKILL: the broker vanishes as in a crash, without closing its sessions politely."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=5)
            self._process = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


@dataclass(frozen=True, slots=True)
class Received:
    topic: str
    payload: bytes
    retain: bool

    @property
    def data(self) -> Any:
        """The payload, decoded from JSON."""
        return json.loads(self.payload)


class Watcher:
    """An MQTT client subscribed to ``<base>/#``, as an operator's dashboard would be."""

    def __init__(
        self, broker: Mosquitto, base: str, *, username: str | None = None, password: str | None = None
    ) -> None:
        self.base = base
        self._client = aiomqtt.Client(
            broker.host, broker.port, username=username, password=password, identifier=f"watcher-{id(self)}"
        )
        self._queues: defaultdict[str, asyncio.Queue[Received]] = defaultdict(asyncio.Queue)
        self._pump: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Watcher:
        await self._client.__aenter__()
        await self._client.subscribe(f"{self.base}/#", qos=1)
        self._pump = asyncio.create_task(self._read(), name="watcher-read")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.wait([self._pump])
        with contextlib.suppress(aiomqtt.MqttError):
            await self._client.__aexit__(exc_type, exc, tb)

    async def _read(self) -> None:
        with contextlib.suppress(aiomqtt.MqttError):  # the broker went away; the test decides what that means
            async for message in self._client.messages:
                raw = message.payload
                assert isinstance(raw, bytes)
                leaf = str(message.topic).removeprefix(self.base + "/")
                self._queues[leaf].put_nowait(Received(leaf, raw, message.retain))

    async def get(self, leaf: str, timeout_s: float = 5.0) -> Received:
        """The next message on ``<base>/<leaf>``; fails the test if none comes within the timeout."""
        try:
            return await asyncio.wait_for(self._queues[leaf].get(), timeout_s)
        except TimeoutError:
            raise AssertionError(f"no message on {self.base}/{leaf} within {timeout_s} s") from None

    async def get_many(self, leaf: str, count: int, timeout_s: float = 5.0) -> list[Received]:
        return [await self.get(leaf, timeout_s) for _ in range(count)]

    def pending(self, leaf: str) -> int:
        return self._queues[leaf].qsize()

    async def send(self, leaf: str, payload: bytes) -> None:
        await self._client.publish(f"{self.base}/{leaf}", payload, qos=1)
