"""Property-based fuzzing of the command schema (kiosk/commands.py) with Hypothesis.

Arbitrary bytes, arbitrary JSON values, nesting of any depth, valid commands and valid commands
mutated (a field dropped, changed or added; the JSON cut, spliced or a byte changed) each either
parse into a valid command or are rejected with one clear line: no other exception, never a
RecursionError. Then a batch of such payloads goes through a real Mosquitto broker to a running
link: each is answered or counted, the link stays up, and the next normal command is answered.

Every run tests the same examples (``derandomize``), and nothing is saved between runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from kiosk.commands import (
    COMMAND_NAMES,
    MAX_DEPTH,
    MAX_PAYLOAD,
    MAX_SAY_CHARS,
    MAX_WATCH_CHARS,
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
from kiosk.mqtt import MqttLink

from .broker import Mosquitto, find_mosquitto
from .test_kiosk_hardening import client
from .test_kiosk_mqtt import RecordingController, mqtt_settings, online, running, watcher

COMMANDS = (Say, Mute, Unmute, Reset, DescribeNow, SetVolume, Shutdown, SetWatch, ListWatches, Unwatch)
SURROGATE = re.compile("[\ud800-\udfff]")
MAX_MESSAGE = 500  # characters of a rejection: a payload's own text in it is quoted and cut


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# --- strategies ---------------------------------------------------------------------------------

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
json_values = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=25,
)
say_text = st.text(st.characters(exclude_categories=["Cs", "Cc"]), min_size=1, max_size=MAX_SAY_CHARS).filter(str.strip)
watch_text = st.text(st.characters(exclude_categories=["Cs", "Cc"]), min_size=1, max_size=MAX_WATCH_CHARS).filter(
    str.strip
)
command_ids = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=64)


@st.composite
def valid_commands(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(COMMAND_NAMES))
    command: dict[str, Any] = {"id": draw(command_ids), "cmd": name}
    if name == "say":
        command["text"] = draw(say_text)
    elif name == "set_volume":
        command["level"] = draw(st.floats(0.0, 1.0) | st.integers(0, 1))
    elif name == "watch":
        command["request"] = draw(watch_text)
    elif name == "unwatch" and draw(st.booleans()):
        command["name"] = draw(st.text(st.characters(exclude_categories=["Cs", "Cc"]), max_size=MAX_WATCH_CHARS))
    keys = draw(st.permutations(list(command)))  # field order is free
    return {key: command[key] for key in keys}


def encode(value: Any, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


@st.composite
def mutated_commands(draw: st.DrawFn) -> bytes:
    command = draw(valid_commands())
    kind = draw(st.sampled_from(["drop", "change", "add", "wrap", "cut", "splice", "byte"]))
    if kind == "drop":
        del command[draw(st.sampled_from(sorted(command)))]
    elif kind == "change":
        command[draw(st.sampled_from(sorted(command)))] = draw(json_values)
    elif kind == "add":
        command[draw(st.text(max_size=60))] = draw(json_values)
    elif kind == "wrap":
        return encode(
            draw(st.sampled_from([[command], {"cmd": command}, {"id": "w", "cmd": "say", "text": command}])), True
        )
    raw = encode(command, draw(st.booleans()))
    if kind in ("cut", "splice", "byte"):
        at = draw(st.integers(0, len(raw)))
        if kind == "cut":
            raw = raw[:at]
        elif kind == "splice":
            raw = raw[:at] + draw(st.binary(min_size=1, max_size=20)) + raw[at:]
        elif at < len(raw):
            raw = raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1 :]
    return raw


@st.composite
def nested(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(0, 3000))
    opener = draw(st.sampled_from([b"[", b'{"a": ', b'{"id": "n", "cmd": "say", "text": ']))
    closer = b"]" if opener == b"[" else b"}"
    inner = draw(st.sampled_from([b"", b"1", b'"x"', b"[]"]))
    closed = draw(st.booleans())
    return opener * depth + inner + (closer * depth if closed else b"")


any_payload = st.one_of(
    st.binary(max_size=MAX_PAYLOAD + 200),
    json_values.map(lambda value: encode(value, True)),
    valid_commands().map(lambda command: encode(command, False)),
    mutated_commands(),
    nested(),
)


# --- the property -------------------------------------------------------------------------------


def outcome(payload: bytes) -> Command | CommandRejected:
    """Parses one payload and checks the result; any other exception fails the test."""
    try:
        command = parse_command(payload)
    except CommandRejected as rejected:
        message = rejected.message
        assert message and len(message.splitlines()) == 1 and message == message.strip(), message
        assert len(message) <= MAX_MESSAGE, message
        assert rejected.command_id is None or 1 <= len(rejected.command_id) <= 64
        return rejected
    assert isinstance(command, COMMANDS)
    # What the kiosk accepted reads back as the same command.
    assert parse_command(command.model_dump_json().encode()) == command
    return command


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@fuzz_settings(1000)
@given(st.binary(max_size=MAX_PAYLOAD + 200))
def test_arbitrary_bytes_parse_or_get_one_line(payload: bytes) -> None:
    outcome(payload)


@fuzz_settings(1000)
@given(json_values)
def test_arbitrary_json_values_parse_or_get_one_line(value: Any) -> None:
    payload = encode(value, True)
    result = outcome(payload)
    if len(payload) > MAX_PAYLOAD:
        assert isinstance(result, CommandRejected) and "over the limit" in result.message
    elif _depth(value) > MAX_DEPTH:
        assert isinstance(result, CommandRejected) and "nested deeper" in result.message
    elif not isinstance(value, dict):
        assert isinstance(result, CommandRejected) and result.message == "payload must be a JSON object"


@fuzz_settings(300)
@given(nested())
def test_any_nesting_is_refused_or_parsed_without_recursion(payload: bytes) -> None:
    result = outcome(payload)
    depth = payload.count(b"[") + payload.count(b"{")
    if depth > MAX_DEPTH and len(payload) <= MAX_PAYLOAD:
        assert isinstance(result, CommandRejected) and "nested deeper" in result.message


@fuzz_settings(500)
@given(valid_commands(), st.booleans())
def test_valid_commands_parse_to_what_was_sent(command: dict[str, Any], ascii_only: bool) -> None:
    parsed = outcome(encode(command, ascii_only))
    assert not isinstance(parsed, CommandRejected), (command, parsed)
    expected = {key: value.strip() if key in ("text", "request", "name") else value for key, value in command.items()}
    if command["cmd"] == "unwatch":
        expected.setdefault("name", "")  # no name: every watch
    assert parsed.model_dump() == expected  # a level of 1 reads as 1.0, which compares equal


@fuzz_settings(1500)
@given(mutated_commands())
def test_mutated_commands_parse_or_get_one_line_with_their_id(payload: bytes) -> None:
    result = outcome(payload)
    if not isinstance(result, CommandRejected) or len(payload) > MAX_PAYLOAD:
        return
    try:
        data = json.loads(payload)
    except ValueError:
        return
    command_id = data.get("id") if isinstance(data, dict) else None
    # An id the result can carry: 1 to 64 characters, and no lone surrogate (escaped, json.loads takes one).
    readable = isinstance(command_id, str) and 1 <= len(command_id) <= 64 and not SURROGATE.search(command_id)
    if readable and _depth(data) <= MAX_DEPTH:
        assert result.command_id == data["id"], (payload, result.message)  # the operator can match the error


def test_known_findings_stay_fixed() -> None:
    """What the fuzzing found once: an unknown field's name, echoed whole, broke the line or ran to 4 KiB."""
    for key in ("two\nlines", "k" * 3000, "sep\u2028arator", "nel\x85"):
        result = outcome(json.dumps({"id": "f", "cmd": "mute", key: 1}).encode())
        assert isinstance(result, CommandRejected) and result.command_id == "f"
        assert result.message.startswith("unknown field '")


# --- a batch through a real broker --------------------------------------------------------------


def generated_batch(count: int) -> list[bytes]:
    """``count`` payloads from the strategies above, the same at every run (Hypothesis, derandomized)."""
    found: list[bytes] = []

    @settings(fuzz_settings(count), phases=[Phase.generate])
    @given(any_payload)
    def collect(payload: bytes) -> None:
        found.append(payload)

    collect()
    return found


def expected_result(payload: bytes) -> tuple[str | None, bool, str]:
    """(id, ok, error or cmd) of the result the link must publish for this payload."""
    result = outcome(payload)
    if isinstance(result, CommandRejected):
        return result.command_id, False, result.message
    return result.id, True, result.cmd


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with Mosquitto(tmp_path) as running_broker:
        yield running_broker


@pytest.mark.skipif(find_mosquitto() is None, reason="mosquitto not installed (make system)")
async def test_a_fuzzed_batch_through_the_broker_is_answered_or_counted(broker: Mosquitto) -> None:
    payloads = generated_batch(200)
    sent = len(payloads)
    assert sent >= 150 and len(set(payloads)) >= 100
    expected = Counter(expected_result(p) for p in payloads)
    assert sum(n for (_, ok, _), n in expected.items() if ok) >= 10  # valid commands are in the mix
    # Rate limiting has its own test: here every valid command runs.
    settings = mqtt_settings(broker, command_burst=sent + 1)
    controller = RecordingController()
    link = MqttLink(settings, controller=controller)
    async with watcher(broker, settings) as w, running(link) as (_, task):
        await online(w)
        async with client(broker, "fuzzer") as fuzzer:
            fuzzer.pending_calls_threshold = sent  # aiomqtt warns of each publish beyond 10 waiting for its ack
            await asyncio.gather(*(fuzzer.publish("omnilive/k1/cmd", p, qos=1) for p in payloads))
        answered: list[dict[str, Any]] = []

        def counted() -> int:
            stats = link.stats
            return stats.commands_dropped + stats.commands_ignored + stats.results_dropped

        while len(answered) + counted() < sent:
            try:
                answered.append((await w.get("cmd/result", timeout_s=10)).data)
            except AssertionError:
                raise AssertionError(f"{sent} sent, {len(answered)} answered, {counted()} counted") from None
        # Nothing more is on its way: the next result is the next command's.
        await w.send("cmd", b'{"id": "after-fuzz", "cmd": "mute"}')
        assert (await w.get("cmd/result")).data == {"id": "after-fuzz", "ok": True, "cmd": "mute"}
        got = Counter(summary(r) for r in answered)
        assert got <= expected and got.total() == len(answered)  # each result is one the schema says
        batch = dataclasses.replace(link.stats)
        # The same payloads again, a few at a time (fewer than either queue holds), so that none is
        # dropped: each few get exactly the results the schema says.
        for start in range(0, sent, 8):
            few = payloads[start : start + 8]
            await asyncio.gather(*(w.send("cmd", payload) for payload in few))
            results = Counter(summary(r.data) for r in await w.get_many("cmd/result", len(few)))
            assert results == Counter(expected_result(p) for p in few), few
        assert not task.done() and link.connected
    assert len(answered) + counted() == sent
    assert batch.commands_ok + batch.commands_rejected + batch.commands_dropped == sent + 1
    stats = link.stats
    assert (stats.connects, stats.reconnects, stats.connect_failures) == (1, 0, 0)
    assert stats.commands_rate_limited == stats.commands_failed == stats.results_dropped == 0
    assert counted() == batch.commands_dropped  # none more in the second pass
    assert stats.commands_ok + stats.commands_rejected + stats.commands_dropped == 2 * sent + 1
    assert len(controller.calls) == stats.commands_ok


def summary(result: dict[str, Any]) -> tuple[str | None, bool, str]:
    """(id, ok, cmd or error) of a published result, to compare with :func:`expected_result`."""
    return result["id"], result["ok"], result["cmd"] if result["ok"] else result["error"]
