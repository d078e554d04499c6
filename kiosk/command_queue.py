"""Remote commands, from the ``cmd`` topic to the :class:`Controller` and back as a ``cmd/result``.

Every command gets a result or is counted in ``metrics``: a message that finds
aiomqtt's incoming queue (:data:`kiosk.broker.INCOMING_QUEUE`) full is dropped
(``commands_dropped``); a retained one is ignored (``commands_ignored``: it would
run again at every start); a valid command over the rate (``command_rate`` a second
after a ``command_burst``) is refused as rate limited (``commands_rate_limited``);
one that finds :data:`COMMAND_QUEUE` commands waiting is refused as busy, and those
still waiting at a clean stop are refused as stopping (``commands_rejected``).
Nothing one command does (a parser error, a controller's odd answer) ends the link.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

import aiomqtt

from .broker import INCOMING_QUEUE, LOGGER, one_line
from .commands import (
    Command,
    CommandRejected,
    DescribeNow,
    ListWatches,
    Mute,
    Reset,
    Say,
    SetVolume,
    SetWatch,
    Shutdown,
    Unmute,
    Unwatch,
    parse_command,
)
from .linkstats import LinkStats
from .outbox import Outbox
from .settings import MqttSettings

log = logging.getLogger(LOGGER)

COMMAND_QUEUE = 16


class Controller(Protocol):
    """What remote commands act on. Each method may return details for the result, or raise.

    Calls run one at a time, in the order the commands arrived, each bounded by
    ``settings.command_timeout_s``: return once the action is under way (``say``
    queues the text), not when it is over.
    """

    async def say(self, text: str) -> dict[str, Any] | None: ...
    async def mute(self) -> dict[str, Any] | None: ...
    async def unmute(self) -> dict[str, Any] | None: ...
    async def reset(self) -> dict[str, Any] | None: ...
    async def describe_now(self) -> dict[str, Any] | None: ...
    async def set_volume(self, level: float) -> dict[str, Any] | None: ...
    async def shutdown(self) -> dict[str, Any] | None: ...
    async def watch(self, request: str) -> dict[str, Any] | None: ...
    async def watches(self) -> dict[str, Any] | None: ...
    async def unwatch(self, name: str) -> dict[str, Any] | None: ...


class TokenBucket:
    """``burst`` tokens at once, refilled at ``rate`` a second; :meth:`take` is False when none is left."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class CommandQueue:
    """Reads commands (:meth:`receive`, one per connection), queues them, and runs them one at a
    time on the controller (:meth:`run`, for the life of the link); results go to the outbox."""

    def __init__(
        self,
        settings: MqttSettings,
        controller: Controller | None,
        outbox: Outbox,
        stats: LinkStats,
        *,
        changed: Callable[[], None],
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self._controller = controller
        self._outbox = outbox
        self._stats = stats
        self._changed = changed
        self._bucket = TokenBucket(settings.command_rate, settings.command_burst, clock)
        self._commands: asyncio.Queue[Command] = asyncio.Queue(maxsize=COMMAND_QUEUE)
        self._warned_dropping = False
        self._warned_rate = False

    @property
    def waiting(self) -> int:
        return self._commands.qsize()

    # --- in: from the broker to the queue -------------------------------------------------------

    async def receive(self, client: aiomqtt.Client) -> None:
        """Takes each message on the subscribed ``cmd`` topic, until the connection ends."""
        async for message in client.messages:
            if message.retain:
                self._ignore_retained(str(message.topic))
                continue
            payload = message.payload
            if isinstance(payload, bytes | bytearray):
                raw = bytes(payload)
            else:
                raw = b"" if payload is None else str(payload).encode("utf-8")
            try:
                self._take(raw)
            except Exception:  # one command must never end the link
                log.exception("MQTT command: unexpected error")
                self._reject(None, "internal error while reading this command")
            if not len(client.messages):
                self._warned_dropping = False
            self._changed()

    def incoming_dropped(self) -> None:
        """Counts a message that found aiomqtt's incoming queue full (it is dropped, with no result)."""
        self._stats.commands_dropped += 1
        self._changed()
        if not self._warned_dropping:
            self._warned_dropping = True
            log.warning("MQTT commands arrive faster than they are read (%d waiting): dropping them", INCOMING_QUEUE)

    def refuse_waiting(self, reason: str) -> None:
        """Answers every command still waiting with ``reason``: they will not run."""
        while not self._commands.empty():
            self._reject(self._commands.get_nowait().id, reason)

    def _ignore_retained(self, topic: str) -> None:
        """A retained command was sent to an earlier subscriber (or none): running it at each start
        would repeat it forever (a retained shutdown is a restart loop)."""
        self._stats.commands_ignored += 1
        self._changed()
        log.warning(
            "MQTT command ignored: it is retained on %s (it would run again at every start); "
            "clear it with: mosquitto_pub -r -n -t '%s'",
            topic,
            topic,
        )

    def _take(self, payload: bytes) -> None:
        try:
            command = parse_command(payload)
        except CommandRejected as exc:
            self._reject(exc.command_id, exc.message)
            return
        if self._controller is None:
            self._reject(command.id, "this kiosk takes no commands")
            return
        if not self._bucket.take():
            self._rate_limited(command.id)
            return
        self._warned_rate = False
        try:
            self._commands.put_nowait(command)
        except asyncio.QueueFull:
            self._reject(command.id, f"busy: {COMMAND_QUEUE} commands are waiting")

    def _rate_limited(self, command_id: str) -> None:
        self._stats.commands_rate_limited += 1
        rate, burst = self.settings.command_rate, self.settings.command_burst
        message = f"rate limited: at most {rate:g} commands a second (bursts of {burst})"
        if not self._warned_rate:  # one line per flood, not one per command
            self._warned_rate = True
            log.warning("MQTT commands %s; refusing until the rate drops (first id %s)", message, command_id)
        self._outbox.put("cmd/result", {"id": command_id, "ok": False, "error": message})

    def _reject(self, command_id: str | None, message: str) -> None:
        self._stats.commands_rejected += 1
        log.warning("MQTT command rejected (id %s): %s", command_id, message)
        self._outbox.put("cmd/result", {"id": command_id, "ok": False, "error": message})

    # --- out: from the queue to the controller --------------------------------------------------

    async def run(self) -> None:
        """Runs the queued commands one at a time, forever."""
        while True:
            command = await self._commands.get()
            try:
                await self._execute(command)
            except Exception:  # a controller's odd answer must not end the command loop, nor the link
                log.exception("MQTT command %s (id %s): unexpected error", command.cmd, command.id)
                self._stats.commands_failed += 1
                error = f"{command.cmd} failed: internal error"
                self._outbox.put("cmd/result", {"id": command.id, "ok": False, "cmd": command.cmd, "error": error})

    async def _execute(self, command: Command) -> None:
        timeout = self.settings.command_timeout_s
        try:
            async with asyncio.timeout(timeout):
                details = await self._dispatch(command)
        except TimeoutError:
            error = f"{command.cmd} took longer than {timeout:g} s"
        except Exception as exc:
            error = f"{command.cmd} failed: {one_line(exc)}"
        else:
            result: dict[str, Any] = {"id": command.id, "ok": True, "cmd": command.cmd}
            for key, value in (details or {}).items():
                result.setdefault(key, value)
            self._outbox.put("cmd/result", result)
            self._stats.commands_ok += 1
            log.info("MQTT command %s (id %s) done", command.cmd, command.id)
            return
        self._stats.commands_failed += 1
        log.warning("MQTT command %s (id %s): %s", command.cmd, command.id, error)
        self._outbox.put("cmd/result", {"id": command.id, "ok": False, "cmd": command.cmd, "error": error})

    async def _dispatch(self, command: Command) -> dict[str, Any] | None:
        controller = self._controller
        assert controller is not None  # commands are queued only when there is one
        match command:
            case Say(text=text):
                return await controller.say(text)
            case Mute():
                return await controller.mute()
            case Unmute():
                return await controller.unmute()
            case Reset():
                return await controller.reset()
            case DescribeNow():
                return await controller.describe_now()
            case SetVolume(level=level):
                return await controller.set_volume(level)
            case Shutdown():
                return await controller.shutdown()
            case SetWatch(request=request):
                return await controller.watch(request)
            case ListWatches():
                return await controller.watches()
            case Unwatch(name=name):
                return await controller.unwatch(name)
