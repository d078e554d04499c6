#!/usr/bin/env python3
"""Voice-to-voice latency on the bundled session, in real time, against a local
OpenAI-compatible server with a fixed time to first token and token rate.

    .venv/bin/python benchmarks/latency.py [--ttft-ms 200] [--tokens-per-s 40] [--runs 2]
        [--set KEY=VALUE ...] [--variant NAME:KEY=VALUE,KEY=VALUE ...]

Prints p50/p90 of true end of speech (from session.json) → first reply audio, with
the breakdown (VAD end, ASR final, first token, first audio), then the pipeline's
own overhead: the same replay with zero-latency ASR, LLM and TTS stand-ins, where
everything between the VAD's end of turn and the first audio is the pipeline itself.
Each ``--variant`` is replayed too, the runs alternating with the default's (which goes first
rotates), so old and new designs are compared in one sitting. All figures come from one run
of this script.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.models import Models, prepare_models  # noqa: E402
from assistant.session import make_clock, prepare_sources, run_replay  # noqa: E402
from dialogue.prompt import ReplyRequest  # noqa: E402
from kernel.eventlog import EventBus  # noqa: E402
from kernel.events import Event, ReplyAudioStarted, ReplyRequested, Speculated, TurnMetrics  # noqa: E402
from kernel.text import is_chinese  # noqa: E402
from omnilive.settings import Settings, load_settings, parse_override  # noqa: E402
from omnilive.testing import subword_tokens  # noqa: E402

# Shaped like real models' replies, taken in turn, one per request: a long first sentence with
# its comma late; a first sentence with no comma at all; a lead-in word; a list. None opens with
# a short "Sure." to speak early. Streamed as subword tokens (about 4 characters each, as BPE
# gives English).
REPLIES = (
    "The camera shows a red board with a white panel in the middle that says OPEN in large black "
    "letters, so the shop is probably open right now. Is there anything else you would like to know?",
    "I can see a wooden desk with a blue mug standing next to a sheet of white paper and a yellow pencil "
    "that is slowly sliding across it. The room looks calm and well lit.",
    "Well, it looks like a green ball is rolling from the left side of the frame towards the right in a "
    "fairly dark room. It seems to be moving at a steady pace.",
    "There are three things on the table: a blue mug, a sheet of paper, and a yellow pencil lying on "
    "top of the paper. Nothing else is in view.",
)
# The same shapes in Chinese, for a question asked in Chinese: a long first clause with its comma
# late, a first sentence with no comma, a lead-in word, a list.
REPLIES_ZH = (
    "我看到一块红色的牌子中间有一块白色的板子上面用很大的黑字写着营业中，所以这家店现在应该是开着的。你还想知道别的吗？",
    "桌子上放着一个蓝色的杯子和一张白纸还有一支黄色的铅笔正在纸上慢慢地滑过去。房间看起来很安静，光线也很好。",
    "嗯，看起来有一个绿色的球正从画面的左边往右边滚过去，房间里比较暗。它滚得挺稳的。",
    "桌子上有三样东西：一个蓝色的杯子、一张纸和一支放在纸上的黄色铅笔。别的就看不到了。",
)


def serve(ttft_s: float, tokens_per_s: float) -> ThreadingHTTPServer:
    served = itertools.count()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            asked = body["messages"][-1]["content"]
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            time.sleep(ttft_s)  # the simulated server's own latency
            replies = REPLIES_ZH if is_chinese(asked) else REPLIES
            reply = replies[next(served) % len(replies)]
            try:
                for i, token in enumerate(subword_tokens(reply)):
                    if i:
                        time.sleep(1 / tokens_per_s)
                    delta = {"choices": [{"index": 0, "delta": {"content": token}}]}
                    self.wfile.write(f"data: {json.dumps(delta)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
            except (BrokenPipeError, ConnectionResetError):
                return  # the client cancelled the reply (a barge-in, a closed tab)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class InstantAsr:
    def transcribe(self, audio: np.ndarray) -> str:
        return "what is in front of you"


class InstantTts:
    name = "instant"
    sample_rate = 16_000

    def synthesize(self, text: str) -> np.ndarray:
        return np.full(160, 1000, dtype=np.int16)


class InstantLlm:
    name = "instant"

    async def stream(self, request: ReplyRequest) -> AsyncIterator[str]:
        yield "Hello."


def replay(
    overrides: list[str], models: Models | None = None, events: list[Event] | None = None, config: str = "demo.yaml"
) -> tuple[list[TurnMetrics], list[float]]:
    settings = load_settings(ROOT / "configs" / config, [parse_override(o) for o in overrides])
    return replay_with(settings, models or prepare_models(settings, hearing=True, seeing=True), events)


def replay_with(
    settings: Settings, models: Models, events: list[Event] | None = None
) -> tuple[list[TurnMetrics], list[float]]:
    """One replay of the configured session (the bundled desk one by default): the turn metrics,
    and each question's true end of speech (session.json) → first reply audio, in ms. Every event
    is appended to ``events``."""
    sources = prepare_sources(settings)
    bus = EventBus(make_clock(settings.replay.speed))
    events = [] if events is None else events
    first = len(events)  # this run's events start here
    bus.subscribe(events.append)
    with tempfile.TemporaryDirectory() as out:
        asyncio.run(run_replay(settings, sources, models, bus, Path(out)))
    session = Path(settings.input.session) if settings.input.session else ROOT / "examples/sessions/desk"
    manifest = json.loads((session / "session.json").read_text(encoding="utf-8"))
    starts = [e.t for e in events[first:] if isinstance(e, ReplyAudioStarted)]
    v2v = [(s - q["end"]) * 1000 for s, q in zip(starts, manifest["questions"], strict=False)]
    return [e for e in events[first:] if isinstance(e, TurnMetrics)], v2v


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def served(description: str | None = None) -> tuple[argparse.Namespace, ThreadingHTTPServer, list[str]]:
    """The benchmark's arguments, the stand-in server they ask for, and the overrides that replay
    in real time against it (plus the ``--set`` ones)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--ttft-ms", type=float, default=200)
    p.add_argument("--tokens-per-s", type=float, default=40)
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--variant", action="append", default=[],
                   help="NAME:KEY=VALUE,KEY=VALUE: also replay with these overrides, alternating runs with the "
                        "default (each figure from this one sitting)")
    args = p.parse_args()
    server = serve(args.ttft_ms / 1000, args.tokens_per_s)
    base = f"http://127.0.0.1:{server.server_address[1]}/v1"
    # dialogue.grounded=false: every turn goes to the stand-in LLM (the bundled sign question would
    # otherwise be answered from the text read, with no LLM, and flatter the figures).
    return args, server, ["replay.speed=1", "dialogue.backend=openai", f"dialogue.base_url={base}",
                          "dialogue.grounded=false", *args.overrides]


def report(name: str, sets: list[str], metrics: list[TurnMetrics], v2v: list[float],
           args: argparse.Namespace) -> None:
    extra = [o for o in sets if not o.startswith(("replay.speed=", "dialogue.backend=", "dialogue.base_url="))]
    print(f"{name} ({', '.join(extra) or 'configs/demo.yaml'}): voice-to-voice, {len(v2v)} turns "
          f"(server: {args.ttft_ms:.0f} ms to first token, {args.tokens_per_s:.0f} tokens/s)")
    print(f"  true end of speech -> first reply audio: p50 {pct(v2v, 50):.0f} ms, p90 {pct(v2v, 90):.0f} ms")
    rows = [("VAD end of turn", "vad_end_ms"), ("ASR final", "asr_final_ms"),
            ("LLM request", "llm_request_ms"), ("first token", "first_token_ms"), ("first piece", "first_chunk_ms"),
            ("first audio", "first_audio_ms")]
    for label, key in rows:
        values = [getattr(t, key) for t in metrics if getattr(t, key) is not None]
        print(f"  {label:16s} p50 {pct(values, 50):6.0f} ms after the VAD's end of speech")
    for key in ("asr_ms", "asr_decode_ms", "llm_first_token_ms", "tts_ms"):
        values = [t.compute.get(key, 0.0) for t in metrics]
        print(f"  compute {key:20s} p50 {pct(values, 50):6.0f} ms")


def variants(args: argparse.Namespace, overrides: list[str]) -> list[tuple[str, list[str]]]:
    """(name, overrides) to replay: the default, then each ``--variant``."""
    out = [("default", overrides)]
    for spec in args.variant:
        name, _, sets = spec.partition(":")
        out.append((name, [*overrides, *(s for s in sets.split(",") if s)]))
    return out


def main() -> None:
    args, server, overrides = served()
    runs = variants(args, overrides)
    metrics: dict[str, list[TurnMetrics]] = {name: [] for name, _ in runs}
    v2v: dict[str, list[float]] = {name: [] for name, _ in runs}
    events: list[Event] = []
    for i in range(args.runs):
        for name, sets in runs[i % len(runs):] + runs[: i % len(runs)]:  # alternating, first one rotating
            m, v = replay(sets, events=events)
            metrics[name] += m
            v2v[name] += v
    for name, sets in runs:
        report(name, sets, metrics[name], v2v[name], args)
    speculated = [e for e in events if isinstance(e, Speculated)]
    wasted = sum(not e.used for e in speculated)
    requests = sum(isinstance(e, ReplyRequested) for e in events) + wasted
    print(f"  speculative requests: {len(speculated)} sent, {len(speculated) - wasted} used, {wasted} wasted "
          f"({wasted} of {requests} requests to the server)")

    instant = Models(vad=None, asr=InstantAsr(), describer=None, tts=InstantTts(), llm=InstantLlm())
    from speech.vad import SileroVad

    instant.vad = SileroVad()
    overhead: list[float] = []
    for _ in range(args.runs):
        m, _ = replay(["replay.speed=1", "input.session=null", f"input.audio={ROOT}/examples/sessions/desk/audio.wav"],
                      instant)
        overhead += [t.first_audio_ms - t.vad_end_ms for t in m if t.first_audio_ms is not None]
    print(f"pipeline overhead (VAD end of turn -> first audio, instant models), {len(overhead)} turns: "
          f"p50 {pct(overhead, 50):.1f} ms, p99 {pct(overhead, 99):.1f} ms")
    server.shutdown()


if __name__ == "__main__":
    main()
