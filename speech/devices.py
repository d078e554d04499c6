"""Audio devices through PortAudio (``sounddevice``): lookup, listing, and the retry backoff.

A device is named by index, by a substring of its name, or left to the default.
Every failure to find or open one becomes a one-line :class:`DeviceError` that
names what was asked for and lists what is there, e.g.::

    microphone 'usb': not found; input devices: 0 'sim_mic', 2 'default'

PortAudio reads the device list once, when it is initialised; a device plugged
in later is not seen until the process restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Literal

from kernel.errors import DeviceError

log = logging.getLogger(__name__)

Direction = Literal["input", "output"]
_ROLE = {"input": "microphone", "output": "speaker"}
_CHANNELS = {"input": "max_input_channels", "output": "max_output_channels"}


def portaudio() -> Any:
    """The ``sounddevice`` module; a :class:`DeviceError` when PortAudio is missing."""
    try:
        import sounddevice
    except OSError as exc:  # sounddevice raises OSError when libportaudio cannot be loaded
        raise DeviceError(f"audio: PortAudio is not available ({exc}); install libportaudio2") from exc
    return sounddevice


def audio_devices(direction: Direction) -> list[tuple[int, str]]:
    """``(index, name)`` of every device with channels in ``direction``."""
    sd = portaudio()
    key = _CHANNELS[direction]
    return [(i, str(d["name"])) for i, d in enumerate(sd.query_devices()) if int(d[key]) > 0]


def describe_available(direction: Direction) -> str:
    devices = audio_devices(direction)
    if not devices:
        return f"no {direction} devices found (PortAudio sees no sound card)"
    return f"{direction} devices: " + ", ".join(f"{i} '{name}'" for i, name in devices)


def device_error(direction: Direction, spec: str | int | None, problem: str) -> DeviceError:
    """A one-line error naming the device and listing the devices there are."""
    asked = "default" if spec is None else repr(spec) if isinstance(spec, str) else str(spec)
    line = f"{_ROLE[direction]} {asked}: {problem}; {describe_available(direction)}"
    return DeviceError(" ".join(line.split()), retryable=True)


def resolve_audio_device(spec: str | int | None, direction: Direction) -> tuple[int, str]:
    """The PortAudio index and name of the device ``spec`` names.

    ``None`` is the default device; an int or a string of digits is an index; any
    other string matches a device name exactly (case-insensitive) or else as a
    substring, first match wins."""
    devices = audio_devices(direction)
    if spec is None:
        sd = portaudio()
        default = sd.default.device[0 if direction == "input" else 1]
        index = int(default) if default is not None else -1
        for i, name in devices:
            if i == index:
                return i, name
        if devices:  # no system default: take the first device there is
            return devices[0]
        raise device_error(direction, spec, "no default device")
    if isinstance(spec, int) or spec.strip().isdigit():
        index = int(spec)
        for i, name in devices:
            if i == index:
                return i, name
        raise device_error(direction, spec, f"no {direction} device with that index")
    wanted = spec.strip().lower()
    exact = [d for d in devices if d[1].lower() == wanted]
    matches = exact or [d for d in devices if wanted in d[1].lower()]
    if not matches:
        raise device_error(direction, spec, "not found")
    return matches[0]


def list_audio_devices() -> list[str]:
    """One line per audio device, for ``--list-devices``."""
    try:
        sd = portaudio()
        devices = sd.query_devices()
    except DeviceError as exc:
        return [str(exc)]
    default_in, default_out = (int(x) if x is not None else -1 for x in sd.default.device)
    lines = []
    for i, d in enumerate(devices):
        marks = [m for m, on in (("default input", i == default_in), ("default output", i == default_out)) if on]
        lines.append(
            f"{i}: {d['name']} ({d['max_input_channels']} in, {d['max_output_channels']} out, "
            f"{float(d['default_samplerate']):.0f} Hz)" + (f" [{', '.join(marks)}]" if marks else "")
        )
    return lines


def call_on_loop(loop: asyncio.AbstractEventLoop | None, fn: Callable[..., None], *args: Any) -> None:
    """From an audio thread: run ``fn(*args)`` on the loop, never blocking; a closed loop is ignored."""
    if loop is not None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the session is over
            loop.call_soon_threadsafe(fn, *args)


def close_quietly(stream: Any, role: str) -> None:
    """Close a PortAudio stream; a lost device may fail to close, and it is gone either way."""
    if stream is None:
        return
    try:
        stream.close(ignore_errors=True)
    except Exception:
        log.debug("%s: closing the stream failed", role, exc_info=True)


class Backoff:
    """Delays between reconnection attempts: ``initial`` doubling up to ``maximum``."""

    def __init__(self, initial: float = 0.5, maximum: float = 5.0) -> None:
        if initial <= 0 or maximum < initial:
            raise ValueError("Backoff needs 0 < initial <= maximum")
        self.initial = initial
        self.maximum = maximum
        self._next = initial

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        return delay

    def reset(self) -> None:
        self._next = self.initial


class Reconnector:
    """Reopens a lost stream on event-loop timers, with backoff, reporting each step.

    ``reopen()`` opens the device again and returns a line for ``"restored"``, or raises
    :class:`DeviceError`, which is reported as ``"retrying"`` before the next try."""

    def __init__(
        self,
        role: str,
        reopen: Callable[[], str],
        on_status: Callable[[str, str], None] | None,
        backoff: Backoff,
    ) -> None:
        self.role = role
        self.reopen = reopen
        self.on_status = on_status
        self.backoff = backoff
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def pending(self) -> bool:
        return self._timer is not None

    def report(self, state: str, message: str) -> None:
        log.log(logging.INFO if state == "restored" else logging.WARNING, "%s %s: %s", self.role, state, message)
        if self.on_status is not None:
            self.on_status(state, message)

    def lost(self, loop: asyncio.AbstractEventLoop, message: str) -> None:
        """The stream stopped on its own: report it and start retrying."""
        self._loop = loop
        self.backoff.reset()
        self.report("lost", message)
        self._schedule()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._loop = None

    def _schedule(self) -> None:
        if self._loop is not None:
            self._timer = self._loop.call_later(self.backoff.next(), self._try)

    def _try(self) -> None:
        self._timer = None
        try:
            message = self.reopen()
        except DeviceError as exc:
            self.report("retrying", str(exc))
            self._schedule()
            return
        self.report("restored", message)
