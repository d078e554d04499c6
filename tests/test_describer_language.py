"""Describers in the session's language (``language: auto | en | zh``): the basic describer's line in
Chinese on drawn frames, the bundled session and real photos (RapidOCR and the COCO detector are
real), and the Chinese prompt sent to each VLM backend (a local OpenAI-compatible server, the
OmniLMM chat.py stand-in, tiny MiniCPM-V checkpoints built offline)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from perception.basic import BasicDescriber, render
from perception.basic_zh import COLOURS, FORMS, MOTIONS, OBJECTS, number_zh, render_zh
from perception.objects import COCO_LABELS, ObjectDetector
from perception.openai_vision import OpenAIVisionDescriber
from perception.prompts import (
    DEFAULT_PROMPT,
    DEFAULT_PROMPT_ZH,
    checked_language,
    description_language,
    has_cjk,
    vlm_prompt,
)
from perception.registry import make_describer
from perception.scene import SceneDetails
from perception.settings import BasicDescriberSettings, OmniLMMDescriberSettings, OpenAIDescriberSettings
from perception.shapes import colour_labels

from .fakes import chat_server
from .test_describer_objects import frame_at as session_frame
from .test_describer_objects import photo
from .test_describer_text import CJK_FONT, needs_cjk_font
from .test_vision_backends import STANDIN_CHAT_PY

WIDTH, HEIGHT = 640, 480
ASCII_LETTERS = re.compile(r"[A-Za-z]")


def wall() -> np.ndarray:
    return np.full((HEIGHT, WIDTH, 3), (150, 150, 150), np.uint8)


def chinese_sign(words: str = "营业中") -> np.ndarray:
    """A red board with white Chinese characters on a grey wall, as a BGR frame."""
    image = PILImage.new("RGB", (WIDTH, HEIGHT), (90, 90, 90))
    draw = ImageDraw.Draw(image)
    draw.rectangle([170, 150, 470, 300], fill=(200, 30, 30))
    draw.text((220, 190), words, font=ImageFont.truetype(str(CJK_FONT), 64), fill=(255, 255, 255))
    return cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)


def with_disc(x: int, y: int = 240) -> np.ndarray:
    image = wall()
    cv2.circle(image, (x, y), 70, (40, 190, 40), -1, cv2.LINE_AA)
    return image


def without_text(line: str) -> str:
    """``line`` without the text read from the frame (never translated): "写着“…”" or "text: …"."""
    return re.sub(r"写着“[^”]*”|text: [^;]*", "", line)


@pytest.fixture(scope="module")
def zh() -> BasicDescriber:
    return BasicDescriber(language="zh")


# -- which language ---------------------------------------------------------------------------------


def test_the_description_language_follows_the_session_and_in_auto_the_question() -> None:
    assert description_language("zh", None) == "zh" and description_language("zh", "What is this?") == "zh"
    assert description_language("en", None) == "en" and description_language("en", "这是什么？") == "en"
    assert description_language("auto", None) == "en"  # background descriptions: English unless zh
    assert description_language("auto", "这是什么？") == "zh"
    assert description_language("auto", "What does 营业中 mean?") == "zh"  # any Chinese character
    assert description_language("auto", "What is this?") == "en"
    assert has_cjk("\u3400") and has_cjk("\uf900") and has_cjk("牌")
    assert not has_cjk("こんにちは") and not has_cjk("OPEN 24h")  # kana is not Chinese
    with pytest.raises(ValueError, match="zh"):
        checked_language("fr")
    with pytest.raises(ValueError, match="'cn'"):
        BasicDescriber(text="off", language="cn")


def test_vlm_prompts_per_language_and_the_users_own_prompt() -> None:
    assert DEFAULT_PROMPT == "What is happening in the image? Read out any text you can see."
    assert DEFAULT_PROMPT_ZH == "图片里正在发生什么？请读出你能看到的所有文字。"
    assert vlm_prompt(None, "zh", None) == DEFAULT_PROMPT_ZH
    assert vlm_prompt(None, "auto", None) == DEFAULT_PROMPT
    assert vlm_prompt(None, "auto", "这是什么？") == f"{DEFAULT_PROMPT_ZH}然后回答：这是什么？"
    assert vlm_prompt(None, "auto", "What is it?") == f"{DEFAULT_PROMPT} Then answer: What is it?"
    # describer.prompt is the user's: asked as given in both languages; the joiner follows the language.
    assert vlm_prompt("Count {things}.", "zh", None) == "Count {things}."
    assert vlm_prompt("Count {things}.", "zh", "几个？") == "Count {things}.然后回答：几个？"
    assert vlm_prompt("Count.", "en", "几个？") == "Count. Then answer: 几个？"


# -- the basic describer in Chinese -------------------------------------------------------------------


@needs_cjk_font
def test_a_chinese_sign_is_read_and_described_in_chinese(zh: BasicDescriber) -> None:
    sign = chinese_sign()
    assert zh.describe(sign) == "一个红色的长方形，背景是灰色；写着“营业中”"
    assert zh.describe(sign, "牌子上写的是什么？") == "写着“营业中”；一个红色的长方形，背景是灰色"
    assert zh.describe(sign, "What does the sign say?").startswith("写着“营业中”；")  # zh: always Chinese
    assert zh.describe(wall(), "上面写着什么字？") == "没有可读的文字；一片纯灰色的画面"


def test_colours_forms_and_counts_in_chinese() -> None:
    image = wall()
    for x in (40, 240, 440):
        cv2.rectangle(image, (x, 60), (x + 150, 210), (30, 30, 210), -1)  # three red squares
    cv2.circle(image, (320, 360), 60, (190, 80, 25), -1)  # a smaller blue disc
    line = BasicDescriber(text="off", language="zh").describe(image)
    assert line == "三个红色的正方形和一个蓝色的圆形物体，背景是灰色", line
    image[:] = (150, 150, 150)
    cv2.rectangle(image, (40, 100), (400, 300), (40, 210, 240), -1)  # a yellow rectangle
    cv2.rectangle(image, (450, 100), (600, 250), (200, 0, 128), -1)  # a purple square
    line = BasicDescriber(text="off", language="zh").describe(image)
    assert line == "一个黄色的长方形和一个紫色的正方形，背景是灰色", line


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [((150, 240), (330, 240), "往右边移动"), ((450, 240), (300, 240), "往左边移动"),
     ((320, 120), (320, 330), "往下移动"), ((320, 330), (330, 200), "往上移动")],
)
def test_motion_between_two_frames_in_chinese(start: tuple[int, int], end: tuple[int, int], words: str) -> None:
    describer = BasicDescriber(text="off", language="zh")
    assert describer.describe(with_disc(*start)) == "一个绿色的圆形物体，背景是灰色"
    assert describer.describe(with_disc(*end)) == f"一个绿色的圆形物体正在{words}，背景是灰色"


def test_the_bundled_session_in_chinese() -> None:
    describer = BasicDescriber(language="zh")
    describer.describe(session_frame(2.0))
    assert describer.describe(session_frame(3.0)) == "一个蓝色的物体，还有一个白色的长方形正在往右边移动，背景是棕色"
    sign = describer.describe(session_frame(12.0))
    assert sign == "一个红色的长方形和一个白色的长方形，背景是灰色；写着“OPEN”", sign
    assert describer.describe(session_frame(12.0), "你能读一下牌子吗？").startswith("写着“OPEN”；一个红色")


def test_dark_and_plain_scenes_in_chinese() -> None:
    ball = session_frame(22.0)
    describer = BasicDescriber(text="off", language="zh")
    assert describer.describe(ball) == "一个绿色的圆形物体，画面很暗"
    dim = (ball * 0.5).astype(np.uint8)
    assert BasicDescriber(text="off", language="zh").describe(dim) == "一个绿色的圆形物体，画面非常暗"
    assert describer.describe((ball * 0.2).astype(np.uint8)) == "画面非常暗"
    assert describer.describe(wall()) == "一片纯灰色的画面"
    assert describer.describe(np.zeros((HEIGHT, WIDTH, 3), np.uint8)) == "一片纯黑色的画面"
    white_page = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)
    cv2.putText(white_page, "OPEN", (200, 240), cv2.FONT_HERSHEY_SIMPLEX, 2, (0, 0, 0), 4)
    assert describer.describe(white_page) == "没有我能叫出名字的东西，大部分是白色"


def test_questions_about_people_put_them_first_in_both_languages(zh: BasicDescriber) -> None:
    desk = session_frame(3.0)
    assert zh.describe(desk, "有人吗？").startswith("没有人脸或人；一个蓝色的物体")
    english = BasicDescriber(text="off", language="en")
    # An English session still hears a Chinese question about people, or about text.
    assert english.describe(desk, "这里有谁？").startswith("nobody in view; a blue object")
    assert english.describe(desk, "牌子上写着什么？").startswith("no readable text; a blue object")
    assert not english.describe(desk, "这是什么颜色？").startswith("no ")


@needs_cjk_font
def test_auto_describes_in_english_and_answers_in_the_questions_language() -> None:
    auto = BasicDescriber(language="auto")
    sign = chinese_sign()
    assert auto.describe(sign) == "a red rectangle on a gray background; text: 营业中"
    assert auto.describe(sign, "牌子上写的是什么？") == "写着“营业中”；一个红色的长方形，背景是灰色"
    assert auto.describe(sign, "What does the sign say?") == "text: 营业中; a red rectangle on a gray background"
    english = BasicDescriber(language="en")
    assert english.describe(sign, "牌子上写的是什么？") == "text: 营业中; a red rectangle on a gray background"


@needs_cjk_font
def test_a_chinese_background_line_has_no_english_but_the_text_it_read(zh: BasicDescriber) -> None:
    frames = [session_frame(t) for t in (0.0, 3.0, 12.0, 22.0)]
    frames += [chinese_sign(), with_disc(200), wall(), photo("coffee"), photo("chelsea")]
    for frame in frames:
        line = zh.describe(frame)
        assert has_cjk(line) and not ASCII_LETTERS.search(without_text(line)), line
    assert "OPEN" in zh.describe(session_frame(12.0))  # what is read stays as it was written


def test_every_colour_form_motion_and_coco_name_has_chinese() -> None:
    _, colours = colour_labels(np.zeros((1, 1, 3), np.uint8))
    assert set(colours) <= set(COLOURS)
    assert set(FORMS) == {"round object", "oval object", "rectangle", "square", "object"}
    assert set(MOTIONS) == {"moving to the right", "moving to the left", "moving down", "moving up"}
    coco = {name for name in COCO_LABELS.values() if name}
    assert len(coco) == 80 and coco <= set(OBJECTS)
    for chinese in [*COLOURS.values(), *FORMS.values(), *MOTIONS.values(), *(n + m for n, m in OBJECTS.values())]:
        assert has_cjk(chinese) and not ASCII_LETTERS.search(chinese), chinese


def test_detector_names_faces_and_people_are_counted_in_chinese() -> None:
    def details(objects: tuple[str, ...] = (), faces: int = 0, people: int = 0) -> SceneDetails:
        return SceneDetails(objects, faces, people, (), "", "", "", ())

    counted = render_zh(details(("two people", "a cup", "three mice", "an apple")))
    assert counted == "两个人、一个杯子、三个鼠标和一个苹果"
    # A name the tables lack (another detector's) is kept as it was given.
    assert render_zh(details(("cup", "cup", "cat", "widget"))) == "两个杯子、一只猫和一个widget"
    assert render_zh(details(("2 wine glasses", "some books", "a gadget"))) == "两个酒杯、一些书和一个gadget"
    assert render_zh(details(faces=2, people=1)) == "两张脸和一个人"
    assert render_zh(details(("a person",), faces=1, people=3)) == "一个人和一张脸"  # the detector counts people
    assert render_zh(details(faces=1), "谁在那儿？") == "一张脸"
    assert render_zh(details()) == "没有我能叫出名字的东西"
    assert render(details(faces=2, people=1)) == "two faces and a person"  # the English line is unchanged
    assert [number_zh(n) for n in (1, 2, 3, 10, 12, 20, 35, 99, 120)] == [
        "一", "两", "三", "十", "十二", "二十", "三十五", "九十九", "120"]


def test_objects_from_the_coco_detector_are_named_in_chinese() -> None:
    detector = ObjectDetector()
    zh = BasicDescriber(text="off", objects=detector.names, language="zh")
    assert zh.describe(photo("coffee")).startswith("一个杯子"), zh.describe(photo("coffee"))
    assert zh.describe(photo("chelsea")).startswith("一只猫")
    astronaut = zh.describe(photo("astronaut"), "这里有谁？")
    assert astronaut.startswith("一张脸；一个人"), astronaut  # people first, the detector's person kept


# -- the registry and the VLM backends -------------------------------------------------------------------


def test_the_registry_passes_the_language_to_the_basic_backend() -> None:
    settings = BasicDescriberSettings(text="off", objects=False)
    assert make_describer(settings, "zh").describe(with_disc(200)) == "一个绿色的圆形物体，背景是灰色"
    assert make_describer(settings).describe(with_disc(200)) == "a green round object on a gray background"
    auto = make_describer(settings, language="auto")
    assert auto.describe(with_disc(200), "这是什么？") == "一个绿色的圆形物体，背景是灰色"


def test_the_served_vision_model_is_asked_in_chinese() -> None:
    image = np.zeros((48, 64, 3), np.uint8)
    with chat_server("一张桌子。") as (base_url, requests):
        zh = make_describer(OpenAIDescriberSettings(base_url=base_url, max_retries=0), "zh")
        assert isinstance(zh, OpenAIVisionDescriber) and zh.prompt == DEFAULT_PROMPT_ZH
        assert zh.describe(image) == "一张桌子。"
        zh.describe(image, "What is this?")
        auto = OpenAIVisionDescriber(base_url=base_url, max_retries=0, language="auto")
        auto.describe(image)
        auto.describe(image, "这是什么？")
        auto.describe(image, "What is this?")
        OpenAIVisionDescriber(base_url=base_url, max_retries=0, prompt="Name it.", language="zh").describe(
            image, "这是什么？")
    assert [r["messages"][0]["content"][0]["text"] for r in requests] == [
        DEFAULT_PROMPT_ZH,
        f"{DEFAULT_PROMPT_ZH}用户问：What is this?",
        DEFAULT_PROMPT,
        f"{DEFAULT_PROMPT_ZH}用户问：这是什么？",
        f"{DEFAULT_PROMPT} The user asks: What is this?",
        "Name it.用户问：这是什么？",
    ]


def test_omnilmm_is_asked_in_chinese(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "chat.py").write_text(STANDIN_CHAT_PY)
    image = np.zeros((48, 64, 3), np.uint8)
    zh = make_describer(OmniLMMDescriberSettings(repo=tmp_path / "repo", model="weights"), "zh")
    assert zh.describe(image) == f"weights saw 64x48: {DEFAULT_PROMPT_ZH}"
    assert zh.describe(image, "这是什么？") == f"weights saw 64x48: {DEFAULT_PROMPT_ZH}然后回答：这是什么？"
    auto = make_describer(OmniLMMDescriberSettings(repo=tmp_path / "repo", model="weights"), "auto")
    assert auto.describe(image) == f"weights saw 64x48: {DEFAULT_PROMPT}"
    assert auto.describe(image, "这是什么？").endswith(f"{DEFAULT_PROMPT_ZH}然后回答：这是什么？")


def test_minicpmv_chat_api_is_asked_in_chinese(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="needs the vlm extra: pip install -e '.[vlm]'")
    pytest.importorskip("transformers", reason="needs the vlm extra: pip install -e '.[vlm]'")
    from perception.minicpmv import MiniCPMVDescriber

    from .tiny_minicpmv import build_chat_standin

    folder = build_chat_standin(tmp_path / "standin")
    describer = MiniCPMVDescriber(str(folder), language="zh", links_dir=tmp_path / "links")
    red = np.zeros((120, 160, 3), np.uint8)
    red[..., 2] = 200
    assert describer.describe(red) == f"A mostly red picture. You asked: {DEFAULT_PROMPT_ZH}"
    assert describer.describe(red, "这是什么颜色？").endswith(f"{DEFAULT_PROMPT_ZH}然后回答：这是什么颜色？")
    calls = sys.modules[type(describer._model).__module__].CALLS
    assert [call["msgs"] for call in calls[-3:]] == [  # the warm-up, then the two calls
        [{"role": "user", "content": DEFAULT_PROMPT_ZH}],
        [{"role": "user", "content": DEFAULT_PROMPT_ZH}],
        [{"role": "user", "content": f"{DEFAULT_PROMPT_ZH}然后回答：这是什么颜色？"}],
    ]


def test_minicpmv_native_template_gets_the_chinese_prompt(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="needs the vlm extra: pip install -e '.[vlm]'")
    pytest.importorskip("transformers", reason="needs the vlm extra: pip install -e '.[vlm]'")
    from perception.minicpmv import MiniCPMVDescriber
    from perception.settings import MiniCPMVDescriberSettings

    from .tiny_minicpmv import build_native

    folder = build_native(tmp_path / "tiny-minicpmv-4_6")
    settings = MiniCPMVDescriberSettings(model=str(folder), device="cpu", max_new_tokens=2, warmup=False)
    describer = make_describer(settings, "auto")
    assert isinstance(describer, MiniCPMVDescriber)
    seen: list[str] = []
    processor = describer._processor
    real_call = type(processor).__call__

    class Spy(type(processor)):  # type: ignore[misc]
        def __call__(self, *args: object, **kwargs: object) -> object:
            seen.append(kwargs["text"][0])  # type: ignore[index]
            return real_call(self, *args, **kwargs)

    processor.__class__ = Spy
    frame = with_disc(200)
    assert isinstance(describer.describe(frame, "这是什么？"), str)
    describer.describe(frame)
    assert f"{DEFAULT_PROMPT_ZH}然后回答：这是什么？" in seen[0]
    assert DEFAULT_PROMPT in seen[1] and not has_cjk(seen[1])
