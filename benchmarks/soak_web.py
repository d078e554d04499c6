#!/usr/bin/env python3
"""Soak of the browser mode: the real server (``run_assistant.py --config configs/web.yaml``, its
own process) with Debian's Chromium talking to it through a fake camera and mic that loop the
bundled desk session, for ``--minutes`` (default 20). Beside it a fuzzer, as hostile pages would:
every ``--fuzz-every`` seconds one of: a display view that opens and goes, a talk socket beyond the
only slot, hostile messages on a display socket (unknown kinds, odd PCM, a huge or broken frame,
1 MB of text, "[" * 100000), HTTP junk (traversal, long URLs, wrong methods), a burst of sockets.

The server's resident memory (RSS) is sampled every few seconds; after ``--warmup`` minutes it may
grow by at most ``--bound`` percent (the median of the last minute against the median of the first
minute after warm-up). The server must still answer at the end, and the page must still be talking
(replies played). One run; prints the figures and PASS or FAIL.

    .venv/bin/python benchmarks/soak_web.py [--minutes 20] [--warmup 3] [--bound 10] [--no-fuzz]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.soak import rss_mb  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SESSION = ROOT / "examples" / "sessions" / "desk"


def start_server(out: Path) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "run_assistant.py"), "--config", str(ROOT / "configs" / "web.yaml"),
         "--set", "web.port=0", "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert server.stdout is not None
    deadline = time.monotonic() + 300
    for line in server.stdout:
        if (m := re.search(r"open (http://\S+?/)", line)) is not None:
            return server, m.group(1)
        if time.monotonic() > deadline:
            break
    server.kill()
    raise SystemExit("soak_web: the server did not start")


def stop_server(server: subprocess.Popen[str]) -> None:
    """SIGTERM, as a service manager stops it; killed if it has not ended within a minute."""
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def media(folder: Path) -> tuple[Path, Path]:
    video = folder / "desk.mjpeg"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(SESSION / "video.mp4"), "-vf", "scale=320:240",
                    "-r", "10", "-q:v", "5", "-f", "mjpeg", str(video)], check=True)
    return SESSION / "audio.wav", video


async def fuzz_once(http: aiohttp.ClientSession, url: str, rng: random.Random, tally: dict[str, int]) -> None:
    kind = rng.choice(["display", "busy", "hostile", "http", "burst"])
    tally[kind] = tally.get(kind, 0) + 1
    try:
        if kind == "display":
            async with http.ws_connect(url + "ws?view=display") as ws:
                await ws.receive(timeout=5)
        elif kind == "busy":  # the slot is the page's: this one is told busy after the slot wait
            async with http.ws_connect(url + "ws") as ws:
                await ws.receive(timeout=15)
        elif kind == "hostile":
            async with http.ws_connect(url + "ws?view=display") as ws:
                for data in (b"", b"\x09junk", b"\x01\x00", b"\x02" + b"\xff\xd8" + rng.randbytes(2000),
                             b"\x01" + rng.randbytes(rng.randrange(1, 5000))):
                    await ws.send_bytes(data)
                for text in ("x" * 1_000_000, "[" * 100_000, '{"type": "volume", "level": 9}', "\u0000"):
                    await ws.send_str(text)
        elif kind == "http":
            for method, path in (("GET", "static/%2e%2e/server.py"), ("POST", ""), ("GET", "?" + "a" * 20_000),
                                 ("GET", "nothing"), ("PUT", "ws")):
                async with http.request(method, url + path) as response:
                    await response.read()
        else:
            sockets = [await http.ws_connect(url + "ws?view=display") for _ in range(20)]
            for ws in sockets:
                await ws.close()
    except (aiohttp.ClientError, TimeoutError, ConnectionError):
        tally["refused"] = tally.get("refused", 0) + 1


async def soak(args: argparse.Namespace) -> int:
    from playwright.async_api import async_playwright

    folder = Path(tempfile.mkdtemp(prefix="soak-web-"))
    server, url = start_server(folder / "sessions")
    audio, video = media(folder)
    samples: list[tuple[float, float]] = []
    tally: dict[str, int] = {}
    rng = random.Random(7)
    started = time.monotonic()
    try:
        async with async_playwright() as p, aiohttp.ClientSession() as http:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={audio}", f"--use-file-for-fake-video-capture={video}",
                "--autoplay-policy=no-user-gesture-required"])
            page = await (await browser.new_context()).new_page()
            await page.goto(url)
            next_fuzz = time.monotonic() + args.fuzz_every
            while (elapsed := time.monotonic() - started) < args.minutes * 60:
                if (rss := rss_mb(server.pid)) is not None:
                    samples.append((elapsed, rss))
                if args.fuzz and time.monotonic() >= next_fuzz:
                    await fuzz_once(http, url, rng, tally)
                    next_fuzz = time.monotonic() + args.fuzz_every
                await asyncio.sleep(args.sample_every)  # the soak's own pacing, not a test's timing
            played = await page.evaluate("window.omnilive ? window.omnilive.chunksPlayed : 0")
            async with http.get(url) as response:
                answering = response.status in (200, 503)
            await browser.close()
    finally:
        stop_server(server)
    crashed = server.returncode not in (0, 130, -signal.SIGTERM)
    warm = args.warmup * 60
    first = [r for t, r in samples if warm <= t < warm + 60]
    last = [r for t, r in samples if t >= args.minutes * 60 - 60]
    if not first or not last:
        print("soak_web: too short to compare (raise --minutes)")
        return 1
    growth = (statistics.median(last) / statistics.median(first) - 1) * 100
    ok = growth <= args.bound and answering and played > 0 and not crashed
    print(f"browser soak: {args.minutes} min, RSS {statistics.median(first):.0f} MB after warm-up -> "
          f"{statistics.median(last):.0f} MB at the end ({growth:+.1f}%, bound +{args.bound}%), peak "
          f"{max(r for _, r in samples):.0f} MB; reply chunks played in the page: {played}; fuzzer: {tally}; "
          f"server answering at the end: {answering}; exit {server.returncode}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--bound", type=float, default=10.0)
    parser.add_argument("--sample-every", type=float, default=5.0)
    parser.add_argument("--fuzz-every", type=float, default=4.0)
    parser.add_argument("--fuzz", action=argparse.BooleanOptionalAction, default=True)
    return asyncio.run(soak(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
