"""Reading text: RapidOCR on drawn signs (English, digits, Chinese), tesseract, and the settings."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont
from skimage import data as photos

from kernel.errors import ConfigError
from perception.basic import BasicDescriber
from perception.ocr import RapidOcrReader, TesseractReader, clean_word, reading_order
from perception.settings import BasicDescriberSettings

CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")  # Debian fonts-wqy-microhei

needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract binary not installed")
needs_cjk_font = pytest.mark.skipif(not CJK_FONT.exists(), reason="no CJK font: apt-get install fonts-wqy-microhei")


@pytest.fixture(scope="module")
def reader() -> RapidOcrReader:
    return RapidOcrReader()


def photo_bgr(name: str) -> np.ndarray:
    """One of scikit-image's real photos (RGB in the wheel) as a BGR frame."""
    return np.ascontiguousarray(cv2.cvtColor(getattr(photos, name)(), cv2.COLOR_RGB2BGR))


def page(*lines: tuple[str, tuple[int, int]], scale: float = 1.2) -> np.ndarray:
    """Black print on a white 640x480 frame; each line is (text, bottom-left corner)."""
    image = np.full((480, 640, 3), 255, np.uint8)
    for text, corner in lines:
        cv2.putText(image, text, corner, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    return image


def test_single_characters_and_digits_are_read_whole(reader: RapidOcrReader) -> None:
    assert reader.read(page(("GATE 5 IS CLOSED", (40, 240)))) == ["GATE 5 IS CLOSED"]
    assert reader.read(page(("7", (300, 260)), scale=3.0)) == ["7"]
    assert reader.read(page(("0123456789", (60, 240)))) == ["0123456789"]


def test_lines_come_in_reading_order(reader: RapidOcrReader) -> None:
    # Drawn bottom line first and the right-hand word of the top line before the left one.
    image = page(("PLATFORM 2", (60, 380)), ("EXIT", (420, 140)), ("WAY OUT", (60, 140)))
    assert reader.read(image) == ["WAY OUT EXIT", "PLATFORM 2"]


def test_reading_order_groups_boxes_into_lines() -> None:
    boxes = [(100.0, 130.0, 300.0, "B"), (300.0, 330.0, 10.0, "C"), (104.0, 128.0, 20.0, "A")]
    assert reading_order(boxes) == ["A B", "C"]
    assert reading_order([]) == []


@needs_cjk_font
def test_chinese_sign_is_read(reader: RapidOcrReader) -> None:
    sign = PILImage.new("RGB", (640, 480), (200, 30, 30))
    ImageDraw.Draw(sign).text((170, 180), "营业中", font=ImageFont.truetype(str(CJK_FONT), 96), fill=(255, 255, 255))
    assert reader.read(cv2.cvtColor(np.asarray(sign), cv2.COLOR_RGB2BGR)) == ["营业中"]


def test_unsure_reads_are_left_out(reader: RapidOcrReader) -> None:
    strict = RapidOcrReader(min_confidence=1.01)  # above any score: everything is dropped
    assert strict.read(page(("GATE 5 IS CLOSED", (40, 240)))) == []
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    assert reader.read(cv2.GaussianBlur(noise, (7, 7), 0)) == []
    for photo in ("astronaut", "coffee", "chelsea"):
        assert reader.read(photo_bgr(photo)) == [], photo


def test_runs_on_one_thread_and_odd_sizes(reader: RapidOcrReader) -> None:
    assert reader.threads == {1}
    for height, width in ((1, 1), (2, 2), (7, 300), (90, 160), (480, 1920)):
        assert reader.read(np.zeros((height, width, 3), np.uint8)) == []


@needs_tesseract
def test_tesseract_keeps_single_characters_beside_words() -> None:
    tesseract = TesseractReader()
    assert tesseract.read(page(("GATE 5 IS CLOSED", (40, 240)))) == ["GATE 5 IS CLOSED"]
    assert tesseract.read(photo_bgr("astronaut")) == []  # no lone specks read as "1" or "I"
    describer = BasicDescriber(use_tesseract=True)
    assert describer.uses_tesseract
    assert describer.describe(page(("GATE 5 IS CLOSED", (40, 240)))).endswith("text: GATE 5 IS CLOSED")


def test_clean_word() -> None:
    assert clean_word("5", 95) == "5"
    assert clean_word("A", 95) == "A"
    assert clean_word("x", 95) == ""  # a lone lower-case letter is a speck
    assert clean_word("5", 60) == ""
    assert clean_word("(CLOSED)", 93) == "CLOSED"
    assert clean_word("qT", 99) == ""


def test_text_setting_and_the_older_tesseract_switch() -> None:
    assert BasicDescriberSettings().text == "rapidocr"
    assert BasicDescriberSettings.model_validate({"tesseract": True}).text == "tesseract"
    assert BasicDescriberSettings.model_validate({"tesseract": False}).text == "off"
    assert BasicDescriberSettings.model_validate({"text": "off", "tesseract": False}).text == "off"
    with pytest.raises(ValueError, match=r"set only describer\.text"):
        BasicDescriberSettings.model_validate({"text": "rapidocr", "tesseract": True})
    assert BasicDescriber(use_tesseract=False).text_engine == "off"
    assert BasicDescriber(text="off", use_tesseract=True).text_engine == "off"  # text wins
    line = BasicDescriber(text="off").describe(page(("OPEN", (200, 240))))
    assert line == "nothing I can name; the view is mostly white"


def test_missing_tesseract_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(ConfigError, match="tesseract"):
        BasicDescriber(text="tesseract")
