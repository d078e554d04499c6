"""The browser mode: an aiohttp server with the page, and one live session per connected tab.

Each tab that talks is a live session of its own (:func:`assistant.live.run_live` with the
browser's devices, :mod:`web.devices`): its own conversation, its own output folder, its own
``session_end``. The models are loaded once and shared; each session has its own VAD state.
``web.max_sessions`` tabs talk at once; one more gets the "busy" page. A display view
(``/?view=display``) talks to no one: it shows the captions, the state and the latest scene
of the sessions running.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import json
import logging
import ssl
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from assistant.config import RuntimeSettings
from assistant.live import run_live
from assistant.models import Models
from assistant.pipeline import Pipeline
from assistant.session import Record, RunStats, run_session
from assistant.state import StateTracker
from kernel.clock import MediaClock
from kernel.errors import ConfigError
from kernel.eventlog import EventBus, Subscriber
from kernel.events import Event, SessionStarted, to_record
from speech.registry import make_vad
from speech.sinks import WavReplySink

from .access import Gate
from .devices import BrowserCamera, BrowserMic, BrowserPlayer, Outbox
from .protocol import FRAME, MAX_MESSAGE_BYTES, MIC
from .settings import WebSettings

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
                               "connect-src 'self' ws: wss:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# Events a page shows; the rest (per-chunk audio, requests) stay in events.jsonl.
SHOWN = frozenset({"transcript", "reply_chunk", "reply_text", "scene", "turn_metrics", "barge_in", "error",
                   "session_start", "session_end", "transcript_ignored", "device", "watch_set", "watch_fired",
                   "watch_cleared"})

SLOT_WAIT_S = 5.0  # a page reloaded while its old session ends waits this long for the slot, not "busy"

SessionHooks = Callable[[Path], tuple[Sequence[Subscriber], Callable[[RunStats], None]]]


def _nothing() -> None:
    pass


def _no_hooks(out: Path) -> tuple[Sequence[Subscriber], Callable[[RunStats], None]]:
    return (), lambda stats: None


def page_record(event: Event) -> dict[str, Any]:
    record = to_record(event)
    if isinstance(event, SessionStarted):
        record.pop("config", None)  # the settings stay in events.jsonl
    return record


class WebServer:
    """``models`` None: a display-only server, for a session that runs elsewhere in this process
    (a replay, a local-devices session); its :meth:`watch` is that session's subscriber."""

    def __init__(self, settings: RuntimeSettings, web_settings: WebSettings, models: Models | None,
                 out_root: Path, *, token: str | None, hooks: SessionHooks = _no_hooks,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.web = web_settings
        self.models = models
        self.out_root = out_root
        self.token = token
        self.hooks = hooks
        self.free = web_settings.max_sessions if models is not None else 0
        self.sessions = 0  # started so far: each gets a number and a folder
        self.displays: set[Outbox] = set()
        self.last: dict[str, dict[str, Any]] = {}  # the newest state, scene and watches, for a display that joins
        self.watches: dict[int, dict[str, Any]] = {}  # the standing watches' watch_set records, by id
        self._stops: set[asyncio.Event] = set()
        self._talking: set[Outbox] = set()  # the talking tabs, told when the server stops
        self._freed = asyncio.Condition()  # a slot came free
        self.gate = Gate(token, clock)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._headers])
        app.router.add_get("/", self.index)
        app.router.add_get("/ws", self.socket)
        app.router.add_static("/static", STATIC, follow_symlinks=False)
        return app

    @web.middleware
    async def _headers(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """The security headers on every answer, a 404 or 405 raised by the router too."""
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPException as refusal:
            refusal.headers.update(SECURITY_HEADERS)
            raise
        if not response.prepared:
            response.headers.update(SECURITY_HEADERS)
        return response

    async def index(self, request: web.Request) -> web.StreamResponse:
        if not self.gate.authorized(request):
            return web.Response(status=401, text="omnilive: a valid access token is needed (?token=...)\n")
        if not self.gate.host_allowed(request):
            log.warning("web: refused a page for host %r (not loopback, and no token is set)", request.host)
            return web.Response(status=403, text="omnilive: open this page at 127.0.0.1 or localhost\n")
        if request.query.get("view") != "display":
            if self.models is None:  # this server only shows a session
                raise web.HTTPFound(request.rel_url.update_query(view="display"))
            if not await self._slot():
                return web.FileResponse(STATIC / "busy.html", status=503)
        return web.FileResponse(STATIC / "index.html")

    async def socket(self, request: web.Request) -> web.StreamResponse:
        if not self.gate.authorized(request):
            return web.Response(status=401, text="omnilive: a valid access token is needed\n")
        if not self.gate.origin_allowed(request, self.web.allowed_origins):
            log.warning("web: refused a media connection from origin %r", request.headers.get("Origin"))
            return web.Response(status=403, text="omnilive: this origin may not open the media connection\n")
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, heartbeat=20.0)
        await ws.prepare(request)
        transport = request.transport
        # A page that reads nothing: its connection is cut (a close frame would wait behind the backlog).
        outbox = Outbox(ws.send_bytes, ws.send_str, on_overflow=transport.abort if transport is not None else _nothing)
        writer = asyncio.create_task(outbox.run(), name="web-outbox")
        try:
            if request.query.get("view") == "display":
                await self._display(ws, outbox)
            elif not await self._slot():
                outbox.put({"type": "busy", "message": f"The assistant is busy: {self.web.max_sessions} "
                                                       "conversation(s) already running. Try again soon."})
            else:
                await self._talk(ws, outbox)
        finally:
            outbox.close()
            await writer
            await ws.close()
        return ws

    # --- sessions ----------------------------------------------------------------------------

    async def _slot(self) -> bool:
        """Whether a talking slot is free, waiting up to :data:`SLOT_WAIT_S` for one: a reloaded
        page's old session is still ending when the new page asks."""
        async with self._freed:
            try:
                await asyncio.wait_for(self._freed.wait_for(lambda: self.free > 0), SLOT_WAIT_S)
            except TimeoutError:
                return False
        return True

    async def _display(self, ws: web.WebSocketResponse, outbox: Outbox) -> None:
        outbox.put({"type": "hello", "session": None, "view": "display", "out": None})
        for message in self.last.values():
            outbox.put(message)
        self.displays.add(outbox)
        try:
            async for _ in ws:
                pass  # a display sends nothing that matters
        finally:
            self.displays.discard(outbox)

    def _tell(self, outbox: Outbox | None, message: dict[str, Any]) -> None:
        if outbox is not None:
            outbox.put(message)
        for display in self.displays:
            display.put(message)

    def watch(self) -> Subscriber:
        """A subscriber that shows a session running elsewhere in this process on the displays."""
        tracker = StateTracker()
        tracker.listeners.append(lambda s: self._state(None, s))
        ticked = [float("-inf")]

        def forward(event: Event) -> None:
            tracker(event)
            if event.t >= ticked[0] + 1.0:
                ticked[0] = event.t
                self._tell(None, {"type": "tick", "t": round(event.t, 2)})
            self._show(None, event)

        return forward

    def _show(self, outbox: Outbox | None, event: Event) -> None:
        """An event for the page (those in :data:`SHOWN`); what a display that joins later must see
        is kept in :attr:`last`: the newest scene, and the standing watches."""
        if event.type not in SHOWN:
            return
        record = page_record(event)
        message = {"type": "event", "event": record}
        if event.type == "scene":
            self.last["scene"] = message
        elif event.type == "session_start":
            self.watches.clear()
        elif event.type == "watch_set":
            self.watches[record["watch"]] = record
        elif event.type == "watch_cleared":
            self.watches.pop(record["watch"], None)
        if event.type in ("session_start", "watch_set", "watch_cleared"):
            self.last["watches"] = {"type": "watches", "watches": list(self.watches.values())}
        self._tell(outbox, message)

    async def _talk(self, ws: web.WebSocketResponse, outbox: Outbox) -> None:
        self.free -= 1
        self.sessions += 1
        number = self.sessions
        stop = asyncio.Event()
        self._stops.add(stop)
        self._talking.add(outbox)
        out = self.out_root / f"{datetime.datetime.now():%Y%m%d-%H%M%S}-{number:03d}"
        try:
            out.mkdir(parents=True, exist_ok=False)
            await self._run_session(ws, outbox, out, stop, number)
        except Exception as exc:  # one line here and on the page; what the session wrote stays
            log.error("web: session %d failed: %s: %s", number, type(exc).__name__, exc)
            outbox.put({"type": "bye", "reason": "error",
                        "message": f"The session stopped on an error on the server ({type(exc).__name__})."})
        finally:
            self._talking.discard(outbox)
            self._stops.discard(stop)
            with contextlib.suppress(OSError):
                out.rmdir()  # only when the session wrote nothing there: no empty folder per failed try
            self.free += 1
            async with self._freed:
                self._freed.notify_all()

    async def _run_session(self, ws: web.WebSocketResponse, outbox: Outbox, out: Path, stop: asyncio.Event,
                           number: int) -> None:
        mic, camera = BrowserMic(), BrowserCamera()
        player = BrowserPlayer(outbox, WavReplySink(out / "replies"))
        bus = EventBus(MediaClock())
        models = self.models
        assert models is not None
        if models.vad is not None:  # the VAD keeps state between blocks: one per session
            models = dataclasses.replace(models, vad=make_vad(self.settings.vad))
        tracker = StateTracker()
        tracker.listeners.append(lambda s: self._state(outbox, s))
        watchers, finish = self.hooks(out)

        def forward(event: Event) -> None:
            self._show(outbox, event)

        pipelines: list[Pipeline] = []
        record = Record(out, self.settings.output, (tracker, forward, *watchers), retention=False)

        async def body() -> RunStats:
            return await run_live(self.settings, models, bus, mic=mic, player=player, camera=camera, stop=stop,
                                  label=f"browser session {number}", on_ready=pipelines.append)

        # The folder's name, not its path: where the server keeps its files is not the page's business.
        outbox.put({"type": "hello", "session": f"{number:03d}", "view": "talk", "out": out.name})
        session = asyncio.create_task(run_session(bus, record, body), name=f"web-session-{number}")
        ticker = asyncio.create_task(self._tick(outbox, bus), name=f"web-tick-{number}")
        log.info("web: session %d started → %s", number, out)
        try:
            await self._read(ws, outbox, session, mic, camera, pipelines, tracker, stop)
        finally:
            stop.set()
            for pipeline in pipelines:  # a closed tab hears no more of the reply
                if pipeline.manager is not None:
                    pipeline.manager.interrupt()
            ticker.cancel()
            stats = RunStats()
            try:
                stats = await session
            finally:
                finish(stats)
                log.info("web: session %d ended (%.1f s of media)", number, stats.media_seconds)

    async def _read(self, ws: web.WebSocketResponse, outbox: Outbox, session: asyncio.Task[RunStats], mic: BrowserMic,
                    camera: BrowserCamera, pipelines: list[Pipeline], tracker: StateTracker,
                    stop: asyncio.Event) -> None:
        while True:
            try:
                message = await ws.receive(timeout=self.web.idle_s)
            except TimeoutError:  # a socket that sends nothing holds the slot no longer
                log.warning("web: nothing from the page for %.0f s; closing its session", self.web.idle_s)
                outbox.put({"type": "bye", "reason": "idle",
                            "message": f"Nothing arrived from this page for {self.web.idle_s:.0f} s."})
                return
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return
            if session.done() or stop.is_set():
                return
            if message.type == WSMsgType.BINARY and message.data:
                kind, payload = message.data[:1], message.data[1:]
                if kind == MIC:
                    mic.feed(payload)
                elif kind == FRAME:
                    camera.feed(payload)
            elif message.type == WSMsgType.TEXT:
                self._control(message.data, pipelines, tracker)

    def _control(self, text: str, pipelines: list[Pipeline], tracker: StateTracker) -> None:
        """``mute`` and ``volume`` from the page's controls; anything else is ignored."""
        try:
            command = json.loads(text)
        except (ValueError, RecursionError):  # "[" * 100000 is too deep for the parser, not a command
            return
        if not isinstance(command, dict) or not pipelines or not pipelines[0].voiced:
            return
        pipeline = pipelines[0]
        if command.get("type") == "mute" and isinstance(command.get("muted"), bool):
            pipeline.set_muted(command["muted"])
            tracker.set_muted(command["muted"])
        elif command.get("type") == "volume" and isinstance(command.get("level"), int | float) \
                and not isinstance(command.get("level"), bool) and 0 <= command["level"] <= 2:
            pipeline.set_volume(float(command["level"]))

    def _state(self, outbox: Outbox | None, tracker: StateTracker) -> None:
        message = {"type": "state", "state": "muted" if tracker.muted else tracker.phase.value}
        self.last["state"] = message
        self._tell(outbox, message)

    async def _tick(self, outbox: Outbox, bus: EventBus) -> None:
        while True:
            self._tell(outbox, {"type": "tick", "t": round(bus.clock.now(), 2)})
            await asyncio.sleep(1.0)

    async def close(self) -> None:
        """Ends every session (their tabs' sockets close with the server), telling each tab why."""
        for outbox in self._talking:
            outbox.put({"type": "bye", "reason": "stopping",
                        "message": "The server is stopping; this page reconnects when it is back."})
        for stop in self._stops:
            stop.set()


def ssl_context(web_settings: WebSettings) -> ssl.SSLContext | None:
    tls = web_settings.tls
    if tls.certfile is None or tls.keyfile is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(str(tls.certfile), str(tls.keyfile))
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"web.tls: cannot load the certificate '{tls.certfile}' and key '{tls.keyfile}' "
                          f"({reason})") from exc
    return context


@contextlib.asynccontextmanager
async def serving(server: WebServer) -> Any:
    """The server listening on ``web.host:web.port``; yields the URL the page is at."""
    runner = web.AppRunner(server.app(), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, server.web.host, server.web.port, ssl_context=ssl_context(server.web))
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"web: cannot listen on {server.web.host}:{server.web.port} "
                          f"({exc.strerror or exc})") from exc
    port = runner.addresses[0][1] if runner.addresses else server.web.port
    host = "127.0.0.1" if server.web.host in ("0.0.0.0", "::") else server.web.host
    try:
        yield f"{server.web.scheme}://{host}:{port}/"
    finally:
        await server.close()
        await runner.cleanup()
