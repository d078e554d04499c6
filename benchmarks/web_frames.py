#!/usr/bin/env python3
"""Hostile camera frames against the browser mode (issue 25's case): the real server in its own
process (``configs/web.yaml``), one talking socket that sends the mic as a page does (silence, in
real time), and for ``--seconds`` (8) a huge frame every 0.3 s: a JPEG whose header says
11000 x 11000 (1.9 MB of real data made by OpenCV) and a 16000 x 16000 PNG. Measures the gaps
between the server's one-a-second ``tick`` messages (every session's audio, replies and barge-in
wait when the loop stalls) and the server's RSS growth; then sends the page's normal frames and
checks that the session still describes them.

    .venv/bin/python benchmarks/web_frames.py [--seconds 8]

Bounds (issue 25): every tick gap <= 1.5 s, RSS growth < 300 MB, a normal frame still described.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.soak import rss_mb  # noqa: E402
from benchmarks.soak_web import start_server, stop_server  # noqa: E402
from web.protocol import FRAME, MIC  # noqa: E402


def huge_jpeg() -> bytes:
    """A real 11000 x 11000 JPEG of ~1.9 MB (smooth content compresses well)."""
    side = 11000
    ramp = np.linspace(0, 255, side, dtype=np.uint8)
    image = np.dstack([np.tile(ramp, (side, 1)), np.tile(ramp[:, None], (1, side)),
                       np.full((side, side), 90, np.uint8)])
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 30])
    assert ok
    return bytes(data)


def huge_png() -> bytes:
    ok, data = cv2.imencode(".png", np.zeros((16000, 16000), np.uint8), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert ok
    return bytes(data)


def normal_jpeg() -> bytes:
    image = np.full((480, 640, 3), (40, 60, 150), np.uint8)
    cv2.rectangle(image, (200, 150), (440, 330), (30, 30, 220), -1)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return bytes(data)


async def run(seconds: float) -> int:
    bad = [huge_jpeg(), huge_png()]
    print(f"hostile frames: JPEG 11000x11000 {len(bad[0]) / 1e6:.2f} MB, PNG 16000x16000 {len(bad[1]) / 1e6:.2f} MB")
    server, url = start_server(Path(tempfile.mkdtemp(prefix="web-frames-")) / "sessions")
    ticks: list[float] = []
    scenes: list[str] = []
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(url + "ws", max_msg_size=0) as ws:
            async def read() -> None:
                async for message in ws:
                    if message.type != aiohttp.WSMsgType.TEXT:
                        continue
                    data = message.json()
                    if data.get("type") == "tick":
                        ticks.append(time.monotonic())
                    elif data.get("type") == "event" and data["event"].get("type") == "scene":
                        scenes.append(data["event"].get("text", ""))

            reader = asyncio.create_task(read())
            silence = MIC + np.zeros(1600, "<i2").tobytes()  # 0.1 s, as the page sends it

            async def talk(until: float, frames: list[bytes], every_s: float) -> None:
                next_frame = time.monotonic()
                i = 0
                while time.monotonic() < until:
                    await ws.send_bytes(silence)
                    if frames and time.monotonic() >= next_frame:
                        await ws.send_bytes(FRAME + frames[i % len(frames)])
                        i += 1
                        next_frame += every_s
                    await asyncio.sleep(0.1)  # the page's pace: 0.1 s of audio each 0.1 s

            await talk(time.monotonic() + 5, [], 1.0)  # settle: the session runs
            rss_before = rss_mb(server.pid) or 0.0
            attack_start = time.monotonic()
            await talk(attack_start + seconds, bad, 0.3)
            attack_end = time.monotonic()
            rss_after = rss_mb(server.pid) or 0.0
            during = [t for t in ticks if attack_start <= t <= attack_end + 1.5]
            gaps = [b - a for a, b in itertools.pairwise(during)]
            described_before = len(scenes)
            await talk(time.monotonic() + 8, [normal_jpeg()], 1.0)
            described = len(scenes) > described_before
            reader.cancel()
    finally:
        stop_server(server)
    worst = max(gaps) if gaps else float("inf")
    growth = rss_after - rss_before
    ok = worst <= 1.5 and growth < 300 and described
    print(f"{seconds:.0f} s of hostile frames every 0.3 s: {len(during)} ticks, longest gap {worst:.2f} s "
          f"(bound 1.5 s); RSS {rss_before:.0f} -> {rss_after:.0f} MB ({growth:+.0f} MB, bound < 300); "
          f"a normal frame described afterwards: {described} ({scenes[-1] if scenes else '-'!r})")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    return asyncio.run(run(parser.parse_args().seconds))


if __name__ == "__main__":
    sys.exit(main())
