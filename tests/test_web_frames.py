"""What a hostile page sends the browser mode (issue 25). Camera frames are checked from their
header before they are decoded, and decoded off the event loop: a huge JPEG, a PNG, an empty or
broken payload are refused and counted; a frame the page really sends arrives. A control message
nested too deep for the JSON parser is ignored."""

from __future__ import annotations

import asyncio
import struct
import time
from pathlib import Path

import aiohttp
import cv2
import numpy as np
import pytest

from assistant.state import StateTracker
from kernel.channels import Channel, Overflow
from kernel.clock import FakeClock
from omnilive.settings import load_settings, parse_override
from perception.frames import Frame
from web.devices import MAX_FRAME_PIXELS, BrowserCamera, jpeg_problem
from web.server import WebServer, serving


def jpeg(width: int = 64, height: int = 48) -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((height, width, 3), 128, np.uint8))
    assert ok
    return bytes(data)


def claiming(size: tuple[int, int]) -> bytes:
    """A small real JPEG whose frame header (SOF0) says it is ``size`` (width, height)."""
    data = bytearray(jpeg())
    at = data.index(b"\xff\xc0")
    data[at + 5 : at + 9] = struct.pack(">HH", size[1], size[0])
    return bytes(data)


def reason(data: bytes) -> str | None:
    problem = jpeg_problem(data)
    return problem[0] if problem is not None else None


def test_the_header_decides_before_any_decoding() -> None:
    assert jpeg_problem(jpeg(640, 480)) is None
    started = time.perf_counter()
    huge = jpeg_problem(claiming((11000, 11000)))
    assert huge is not None and huge[0] == "too_large" and "11000 x 11000" in huge[1]
    assert time.perf_counter() - started < 0.5  # a decode of 11000 x 11000 takes over a second
    _, png = cv2.imencode(".png", np.zeros((16, 16, 3), np.uint8))
    assert jpeg_problem(bytes(png)) == ("not_jpeg", "it is not a JPEG")
    assert reason(b"") == "not_jpeg" and reason(b"\xff\xd8\xff\xe0garbage") == "undecodable"
    assert MAX_FRAME_PIXELS == 1920 * 1080
    assert reason(claiming((1920, 1080))) is None and reason(claiming((1921, 1080))) == "too_large"


async def test_refused_frames_are_counted_and_a_good_one_arrives() -> None:
    camera = BrowserCamera()
    frames: Channel[Frame] = Channel("camera", 8, Overflow.DROP_OLDEST)
    camera.start(asyncio.get_running_loop(), frames, FakeClock(), lambda t: True)
    _, png = cv2.imencode(".png", np.zeros((16, 16, 3), np.uint8))
    for bad in (b"", bytes(png), claiming((11000, 11000)), claiming((16000, 16000))):
        camera.feed(bad)
    assert dict(camera.refused) == {"not_jpeg": 2, "too_large": 2} and camera.bad == 4
    camera.feed(jpeg(640, 480))
    camera.feed(jpeg(640, 480))  # while the first is being decoded: skipped, not queued
    frame = await asyncio.wait_for(frames.get(), 10)
    assert frame.image.shape == (480, 640, 3) and camera.refused["busy"] == 1
    camera.feed(b"\xff\xd8" + b"\x00" * 100)  # a JPEG start and nothing readable after it
    assert camera.refused["undecodable"] == 1
    camera.close()


def test_a_deeply_nested_control_message_is_ignored(tmp_path: Path) -> None:
    """``"[" * 100000`` raised RecursionError out of the socket's reader and ended the session."""
    settings = load_settings(None, [parse_override("mode=web")])
    server = WebServer(settings, settings.web, None, tmp_path, token=None)
    tracker = StateTracker()
    for text in ("[" * 100_000, '{"type": "mute", "muted": ' * 50_000, "not json", "[]"):
        server._control(text, [], tracker)  # returns: nothing to do, nothing raised


async def test_a_rebinding_page_on_another_host_name_is_refused_without_a_token(tmp_path: Path) -> None:
    """No token: loopback only, and a page must name the server as loopback. A DNS-rebinding page
    at evil.example (resolved to 127.0.0.1) sent ``Host`` and ``Origin`` of evil.example and got in."""
    settings = load_settings(None, [parse_override("mode=web"), parse_override("web.port=0")])
    server = WebServer(settings, settings.web, None, tmp_path, token=None)
    async with serving(server) as url, aiohttp.ClientSession() as http:
        port = url.rstrip("/").rsplit(":", 1)[1]
        evil = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
        async with http.get(url + "?view=display", headers={"Host": evil["Host"]}) as page:
            assert page.status == 403
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(url + "ws?view=display", headers=evil)
        assert info.value.status == 403
        for name in ("127.0.0.1", "localhost"):  # the names a user opens it at
            own = {"Host": f"{name}:{port}", "Origin": f"http://{name}:{port}"}
            async with http.get(url + "?view=display", headers={"Host": own["Host"]}) as page:
                assert page.status == 200
            ws = await http.ws_connect(url + "ws?view=display", headers=own)
            assert (await ws.receive_json(timeout=10))["type"] == "hello"
            await ws.close()
