"""The remote command schema: JSON objects on ``<prefix>/<kiosk_id>/cmd``.

Every command is an object with ``cmd`` (which command) and ``id`` (1..64
characters, echoed in its result), plus the command's own fields::

    {"id": "a1", "cmd": "say", "text": "Welcome!"}        text: 1..500 characters, no control characters
    {"id": "a2", "cmd": "mute"}
    {"id": "a3", "cmd": "unmute"}
    {"id": "a4", "cmd": "reset"}                          clear the conversation
    {"id": "a5", "cmd": "describe_now"}
    {"id": "a6", "cmd": "set_volume", "level": 0.5}       0..1
    {"id": "a7", "cmd": "shutdown"}
    {"id": "a8", "cmd": "watch", "request": "Tell me when you see a cat."}   as a user would ask, English or Chinese
    {"id": "a9", "cmd": "watches"}                       the standing watches
    {"id": "b1", "cmd": "unwatch", "name": "cat"}         name: optional, all when left out

Validation is strict: no unknown fields, no coercion (``"0.5"`` is not a level),
at most :data:`MAX_PAYLOAD` bytes of UTF-8, arrays and objects nested at most
:data:`MAX_DEPTH` deep (checked before any parsing: a command is one flat object, and a
deeply nested payload must not exhaust the parser's stack). :func:`parse_command` turns a
payload into a :data:`Command` or raises :class:`CommandRejected` with one clear line;
a controller raises :class:`CommandFailed` for a valid command it cannot carry out.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from kernel.errors import AssistantError
from kernel.settings_base import StrictModel

MAX_PAYLOAD = 4096  # bytes of UTF-8
MAX_DEPTH = 4  # arrays and objects inside one another; a valid command has 1
MAX_SAY_CHARS = 500
MAX_WATCH_CHARS = 200
# C0 controls but tab and line breaks, DEL, C1 controls: nothing a voice can say, and a NUL breaks the TTS.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

CommandId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


def _no_controls(text: str) -> str:
    found = _CONTROL.search(text)
    if found is not None:
        raise PydanticCustomError(
            "control_character", f"control character U+{ord(found.group()):04X} at position {found.start()}"
        )
    return text


class _Command(StrictModel):
    model_config = ConfigDict(strict=True, frozen=True)

    id: CommandId


class Say(_Command):
    cmd: Literal["say"]
    text: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_SAY_CHARS),
        AfterValidator(_no_controls),
    ]


class Mute(_Command):
    cmd: Literal["mute"]


class Unmute(_Command):
    cmd: Literal["unmute"]


class Reset(_Command):
    """Clear the conversation."""

    cmd: Literal["reset"]


class DescribeNow(_Command):
    cmd: Literal["describe_now"]


class SetVolume(_Command):
    cmd: Literal["set_volume"]
    level: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


class Shutdown(_Command):
    cmd: Literal["shutdown"]


class SetWatch(_Command):
    """Set a standing watch, worded as a user would ask for it ("Tell me when someone comes in.")."""

    cmd: Literal["watch"]
    request: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_WATCH_CHARS),
        AfterValidator(_no_controls),
    ]


class ListWatches(_Command):
    cmd: Literal["watches"]


class Unwatch(_Command):
    """Clear the watches for ``name`` ("cat", "someone", the words of a sign), or all of them."""

    cmd: Literal["unwatch"]
    name: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=MAX_WATCH_CHARS), AfterValidator(_no_controls)
    ] = ""


Command = Annotated[
    Say | Mute | Unmute | Reset | DescribeNow | SetVolume | Shutdown | SetWatch | ListWatches | Unwatch,
    Field(discriminator="cmd"),
]
COMMAND_NAMES = ("say", "mute", "unmute", "reset", "describe_now", "set_volume", "shutdown", "watch", "watches",
                 "unwatch")

_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)


class CommandError(AssistantError):
    """A remote command that was not carried out; its message is the ``error`` line of the command's result.

    The kiosk's branch of the tree in :mod:`kernel.errors`, code ``command``.
    """

    code = "command"


class CommandRejected(CommandError):
    """A command payload that does not match the schema; ``command_id`` is its id when one could be read."""

    def __init__(self, command_id: str | None, message: str) -> None:
        super().__init__(message)
        self.command_id = command_id


class CommandFailed(CommandError):
    """A valid command that the kiosk cannot carry out now (no camera, still starting, muted, ...);
    ``retryable`` when the same command may succeed later without anyone changing anything."""


def parse_command(payload: bytes) -> Command:
    """Validate one ``cmd`` payload; raises :class:`CommandRejected` with a one-line reason."""
    if len(payload) > MAX_PAYLOAD:
        raise CommandRejected(None, f"payload of {len(payload)} bytes is over the limit of {MAX_PAYLOAD}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandRejected(None, "payload is not valid UTF-8") from None
    if _too_deep(text):
        raise CommandRejected(None, f"payload has arrays or objects nested deeper than {MAX_DEPTH} levels")
    try:
        return _ADAPTER.validate_json(text)
    except ValidationError as exc:
        raise CommandRejected(_readable_id(text), _describe(exc.errors()[0])) from None


def _too_deep(text: str) -> bool:
    """Whether arrays and objects nest deeper than :data:`MAX_DEPTH`, outside strings; no parsing."""
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _readable_id(text: str) -> str | None:
    """The command's id, if the payload is a JSON object with a valid one, for the error result."""
    try:
        data: Any = json.loads(text)
    except (ValueError, RecursionError):  # nesting is bounded before this; a second guard costs nothing
        return None
    if not isinstance(data, dict):
        return None
    try:
        return TypeAdapter(CommandId).validate_python(data.get("id"), strict=True)
    except ValidationError:
        return None


def _quoted(value: object, limit: int = 40) -> str:
    """A value from the payload, quoted on one line (repr escapes line breaks) and cut to ``limit`` characters."""
    text = str(value)
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _describe(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "json_invalid":
        return "payload is not valid JSON"
    if kind in ("model_attributes_type", "model_type", "dict_type") and not error["loc"]:
        return "payload must be a JSON object"
    if kind == "union_tag_not_found":
        return "missing field 'cmd'"
    if kind == "union_tag_invalid":
        return f"unknown cmd {_quoted(error.get('ctx', {}).get('tag'))} (expected one of: {', '.join(COMMAND_NAMES)})"
    # loc is (cmd, field, ...): the tag first, then where in that command's model.
    where = ".".join(str(part) for part in error["loc"][1:])
    if kind == "missing":
        return f"missing field '{where}'"
    if kind == "extra_forbidden":  # the payload's own key: it may hold line breaks, or 4 KiB
        return f"unknown field {_quoted(where)}"
    return f"{where}: {error['msg']}" if where else error["msg"]
