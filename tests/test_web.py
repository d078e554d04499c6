"""The browser mode, in a real browser: Debian's Chromium driven by Playwright, with fake media
devices fed from recorded files, talking to the real pipeline (Silero, Whisper, the basic
describer, the offline responder, Piper) through the web server in this process."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import shutil
import ssl
import subprocess
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from playwright.async_api import Browser, Page, async_playwright
from rich.console import Console

from assistant.models import Models, prepare_models
from assistant.session import Record, RunStats, prepare_sources, replay_session
from kernel.errors import ConfigError
from kernel.eventlog import Subscriber
from omnilive.settings import Settings, load_settings, parse_override
from omnilive.testing import run_cli
from omnilive.web_cli import _report_hooks, display_server
from web.server import WebServer, serving
from web.settings import WebSettings, read_token

from .conftest import ROOT, SESSION

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
WAIT_MS = 120_000  # real time: the fake mic plays the recording at its own pace

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (make test installs it)")


def web_settings(**web: Any) -> Settings:
    overrides = ["asr.model=tiny.en", "dialogue.backend=offline", "describer.backend=basic", "mode=web",
                 "web.port=0", *(f"web.{k}={json.dumps(v)}" for k, v in web.items())]
    return load_settings(None, [parse_override(o) for o in overrides])


@pytest.fixture(scope="module")
def models() -> Models:
    return prepare_models(web_settings(), hearing=True, seeing=True)


@pytest.fixture(scope="module")
def fake_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The desk session's video as MJPEG, which Chromium's fake camera plays (and loops)."""
    out = tmp_path_factory.mktemp("media") / "desk.mjpeg"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(SESSION / "video.mp4"), "-vf", "scale=320:240",
                    "-r", "10", "-q:v", "5", "-f", "mjpeg", str(out)], check=True)
    return out


def espeak(text: str, path: Path) -> np.ndarray:
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), text], check=True)
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert rate == 22050
    return audio


@pytest.fixture(scope="module")
def barge_in_audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A question, then three seconds later (while the reply plays) the user talks over it."""
    folder = tmp_path_factory.mktemp("barge")
    first = espeak("What do you see on the table?", folder / "a.wav")
    second = espeak("Wait, stop. Tell me about the colours of the wall behind it instead, please.", folder / "b.wav")
    silence = np.zeros(int(22050 * 1.0), dtype="<i2")
    audio = np.concatenate([silence, first, np.zeros(int(22050 * 3.0), dtype="<i2"), second,
                            np.zeros(22050 * 30, dtype="<i2")])
    out = folder / "barge.wav"
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(22050)
        w.writeframes(audio.tobytes())
    return out


class Finished:
    """The report hooks, and a way to wait for a session to end."""

    def __init__(self) -> None:
        self.ended: asyncio.Queue[Path] = asyncio.Queue()

    def __call__(self, out: Path) -> tuple[list[Subscriber], Any]:
        watchers, finish = _report_hooks(out)

        def done(stats: RunStats) -> None:
            finish(stats)
            self.ended.put_nowait(out)

        return list(watchers), done


@contextlib.asynccontextmanager
async def running(models: Models, tmp_path: Path, *, token: str | None = None,
                  **web: Any) -> AsyncIterator[tuple[WebServer, str, Finished]]:
    settings = web_settings(**web)
    finished = Finished()
    server = WebServer(settings, settings.web, models, tmp_path / "sessions", token=token, hooks=finished)
    async with serving(server) as url:
        yield server, url, finished


@contextlib.asynccontextmanager
async def chromium(audio: Path, video: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={audio}", f"--use-file-for-fake-video-capture={video}",
            "--autoplay-policy=no-user-gesture-required",
        ])
        try:
            yield browser
        finally:
            await browser.close()


async def new_page(browser: Browser) -> Page:
    """A tab whose test probes (``wait_for_function``, which evaluates strings) may run despite the
    page's Content-Security-Policy; the page's own code never needs that."""
    context = await browser.new_context(bypass_csp=True)
    return await context.new_page()


async def until(page: Page, condition: str) -> None:
    await page.wait_for_function(condition, timeout=WAIT_MS)


def events_of(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]


async def test_a_spoken_conversation_through_the_browser(models: Models, fake_video: Path, tmp_path: Path) -> None:
    """The desk session's first question, through the page's mic: transcribed, the scene described,
    the reply streamed back and played in the page, and every part of it on the page."""
    async with running(models, tmp_path) as (_server, url, finished), \
            chromium(SESSION / "audio.wav", fake_video) as browser:
        page = await new_page(browser)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(url)
        await until(page, "document.querySelectorAll('#conversation .assistant').length >= 1"
                          " && window.omnilive && window.omnilive.chunksPlayed >= 1")
        await until(page, "document.querySelector('#scene').textContent.trim().length > 0")
        await until(page, "document.querySelector('#metrics').textContent.includes('ms')")
        you = await page.locator("#conversation .you").first.text_content()
        assistant = await page.locator("#conversation .assistant").first.text_content()
        scene = await page.locator("#scene").text_content()
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "web-conversation.png"), full_page=True)
        stats = await page.evaluate("window.omnilive")
        await page.close()
        out = await asyncio.wait_for(finished.ended.get(), 60)
    assert errors == []
    assert you is not None and "front of you" in you.lower()
    assert scene and assistant and len(assistant) > 10
    assert stats["chunksReceived"] >= stats["chunksPlayed"] >= 1 and stats["samplesPlayed"] > 22050 // 2
    events = events_of(out)
    types = [e["type"] for e in events]
    assert types[0] == "session_start" and types[-1] == "session_end"
    assert "scene" in types and "reply_text" in types and "turn_metrics" in types
    assert any(e["type"] == "transcript" and e["final"] and "front" in e["text"].lower() for e in events)
    assert (out / "report.html").is_file() and list((out / "replies").glob("turn-*.wav"))


async def test_a_stopping_server_is_said_on_the_page_and_the_conversation_stays(
        models: Models, fake_video: Path, tmp_path: Path) -> None:
    """The page said "session ended (stopped)" for a crash and a stop alike, and did not come back;
    now it says the server is stopping, keeps what was said, and reconnects with back-off."""
    async with running(models, tmp_path) as (server, url, finished), \
            chromium(SESSION / "audio.wav", fake_video) as browser:
        page = await new_page(browser)
        await page.goto(url)
        await until(page, "document.querySelectorAll('#conversation .assistant').length >= 1")
        said = await page.locator("#conversation").text_content()
        await server.close()
        await until(page, "document.querySelector('#status').textContent.includes('server is stopping')")
        await until(page, "document.querySelector('#status').textContent.includes('Reconnecting in')")
        assert said and (await page.locator("#conversation").text_content() or "").startswith(said)  # nothing lost
        await asyncio.wait_for(finished.ended.get(), 60)


async def test_talking_over_the_reply_stops_it_in_the_page(models: Models, fake_video: Path,
                                                          barge_in_audio: Path, tmp_path: Path) -> None:
    async with running(models, tmp_path) as (_server, url, finished), \
            chromium(barge_in_audio, fake_video) as browser:
        page = await new_page(browser)
        await page.goto(url)
        await until(page, "document.querySelector('#conversation .barge') !== null && window.omnilive.flushes >= 1")
        await page.close()
        out = await asyncio.wait_for(finished.ended.get(), 60)
    events = events_of(out)
    barge = [e for e in events if e["type"] == "barge_in"]
    assert barge, [e["type"] for e in events]
    assert any(e["type"] == "reply_text" and e["interrupted"] for e in events)


async def test_one_tab_too_many_gets_the_busy_page_and_a_closed_tab_ends_its_session(
        models: Models, fake_video: Path, tmp_path: Path) -> None:
    async with running(models, tmp_path, max_sessions=1) as (server, url, finished), \
            chromium(SESSION / "audio.wav", fake_video) as browser:
        first = await new_page(browser)
        await first.goto(url)
        await until(first, "document.querySelector('#state').dataset.state === 'speaking'")  # mid-reply
        second = await new_page(browser)
        response = await second.goto(url)
        assert response is not None and response.status == 503
        assert "busy" in (await second.locator("#busy").text_content() or "").lower()
        await first.close()  # mid-reply
        out = await asyncio.wait_for(finished.ended.get(), 60)
        assert server.free == 1
        again = await second.goto(url)  # the slot is free again
        assert again is not None and again.status == 200
    events = events_of(out)
    assert events[-1]["type"] == "session_end" and (out / "report.html").is_file()


async def test_the_page_shows_untrusted_text_as_text(models: Models, fake_video: Path, tmp_path: Path) -> None:
    """A description or transcript holding markup is shown, never run or parsed (display view)."""
    hostile = '<img src=x onerror="window.pwned=1"><b>bold</b>'
    async with running(models, tmp_path) as (server, url, _finished), \
            chromium(SESSION / "audio.wav", fake_video) as browser:
        page = await new_page(browser)
        await page.goto(url + "?view=display")
        # The display is registered before its hello is sent.
        await until(page, "document.querySelector('#status').textContent.includes('connected')")
        assert server.displays
        for display in server.displays:
            display.put({"type": "event", "event": {"type": "scene", "t": 1.0, "text": hostile, "frame_t": 1.0,
                                                    "backend": "basic", "compute_ms": 1.0}})
            display.put({"type": "event", "event": {"type": "transcript", "t": 1.0, "utterance": 1,
                                                    "text": hostile, "final": False, "compute_ms": 1.0}})
        await until(page, f"document.querySelector('#scene').textContent === {json.dumps(hostile)}")
        assert await page.evaluate("document.querySelectorAll('img, b').length") == 0
        assert await page.evaluate("window.pwned === undefined")


async def test_a_wrong_token_or_a_foreign_origin_is_refused(models: Models, tmp_path: Path) -> None:
    token = "s3cret-token-for-the-test"
    async with running(models, tmp_path, token=token) as (_server, url, _finished), \
            aiohttp.ClientSession() as http:
        for given in ("", "?token=wrong-token-wrong-token"):
            async with http.get(url + given) as response:
                assert response.status == 401
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await http.ws_connect(url + "ws" + given)
            assert info.value.status == 401
        async with http.get(f"{url}?token={token}") as response:
            assert response.status == 200 and "Content-Security-Policy" in response.headers
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(f"{url}ws?token={token}&view=display", headers={"Origin": "http://evil.example"})
        assert info.value.status == 403
        ws = await http.ws_connect(f"{url}ws?token={token}&view=display", headers={"Origin": url.rstrip("/")})
        hello = await ws.receive_json(timeout=10)
        assert hello["type"] == "hello" and hello["view"] == "display"
        await ws.close()


def test_beyond_loopback_the_server_needs_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMNILIVE_WEB_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"web.host: '0.0.0.0'.*OMNILIVE_WEB_TOKEN"):
        read_token(WebSettings(host="0.0.0.0"))
    assert read_token(WebSettings()) is None  # loopback: no token needed
    monkeypatch.setenv("OMNILIVE_WEB_TOKEN", "short")
    with pytest.raises(ConfigError, match="at least 16"):
        read_token(WebSettings(host="0.0.0.0"))
    monkeypatch.setenv("OMNILIVE_WEB_TOKEN", "x" * 24)
    assert read_token(WebSettings(host="0.0.0.0")) == "x" * 24


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


async def test_https_with_a_given_certificate_is_a_secure_context(models: Models, fake_video: Path, tmp_path: Path,
                                                                   certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    async with running(models, tmp_path, tls={"certfile": str(cert), "keyfile": str(key)}) \
            as (_server, url, finished), chromium(SESSION / "audio.wav", fake_video) as browser:
        assert url.startswith("https://")
        context = await browser.new_context(ignore_https_errors=True, bypass_csp=True)
        page = await context.new_page()
        await page.goto(url)
        assert await page.evaluate("window.isSecureContext")
        await until(page, "document.querySelector('#state').dataset.state !== undefined"
                          " && window.omnilive && window.omnilive.session")
        await page.close()
        await asyncio.wait_for(finished.ended.get(), 60)


@pytest.mark.parametrize(("args", "env", "names"), [
    (["--web", "--set", "web.host=0.0.0.0"], {"OMNILIVE_WEB_TOKEN": None}, ["web.host", "OMNILIVE_WEB_TOKEN"]),
    (["--web", "--set", "web.tls.certfile=/nonexistent/cert.pem"], {}, ["web.tls", "certfile and keyfile"]),
    (["--web", "--set", "web.token_env=sk-not-a-name!"], {}, ["web.token_env"]),
    (["--web", "--set", "web.tls.certfile=/nonexistent/cert.pem", "--set", "web.tls.keyfile=/nonexistent/key.pem"],
     {}, ["web.tls", "/nonexistent/cert.pem"]),
    (["--web", "--set", "web.port=70000"], {}, ["web.port"]),
])
def test_bad_web_settings_are_one_line_and_exit_2(args: list[str], env: dict[str, str | None], names: list[str],
                                                 tmp_path: Path) -> None:
    result = run_cli([*args, "--out", str(tmp_path / "out")], env=env)
    assert result.code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and all(name in lines[0] for name in names), lines
    assert "Traceback" not in result.stderr


def test_the_check_of_a_web_config_checks_the_server_not_replay_files(tmp_path: Path) -> None:
    """``--config configs/web.yaml --check`` asked for a session to replay and skipped the models."""
    ok = run_cli(["--config", str(ROOT / "configs" / "web.yaml"), "--check", "--set", "asr.model=tiny.en",
                  "--set", "dialogue.backend=offline"], env={"OMNILIVE_WEB_TOKEN": None})
    assert ok.code == 0, ok.stdout + ok.stderr
    assert "server" in ok.stdout and "this machine only" in ok.stdout and "FAIL" not in ok.stdout
    bad = run_cli(["--config", str(ROOT / "configs" / "web.yaml"), "--check", "--set", "web.host=0.0.0.0"],
                  env={"OMNILIVE_WEB_TOKEN": None})
    assert bad.code == 2 and "OMNILIVE_WEB_TOKEN" in bad.stdout + bad.stderr and "Traceback" not in bad.stderr


def replay_settings(session: Path) -> Settings:
    """A replay of ``session`` as fast as the models allow, shown on a display-only page (``web.display``)."""
    settings = web_settings(display=True)
    return settings.model_copy(update={"mode": "replay", "input": settings.input.model_copy(
        update={"session": session}), "replay": settings.replay.model_copy(update={"speed": 0.0})})


async def test_a_replay_can_be_watched_in_the_display_view(models: Models, fake_video: Path, tmp_path: Path) -> None:
    """``web.display``: the display-only page of a session that runs elsewhere (here a replay, as
    ``run_assistant.py --session ... --set web.display=true`` runs it) shows its captions and scene."""
    settings = replay_settings(SESSION)
    printed = io.StringIO()
    async with display_server(settings, Console(file=printed, width=400)) as display, \
            chromium(SESSION / "audio.wav", fake_video) as browser:
        assert display is not None
        url = re.search(r"(http://\S+)", printed.getvalue())
        assert url is not None
        page = await new_page(browser)
        talk = await page.goto(url.group(1))  # a display-only server sends the talking view to the display
        assert talk is not None and "view=display" in talk.url
        await until(page, "document.querySelector('#status').textContent.includes('connected')")
        record = Record(tmp_path / "out", settings.output, (display,), retention=False)
        (tmp_path / "out").mkdir()
        await replay_session(settings, prepare_sources(settings), models, record)
        await until(page, "document.querySelectorAll('#conversation .assistant').length >= 3")
        you = await page.locator("#conversation .you").all_text_contents()
        scene = await page.locator("#scene").text_content()
        state = await page.locator("#state").get_attribute("data-state")
    assert any("sign" in line.lower() for line in you), you
    assert scene and "green" in scene and state == "listening"  # the last view: the green ball


async def test_the_page_shows_the_watches_and_what_fired(models: Models, fake_video: Path, tmp_path: Path) -> None:
    """A replay of "Tell me every time someone shows up." (a person comes, goes and comes back) in the
    display view: the standing watch is listed, each alert is shown with its time, and a page that
    joins once it is over still lists the watch."""
    from scripts.make_watch_sessions import Speakers, make, sessions

    (session,) = [s for s in sessions(0.5) if s.name == "someone-comes-and-goes"]
    speakers = Speakers()
    try:
        make(tmp_path / session.name, session, speakers)
    finally:
        speakers.close()
    settings = replay_settings(tmp_path / session.name)
    printed = io.StringIO()
    async with display_server(settings, Console(file=printed, width=400)) as display, \
            chromium(SESSION / "audio.wav", fake_video) as browser:
        assert display is not None
        url = re.search(r"(http://\S+)", printed.getvalue())
        assert url is not None
        page = await new_page(browser)
        await page.goto(url.group(1))
        await until(page, "document.querySelector('#status').textContent.includes('connected')")
        assert await page.locator("#watches li.empty").count() == 1  # nothing watched yet
        record = Record(tmp_path / "out", settings.output, (display,), retention=False)
        (tmp_path / "out").mkdir()
        await replay_session(settings, prepare_sources(settings), models, record)
        await until(page, "document.querySelectorAll('#fired li.fired').length >= 2")
        listed = await page.locator("#watches li").all_text_contents()
        fired = await page.locator("#fired li.fired").all_text_contents()
        late = await new_page(browser)  # joins after the watch was set
        await late.goto(url.group(1))
        await until(late, "document.querySelectorAll('#watches li[data-watch]').length === 1")
        late_listed = await late.locator("#watches li").all_text_contents()
    said = [e["said"] for e in events_of(tmp_path / "out") if e["type"] == "watch_fired"]
    assert len(said) == 2, said
    assert listed == ["someone (every time)"] and late_listed == listed, (listed, late_listed)
    assert all(re.match(r"\d{1,2}:\d{2}", line) for line in fired), fired  # when it fired
    assert sorted(next(a for a in said if line.endswith(a)) for line in fired) == sorted(said), (fired, said)


@contextlib.asynccontextmanager
async def https_proxy(backend: str, cert: Path, key: Path) -> AsyncIterator[str]:
    """A reverse proxy that terminates HTTPS and forwards the page, its files and the media socket
    to ``backend`` over plain HTTP on loopback, as nginx or Caddy would be set up (docs/browser.md)."""
    from aiohttp import web as aioweb

    async def forward(request: aioweb.Request) -> aioweb.StreamResponse:
        target = backend.rstrip("/") + str(request.rel_url)
        async with aiohttp.ClientSession() as client:
            if request.headers.get("Upgrade", "").lower() == "websocket":
                headers = {"Origin": request.headers.get("Origin", "")}
                async with client.ws_connect(target, headers=headers) as upstream:
                    downstream = aioweb.WebSocketResponse(max_msg_size=4 * 1024 * 1024)
                    await downstream.prepare(request)

                    async def pump(src: Any, dst: Any) -> None:
                        async for message in src:
                            if message.type == aiohttp.WSMsgType.BINARY:
                                await dst.send_bytes(message.data)
                            elif message.type == aiohttp.WSMsgType.TEXT:
                                await dst.send_str(message.data)
                        await dst.close()

                    await asyncio.gather(pump(upstream, downstream), pump(downstream, upstream))
                    return downstream
            async with client.get(target) as response:
                body = await response.read()
                return aioweb.Response(body=body, status=response.status,
                                       content_type=response.content_type)

    app = aioweb.Application()
    app.router.add_route("GET", "/{tail:.*}", forward)
    runner = aioweb.AppRunner(app, access_log=None)
    await runner.setup()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    site = aioweb.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    try:
        yield f"https://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_behind_a_reverse_proxy_the_page_talks_once_its_origin_is_allowed(
        models: Models, fake_video: Path, tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    """HTTPS ends at the proxy; the assistant listens on loopback. The page's origin is the proxy's,
    so the media socket is refused until ``web.allowed_origins`` names it."""
    cert, key = certificate
    for allowed in (False, True):
        async with contextlib.AsyncExitStack() as stack:
            server, url, finished = await stack.enter_async_context(running(
                models, tmp_path / str(allowed), allowed_origins=["https://proxy.invalid"]))
            proxy = await stack.enter_async_context(https_proxy(url, cert, key))
            if allowed:
                server.web = server.web.model_copy(update={"allowed_origins": (proxy,)})
            browser = await stack.enter_async_context(chromium(SESSION / "audio.wav", fake_video))
            context = await browser.new_context(ignore_https_errors=True, bypass_csp=True)
            page = await context.new_page()
            await page.goto(proxy + "/")
            assert await page.evaluate("window.isSecureContext")
            if allowed:
                await until(page, "window.omnilive && window.omnilive.session")
                await until(page, "document.querySelectorAll('#conversation .you').length >= 1")
                await page.close()
                await asyncio.wait_for(finished.ended.get(), 60)
            else:
                await until(page, "document.querySelector('#status').textContent.includes('disconnected')")
                assert server.sessions == 0  # the socket was refused (403): no session started
