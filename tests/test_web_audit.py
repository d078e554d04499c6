"""The browser mode's ways in, tried as a hostile or broken page would (issue 25): HTTP answers
that keep their security headers, token guessing, sockets that send nothing or read nothing,
odd and oversized messages, audio faster than real time, a reload, more tabs than slots. The
server is the real one, with the real models (tiny.en, the offline dialogue, the basic
describer); each defect had a failing test first."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from assistant.models import Models, prepare_models
from web.access import WRONG_TOKENS, WRONG_WINDOW_S
from web.devices import MIC_SLACK_S, BrowserMic, Outbox
from web.protocol import FRAME, MIC
from web.server import SLOT_WAIT_S, WebServer, serving

from .test_web import Finished, events_of, running, web_settings

TOKEN = "a-token-for-the-audit-test"


@pytest.fixture(scope="module")
def models() -> Models:
    return prepare_models(web_settings(), hearing=True, seeing=True)


async def until_type(ws: aiohttp.ClientWebSocketResponse, kind: str, within_s: float = 60) -> dict[str, object]:
    """The first text message of type ``kind`` (the others, ticks and states, are read past)."""
    async with asyncio.timeout(within_s):
        while True:
            message = await ws.receive()
            if message.type == aiohttp.WSMsgType.TEXT and (data := message.json()).get("type") == kind:
                return data  # type: ignore[no-any-return]
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                raise AssertionError(f"closed before a {kind!r} message")


async def test_every_http_answer_keeps_the_security_headers(models: Models, tmp_path: Path) -> None:
    """404 and 405 came from the router without CSP or nosniff. Paths out of /static/, plain or
    encoded, reach nothing; a very long URL or header is refused and the server goes on."""
    async with running(models, tmp_path) as (_server, url, _finished), aiohttp.ClientSession() as http:
        for method, path, status in (("GET", "nothing-here", 404), ("POST", "", 405), ("DELETE", "ws", 405),
                                     ("GET", "static/missing.js", 404)):
            async with http.request(method, url + path) as response:
                assert response.status == status, (method, path)
                assert response.headers.get("X-Content-Type-Options") == "nosniff", (method, path)
                assert "frame-ancestors 'none'" in response.headers.get("Content-Security-Policy", ""), (method, path)
        for sneaky in ("static/../server.py", "static/%2e%2e/server.py", "static/..%2fserver.py",
                       "static/%2e%2e%2f%2e%2e%2fpyproject.toml", "static//etc/passwd"):
            async with http.get(url + sneaky) as response:
                body = await response.text()
                assert response.status in (400, 403, 404), sneaky
                assert "import" not in body and "root:" not in body and "[project]" not in body, sneaky
        async with http.get(url + "?" + "a" * 20_000) as response:
            assert response.status in (400, 414)
        async with http.get(url, headers={"X-Long": "b" * 20_000}) as response:
            assert response.status in (400, 431)
        async with http.get(url) as response:
            assert response.status == 200


async def test_wrong_tokens_from_one_address_are_limited_and_the_token_never_logged(
        models: Models, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    now = [1000.0]
    settings = web_settings()
    server = WebServer(settings, settings.web, models, tmp_path, token=TOKEN, clock=lambda: now[0])
    caplog.set_level(logging.DEBUG)
    async with serving(server) as url, aiohttp.ClientSession() as http:
        for i in range(WRONG_TOKENS):
            async with http.get(f"{url}?token=guess-number-{i:04d}-xxxxxx") as response:
                assert response.status == 401
        async with http.get(f"{url}?token={TOKEN}") as response:  # even the right one, for now
            assert response.status == 429
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(f"{url}ws?token={TOKEN}&view=display")
        assert info.value.status == 429
        now[0] += WRONG_WINDOW_S + 0.1
        async with http.get(f"{url}?token={TOKEN}") as response:
            assert response.status == 200 and "nosniff" in response.headers.get("X-Content-Type-Options", "")
    assert TOKEN not in caplog.text and "guess-number" not in caplog.text


async def test_hello_names_the_output_folder_not_where_the_server_keeps_it(models: Models, tmp_path: Path) -> None:
    async with running(models, tmp_path) as (_server, url, finished), aiohttp.ClientSession() as http:
        ws = await http.ws_connect(url + "ws")
        hello = await until_type(ws, "hello")
        await ws.close()
        out = await asyncio.wait_for(finished.ended.get(), 60)
    assert hello["out"] == out.name and "/" not in str(hello["out"]) and str(tmp_path) not in str(hello)


async def test_a_socket_that_sends_nothing_gives_its_slot_back(models: Models, tmp_path: Path) -> None:
    """It held the only slot for ever; now it is told why and closed after ``web.idle_s``."""
    async with running(models, tmp_path, idle_s=1.0) as (server, url, finished), aiohttp.ClientSession() as http:
        ws = await http.ws_connect(url + "ws")
        await until_type(ws, "hello")
        bye = await until_type(ws, "bye")
        assert bye["reason"] == "idle" and "1 s" in str(bye["message"])
        out = await asyncio.wait_for(finished.ended.get(), 60)
        assert server.free == 1
        await ws.close()
    assert events_of(out)[-1]["type"] == "session_end"


async def test_odd_and_hostile_messages_leave_the_session_running(models: Models, tmp_path: Path) -> None:
    """Each of these once ended the session or could have: unknown kinds, empty and odd-sized
    binaries, 1 MB of text, a flood of tiny audio messages, a broken frame. The session still
    ticks afterwards, and ends as stopped when the tab closes."""
    async with running(models, tmp_path) as (_server, url, finished), aiohttp.ClientSession() as http:
        ws = await http.ws_connect(url + "ws")
        await until_type(ws, "hello")
        for data in (b"", b"\x00", b"\x09abc", b"\xff" * 10, MIC, MIC + b"\x01", MIC + b"\x00" * 321,
                     FRAME, FRAME + b"\xff\xd8\xff", FRAME + b"not a jpeg at all"):
            await ws.send_bytes(data)
        for text in ("x" * 1_000_000, '{"type": "volume", "level": 1e309}', '{"type": "mute", "muted": "yes"}',
                     '{"type": "volume", "level": true}', "null", "\u0000"):
            await ws.send_str(text)
        for _ in range(2000):  # 2000 messages of one sample each
            await ws.send_bytes(MIC + b"\x00\x00")
        first = await until_type(ws, "tick")
        later = await until_type(ws, "tick")
        assert isinstance(first["t"], float | int) and isinstance(later["t"], float | int)
        await ws.close()
        out = await asyncio.wait_for(finished.ended.get(), 60)
    events = events_of(out)
    assert events[-1]["type"] == "session_end" and events[-1]["reason"] == "stopped"
    assert not [e for e in events if e["type"] == "error"]


def test_audio_faster_than_real_time_is_dropped_beyond_the_slack() -> None:
    """A page that sends 10 s of audio in 1 s drove the session's clock (and the recognizer) ten
    times faster than anyone talks; now what runs more than MIC_SLACK_S ahead is dropped."""
    from kernel.channels import Channel, Overflow

    wall = [0.0]
    mic = BrowserMic(wall=lambda: wall[0])
    blocks: Channel[object] = Channel("mic", 10_000, Overflow.DROP_OLDEST)
    mic.start(asyncio.new_event_loop(), blocks)  # type: ignore[arg-type]
    tenth = (np.zeros(1600, dtype="<i2")).tobytes()  # 0.1 s
    for i in range(100):  # 10 s of audio over 1 s of wall time
        wall[0] = i * 0.01
        mic.feed(tenth)
    taken_s = (100 - mic.too_fast) * 0.1
    assert MIC_SLACK_S <= taken_s <= MIC_SLACK_S + 1.0 + 0.1 and mic.overflows == mic.too_fast
    before = mic.too_fast
    for i in range(50):  # then at real time: all of it taken
        wall[0] = 2.0 + i * 0.1
        mic.feed(tenth)
    assert mic.too_fast == before


async def test_a_page_that_reads_nothing_is_dropped_not_buffered_without_bound() -> None:
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    cut: list[bool] = []

    async def stuck(_data: object) -> None:
        await never  # the page's socket never drains

    outbox = Outbox(stuck, stuck, max_pending=100_000, on_overflow=lambda: cut.append(True))
    writer = asyncio.create_task(outbox.run())
    chunk = b"\x03" + b"\x00" * 9_999
    for _ in range(50):
        outbox.put(chunk)
    assert cut == [True] and outbox.closed and outbox.pending <= 100_000
    never.set_exception(ConnectionResetError())  # the cut connection fails the stuck send
    await asyncio.wait_for(writer, 5)


async def test_a_reloaded_page_gets_the_slot_and_more_tabs_than_slots_are_told_busy(
        models: Models, tmp_path: Path) -> None:
    """A reload (the old socket closes, the new one opens at once) got the 503 busy page while
    the old session was still ending; now it waits for the slot. Beyond the slots: "busy"."""
    async with running(models, tmp_path, max_sessions=1) as (server, url, finished), \
            aiohttp.ClientSession() as http:
        first = await http.ws_connect(url + "ws")
        await until_type(first, "hello")
        others = [await http.ws_connect(url + "ws") for _ in range(3)]
        answers = await asyncio.gather(*(until_type(ws, "busy", within_s=SLOT_WAIT_S + 30) for ws in others))
        assert all("busy" in str(a["message"]) for a in answers)
        await first.close()  # the reload: the old tab goes, the new page asks at once
        async with http.get(url) as page:
            assert page.status == 200
        again = await http.ws_connect(url + "ws")
        hello = await until_type(again, "hello", within_s=SLOT_WAIT_S + 30)
        assert hello["session"] == "002"
        await again.close()
        for ws in others:
            await ws.close()
        ended = {await asyncio.wait_for(finished.ended.get(), 60) for _ in range(2)}
        assert len(ended) == 2 and server.free == 1


async def test_a_stopping_server_tells_the_page_why(models: Models, tmp_path: Path) -> None:
    settings = web_settings()
    finished = Finished()
    server = WebServer(settings, settings.web, models, tmp_path / "s", token=None, hooks=finished)
    async with aiohttp.ClientSession() as http:
        async with serving(server) as url:
            ws = await http.ws_connect(url + "ws")
            await until_type(ws, "hello")
            await server.close()
            bye = await until_type(ws, "bye")
        assert bye["reason"] == "stopping" and "reconnects" in str(bye["message"])
