"""Small fakes for the edges we cannot reach here: a remote LLM server, a player."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np


@contextmanager
def chat_server(
    reply: str, *, status: int = 200, script: list[str] | None = None
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local server speaking the chat-completions streaming protocol (SSE).

    Yields its base URL and the list where it records every request body. ``script``
    says how to answer each request in turn: "ok", "garbage" (a stream that is not
    JSON) or "stall" (send headers, then nothing until the server shuts down);
    requests past the script's end are answered "ok"."""
    requests: list[dict[str, Any]] = []
    plan = list(script or [])
    released = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            body["_auth"] = self.headers.get("Authorization")
            body["_path"] = self.path
            requests.append(body)
            if status != 200:
                payload = json.dumps({"error": {"message": "scripted failure", "type": "server_error"}}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            how = plan.pop(0) if plan else "ok"
            if not body.get("stream"):
                payload = json.dumps({
                    "id": "chatcmpl-test", "object": "chat.completion", "created": 0,
                    "model": body.get("model", "test"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": reply}}],
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            if how == "garbage":
                self.wfile.write(b"data: {this is not json\n\ndata: <html>oops</html>\n\n")
                self.wfile.flush()
                return
            if how == "stall":
                self.wfile.flush()
                released.wait()  # the client's timeout has to end this request
                return
            words = reply.split(" ")
            for i, word in enumerate(words):
                chunk = {
                    "id": "chatcmpl-test",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": body.get("model", "test"),
                    "choices": [
                        {"index": 0, "delta": {"content": word if i == 0 else " " + word}, "finish_reason": None}
                    ],
                }
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="fake-chat-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", requests
    finally:
        released.set()
        server.shutdown()
        server.server_close()


class GatedSink:
    """A reply sink standing in for a speaker: ``write`` waits until the test opens the gate."""

    def __init__(self) -> None:
        import asyncio

        self.gate = asyncio.Event()
        self.written = 0
        self.opened: list[int] = []
        self.closed: list[bool] = []
        self.first_write = asyncio.Event()

    async def open_turn(self, turn: int, sample_rate: int) -> None:
        self.opened.append(turn)

    async def write(self, pcm: np.ndarray) -> None:
        self.first_write.set()
        await self.gate.wait()
        self.written += len(pcm)

    async def close_turn(self, *, interrupted: bool = False) -> tuple[float, str | None]:
        self.closed.append(interrupted)
        return self.written / 22050, None
