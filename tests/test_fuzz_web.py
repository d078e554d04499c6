"""Property-based fuzzing of what the browser mode reads from a page (issue 25), with Hypothesis:
the control-message parser, the microphone's PCM and the camera frame's header check take any
text or bytes without raising, and valid commands still do what they say. Every run tests the
same examples (``derandomize``), and nothing is saved between runs."""

from __future__ import annotations

import asyncio
import json
import struct
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.state import StateTracker
from kernel.channels import Channel, Overflow
from omnilive.settings import load_settings, parse_override
from speech.audio import BLOCK
from web.devices import BrowserMic, jpeg_problem
from web.server import WebServer

SETTINGS = settings(max_examples=300, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
commands = st.fixed_dictionaries({"type": st.sampled_from(["mute", "volume", "other", ""])},
                                 optional={"muted": json_values, "level": json_values})


class FakePipeline:
    """The two controls a page may set (assistant.pipeline.Pipeline's), remembered."""

    voiced = True
    manager = None

    def __init__(self) -> None:
        self.muted: list[bool] = []
        self.volumes: list[float] = []

    def set_muted(self, muted: bool) -> None:
        self.muted.append(muted)

    def set_volume(self, level: float) -> None:
        self.volumes.append(level)


def server(tmp_path: Path) -> WebServer:
    web = load_settings(None, [parse_override("mode=web")])
    return WebServer(web, web.web, None, tmp_path, token=None)


@SETTINGS
@given(text=st.text(max_size=300) | json_values.map(json.dumps) | commands.map(json.dumps))
def test_any_control_text_is_ignored_or_obeyed_as_it_says(tmp_path_factory: Any, text: str) -> None:
    pipeline = FakePipeline()
    server(tmp_path_factory.mktemp("s"))._control(text, [pipeline], StateTracker())  # type: ignore[list-item]
    try:
        command = json.loads(text)
    except ValueError:
        command = None
    assert all(isinstance(m, bool) for m in pipeline.muted) and all(0 <= v <= 2 for v in pipeline.volumes)
    if pipeline.muted:
        assert isinstance(command, dict) and command["type"] == "mute" and command["muted"] is pipeline.muted[0]
    if pipeline.volumes:
        assert isinstance(command, dict) and command["type"] == "volume"
        assert float(command["level"]) == pipeline.volumes[0]


@SETTINGS
@given(chunks=st.lists(st.binary(max_size=700), max_size=30))
def test_any_pcm_bytes_become_whole_blocks_or_nothing(chunks: list[bytes]) -> None:
    loop = asyncio.new_event_loop()
    try:
        mic = BrowserMic(wall=lambda: 0.0)
        blocks: Channel[Any] = Channel("mic", 1000, Overflow.DROP_OLDEST)
        mic.start(loop, blocks)
        for chunk in chunks:
            mic.feed(chunk)
        samples = sum(len(c) // 2 for c in chunks)  # an odd byte at a message's end is left out
        assert mic.too_fast == 0 and len(blocks) == samples // BLOCK  # under 2 s of audio: all of it taken
    finally:
        loop.close()


@SETTINGS
@given(data=st.binary(max_size=400), size=st.tuples(st.integers(0, 65535), st.integers(0, 65535)),
       at=st.integers(0, 400))
def test_any_frame_header_is_judged_without_raising(data: bytes, size: tuple[int, int], at: int) -> None:
    for frame in (data, b"\xff\xd8" + data, b"\xff\xd8" + data[:at] + b"\xff\xc0" + struct.pack(">HBHH", 17, 8, *size)):
        problem = jpeg_problem(frame)
        assert problem is None or problem[0] in {"not_jpeg", "too_large", "undecodable"}
