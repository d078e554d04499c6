"""Units: the VAD segmenter and Silero, the sentence chunker, config loading, the offline responder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from dialogue.chunker import SentenceChunker
from dialogue.offline import offline_reply
from dialogue.prompt import Conversation, Exchange, build_request
from kernel.errors import ConfigError
from omnilive.settings import load_settings, parse_override
from perception.memory import SceneDescription
from perception.sampling import ChangeGate, Sampler
from speech.audio import BLOCK
from speech.vad import Segmenter, SileroVad, VadEnd, VadStart

from .conftest import ROOT, SESSION

BLOCK_S = BLOCK / 16000


def _segment(probs: list[float], **kw: int) -> list[VadStart | VadEnd]:
    seg = Segmenter(**kw)
    out: list[VadStart | VadEnd] = []
    for i, p in enumerate(probs):
        out += seg.push(np.full(BLOCK, i, dtype=np.float32), i * BLOCK_S, p)
    return out + seg.flush()


def test_segmenter_needs_min_speech_and_min_silence() -> None:
    # 5 blocks of speech (160 ms) is shorter than 250 ms: ignored.
    assert _segment([0.0] * 5 + [0.9] * 5 + [0.0] * 30) == []
    signals = _segment([0.0] * 5 + [0.9] * 20 + [0.0] * 30, min_silence_ms=500, pad_ms=0)
    start, end = signals
    assert isinstance(start, VadStart) and isinstance(end, VadEnd)
    assert start.start == pytest.approx(5 * BLOCK_S)
    assert end.end == pytest.approx(25 * BLOCK_S)
    assert len(end.audio) == 20 * BLOCK  # no padding asked for: exactly the voiced blocks


def test_segmenter_bridges_short_pauses_and_pads() -> None:
    probs = [0.0] * 10 + [0.9] * 10 + [0.1] * 5 + [0.9] * 10 + [0.0] * 40
    signals = _segment(probs, min_silence_ms=500, pad_ms=96)
    assert [type(s) for s in signals] == [VadStart, VadEnd]
    end = signals[1]
    assert isinstance(end, VadEnd)
    assert end.end == pytest.approx(35 * BLOCK_S)
    assert len(end.audio) == (25 + 3 + 3) * BLOCK  # 3 blocks of padding each side
    assert end.audio[0] == 7  # the pre-roll starts 3 blocks before the voice


def test_segmenter_flushes_speech_at_end_of_input() -> None:
    signals = _segment([0.9] * 20)
    assert isinstance(signals[-1], VadEnd)


def test_silero_hears_speech_not_silence() -> None:
    audio, rate = sf.read(SESSION / "audio.wav", dtype="float32")
    assert rate == 16000
    vad = SileroVad()
    speech = audio[int(2.2 * rate) : int(2.2 * rate) + 20 * BLOCK]
    probs = [vad(speech[i : i + BLOCK]) for i in range(0, len(speech), BLOCK)]
    vad.reset()
    quiet = [vad(np.zeros(BLOCK, dtype=np.float32)) for _ in range(20)]
    assert np.mean(probs) > 0.5 > max(quiet)


def test_chunker_splits_on_sentences_and_long_clauses() -> None:
    c = SentenceChunker(max_chars=40)
    out: list[str] = []
    for token in ["Hello", "there.", "How", "are", "you?", "I", "am", "fine"]:
        out += c.feed(token + " ")
    assert out == ["Hello there.", "How are you?"]
    assert c.flush() == ["I am fine"]
    long = SentenceChunker(max_chars=40).feed("one two three, four five six seven eight nine ten eleven")
    assert long == ["one two three,", "four five six seven eight nine ten"]  # no piece over 40, "eleven" waits
    assert SentenceChunker().feed("3.5 degrees") == []  # a decimal point is not a sentence end


def test_chunker_lets_the_first_clause_go_early() -> None:
    c = SentenceChunker(first_clause_words=4)
    out: list[str] = []
    text = "Well, I can see a red sign, and it says open, so come in. Later, more text here, ok."
    for token in text.split():
        out += c.feed(token + " ")
    # "Well," is too short; the first clause with four words goes out at once; then whole sentences.
    assert out == ["Well, I can see a red sign,", "and it says open, so come in.", "Later, more text here, ok."]
    assert SentenceChunker(first_clause_words=0).feed("Well, I can see a red sign, and more ") == []


def test_config_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("input:\n  session: ../sessions/x\nreplay:\n  speed: 0\n")
    s = load_settings(cfg, [parse_override("dialogue.backend=offline"), parse_override("video.change_threshold=0.1")])
    assert s.input.session == tmp_path / "../sessions/x"
    assert s.replay.speed == 0
    assert s.dialogue.backend == "offline" and s.video.change_threshold == 0.1


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("replay.speed=-1", "replay.speed"),
        ("describer.backend=nope", "describer.backend"),
        ("vad.nonsense=1", "vad.nonsense"),
        ("asr.beam_size=many", "asr.beam_size"),
    ],
)
def test_config_errors_name_the_field(override: str, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(ROOT / "configs" / "demo.yaml", [parse_override(override)])
    assert field in str(info.value) and "\n" not in str(info.value)


def test_demo_config_is_valid() -> None:
    s = load_settings(ROOT / "configs" / "demo.yaml")
    assert s.input.session is not None and (s.input.session / "session.json").is_file()


def test_offline_reply_is_honest_and_uses_the_scene() -> None:
    scene = SceneDescription(text="A red sign reads OPEN.", frame_t=3.0, described_at=3.0, backend="basic")
    seen = build_request("can you read the sign", Conversation(), [scene], now=5.0)
    assert seen.scene_age_s == 2.0
    reply = offline_reply(seen)
    assert reply.startswith("No language model is connected.") and "OPEN" in reply
    blind = offline_reply(build_request("what time is it", Conversation(), [], now=5.0))
    assert "nothing yet" in blind and "what time is it" in blind


def test_prompt_carries_history_and_scene() -> None:
    conv = Conversation(max_turns=2)
    for i in range(3):
        conv.add(Exchange(user=f"q{i}", assistant=f"a{i}", interrupted=i == 2))
    scene = SceneDescription(text="A dim room.", frame_t=1.0, described_at=1.0, backend="basic")
    req = build_request("and now?", conv, [scene], now=11.0)
    contents = [m["content"] for m in req.messages]
    # Over two exchanges, the older half went to the summary at once (the prompt's start then
    # stays the same for a while, which a local model's cache needs).
    assert "q0" not in contents and "q1" not in contents
    assert contents[1].startswith("Summary of the conversation") and "q0" in contents[1] and "q1" in contents[1]
    assert contents[2:4] == ["q2", "a2 [interrupted by the user]"]
    block = contents[4].splitlines()[-3:]
    assert block == ["<camera_observations>", "Now: A dim room.", "</camera_observations>"]
    assert contents[-1] == "and now?"


def test_sampler_and_change_gate() -> None:
    s = Sampler(1.0)
    assert [t for t in (0.0, 0.1, 0.5, 1.0, 1.2, 2.05) if s.due(t)] == [0.0, 1.0, 2.05]
    gate = ChangeGate(threshold=0.05)
    black = np.zeros((48, 64, 3), dtype=np.uint8)
    white = np.full_like(black, 255)
    assert gate.check(black) == (True, 1.0)
    assert gate.check(black.copy())[0] is False
    changed, score = gate.check(white)
    assert changed and score == pytest.approx(1.0)


def test_live_status_shows_state_partial_scene_and_reply() -> None:
    from rich.console import Console

    from kernel.clock import FakeClock
    from kernel.events import (
        ReplyAudioEnded,
        ReplyAudioStarted,
        ReplyChunk,
        SceneDescribed,
        SpeechStarted,
        Transcribed,
    )
    from omnilive.console import LiveStatus

    clock = FakeClock(10.0)
    status = LiveStatus(clock)

    def shown() -> str:
        console = Console(record=True, width=120)
        console.print(status)
        return console.export_text()

    status(SceneDescribed(t=4.0, text="A red sign reads OPEN.", frame_t=3.0, change=0.5, backend="basic", compute_ms=1))
    status(SpeechStarted(t=9.0, utterance=1, speech_start_at=8.7))
    status(Transcribed(t=9.5, utterance=1, text="can you read", final=False, compute_ms=1))
    text = shown()
    assert "hearing you" in text and "can you read" in text and "camera (7 s ago): A red sign reads OPEN." in text
    status(ReplyChunk(t=10.0, turn=1, text="It says open."))
    status(ReplyAudioStarted(t=10.0, turn=1))
    assert "speaking" in shown() and "It says open." in shown()
    status(ReplyAudioEnded(t=12.0, turn=1, duration_s=2.0, path=None))
    assert "listening" in shown() and "It says open." not in shown()


def test_dialogue_limits_reach_the_turns() -> None:
    from assistant.models import Models
    from assistant.pipeline import Pipeline
    from dialogue.offline import OfflineResponder
    from kernel.clock import FakeClock
    from kernel.eventlog import EventBus
    from omnilive.settings import Settings

    settings = Settings.model_validate({"dialogue": {"history_tokens": 50, "observations": 1}})
    tts = object()
    models = Models(vad=object(), asr=object(), describer=None, tts=tts, llm=OfflineResponder())  # type: ignore[arg-type]
    pipeline = Pipeline(settings, models, EventBus(FakeClock()), sink=object())  # type: ignore[arg-type]
    assert pipeline.manager is not None
    assert pipeline.manager.runner.history_tokens == 50 and pipeline.manager.runner.observations == 1


@pytest.mark.parametrize("name", ["demo.yaml", "desktop.yaml", "served.yaml", "kiosk.yaml", "web.yaml"])
def test_every_shipped_config_is_valid(name: str) -> None:
    settings = load_settings(ROOT / "configs" / name)
    assert settings.mode == {"demo.yaml": "replay", "web.yaml": "web"}.get(name, "live")


def test_turn_timer_forgets_utterances_that_never_became_turns() -> None:
    """A kiosk hears thousands of utterances a day, many ignored (echo, no words): memory stays flat."""
    from assistant.timing import KEEP_UTTERANCES, TurnTimer
    from kernel.events import SpeechEnded, Transcribed

    timer = TurnTimer()
    for n in range(1, 5001):
        timer(SpeechEnded(t=n + 0.5, utterance=n, speech_start_at=float(n), speech_end_at=n + 0.2))
        timer(Transcribed(t=n + 0.6, utterance=n, text="hm", final=True, compute_ms=1.0))
        if n % 3 == 0:
            timer.begin(n, n)  # a turn that was cancelled before it finished
    sizes = (len(timer._speech_end), len(timer._final), len(timer._turns))
    assert max(sizes) <= KEEP_UTTERANCES + 1, sizes
    timer.begin(9999, 5000)
    assert timer.finish(9999, 5001.0) is not None  # the newest still has its times


def test_first_piece_is_cut_after_a_few_words_when_no_clause_ends() -> None:
    c = SentenceChunker(first_clause_words=4, first_max_words=5)
    got: list[str] = []
    words = ["The", "green", "ball", "is", "moving", "left", "to", "right", "in", "a", "dark", "scene.",
             "It", "rolls", "on."]
    for token in words:
        got += c.feed(token + " ")
    got += c.flush()
    assert got == ["The green ball is moving", "left to right in a dark scene.", "It rolls on."]
    c = SentenceChunker(first_clause_words=4, first_max_words=5)
    assert c.feed("Yes, I can read the sign for ") == ["Yes,"]  # the clause end inside the first words wins
    short = SentenceChunker(first_clause_words=4, first_max_words=5)
    assert short.feed("I can see a red ") == [] and short.feed("sign. It ") == ["I can see a red sign."]
    assert SentenceChunker(first_max_words=5).feed("The sign says OPEN. And ") == ["The sign says OPEN."]
    assert SentenceChunker(first_max_words=0).feed("one two three four five six seven ") == []


@pytest.mark.parametrize("text", [
    "word " * 1000,  # a 5000-character sentence with no full stop
    "x" * 3000,  # one long "word"
    ("a clause, " * 60).strip() + ".",  # a 600-character sentence that ends
    "Short. " + "and then " * 100 + "end.",
])
def test_no_piece_is_longer_than_max_chars_whatever_the_text(text: str) -> None:
    c = SentenceChunker(max_chars=220)
    whole = [*c.feed(text), *c.flush()]
    assert whole and all(0 < len(p) <= 220 for p in whole), [len(p) for p in whole]
    assert "".join(whole).replace(" ", "") == text.replace(" ", "")  # nothing lost or added
    streamed = SentenceChunker(max_chars=220)
    tokens = [text[i : i + 4] for i in range(0, len(text), 4)]
    pieces = [p for t in tokens for p in streamed.feed(t)] + streamed.flush()
    assert all(0 < len(p) <= 220 for p in pieces)
