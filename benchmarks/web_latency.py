#!/usr/bin/env python3
"""Voice-to-voice through the browser: Debian's Chromium with its fake mic playing the bundled
session (and its fake camera the session's video), the page talking to the web server in this
process, against the same stub OpenAI-compatible server as ``benchmarks/latency.py`` (a realistic
reply: subword tokens, a long first sentence).

    .venv/bin/python benchmarks/web_latency.py [--ttft-ms 200] [--tokens-per-s 40] [--runs 1]

For each question: from its true end (session.json, on the mic's own timeline) to
- the first reply audio handed to the sink in the server (``reply_audio_start``: what
  ``latency.py`` measures for local devices), and
- the first reply audio starting to play in the page (the page's ``playStarts``),
so the difference is what the browser adds (mic capture and upload, download, scheduling). The
same replay through the local pipeline (``latency.py``'s) runs in the same script, for the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from latency import pct, replay, serve  # noqa: E402
from playwright.async_api import async_playwright  # noqa: E402

from assistant.models import prepare_models  # noqa: E402
from kernel.eventlog import Subscriber  # noqa: E402
from kernel.events import Event, ReplyAudioStarted  # noqa: E402
from omnilive.settings import load_settings, parse_override  # noqa: E402
from web.server import WebServer, serving  # noqa: E402

SESSION = ROOT / "examples" / "sessions" / "desk"
MIC_MESSAGE_S = 512 / 16000  # the page sends its first mic message once this much is captured


async def one_run(overrides: list[str], video: Path, folder: Path) -> tuple[list[float], list[float]]:
    settings = load_settings(None, [parse_override(o) for o in [*overrides, "mode=web", "web.port=0"]])
    models = await asyncio.to_thread(prepare_models, settings, hearing=True, seeing=True)
    starts: list[float] = []

    def hooks(out: Path) -> tuple[list[Subscriber], Any]:
        def watch(event: Event) -> None:
            if isinstance(event, ReplyAudioStarted):
                starts.append(event.t)
        return [watch], lambda stats: None

    questions = json.loads((SESSION / "session.json").read_text())["questions"]
    server = WebServer(settings, settings.web, models, folder, token=None, hooks=hooks)
    async with serving(server) as url, async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={SESSION / 'audio.wav'}",
            f"--use-file-for-fake-video-capture={video}", "--autoplay-policy=no-user-gesture-required"])
        context = await browser.new_context(bypass_csp=True)
        page = await context.new_page()
        await page.goto(url)
        await page.wait_for_function(f"window.omnilive && window.omnilive.playStarts.length >= {len(questions)}",
                                     timeout=90_000)
        stats = await page.evaluate("window.omnilive")
        await browser.close()
    capture_start = stats["micStartedAt"] - MIC_MESSAGE_S * 1000
    in_page, in_server = [], []
    for q in questions:
        end_ms = capture_start + q["end"] * 1000
        played = [s for s in stats["playStarts"] if s > end_ms]
        handed = [t for t in starts if t > q["end"]]
        if played and handed:
            in_page.append(played[0] - end_ms)
            in_server.append((handed[0] - q["end"]) * 1000)
    return in_page, in_server


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--ttft-ms", type=float, default=200)
    p.add_argument("--tokens-per-s", type=float, default=40)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--set", dest="overrides", action="append", default=[])
    args = p.parse_args()
    stub = serve(args.ttft_ms / 1000, args.tokens_per_s)
    base = f"http://127.0.0.1:{stub.server_address[1]}/v1"
    overrides = ["dialogue.backend=openai", f"dialogue.base_url={base}", *args.overrides]
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "desk.mjpeg"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(SESSION / "video.mp4"), "-vf", "scale=320:240",
                        "-r", "10", "-q:v", "5", "-f", "mjpeg", str(video)], check=True)
        page: list[float] = []
        server: list[float] = []
        local: list[float] = []
        for run in range(args.runs):
            p_ms, s_ms = asyncio.run(one_run(overrides, video, Path(tmp) / f"run{run}"))
            page += p_ms
            server += s_ms
            local += replay(["replay.speed=1", *overrides])[1]
    added = [a - b for a, b in zip(page, server, strict=True)]
    print(f"voice-to-voice through the browser, {len(page)} turns (stub server: {args.ttft_ms:.0f} ms to first "
          f"token, {args.tokens_per_s:.0f} tokens/s; {' '.join(args.overrides) or 'default settings'})")
    print(f"  true end of speech -> first reply audio playing in the page: p50 {pct(page, 50):.0f} ms, "
          f"p90 {pct(page, 90):.0f} ms  (every turn: {', '.join(f'{v:.0f}' for v in page)})")
    print(f"  ... -> first reply audio handed over in the server:        p50 {pct(server, 50):.0f} ms")
    print(f"  what the browser adds (capture, upload, download, scheduling): p50 {pct(added, 50):.0f} ms, "
          f"p90 {pct(added, 90):.0f} ms")
    print(f"  the same session replayed through local devices' pipeline:  p50 {pct(local, 50):.0f} ms "
          f"(ratio browser/local {pct(page, 50) / pct(local, 50):.2f})")


if __name__ == "__main__":
    main()
