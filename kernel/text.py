"""Telling Chinese from other text, one definition for every layer: the recognizer's output, the
reply language, the voice per piece, the chunker, the describers and the console all ask it."""

from __future__ import annotations

import re

# Han characters: CJK Unified Ideographs, Extension A, and the compatibility ideographs.
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def is_chinese(text: str) -> bool:
    """Whether ``text`` holds a Chinese character."""
    return HAN.search(text) is not None
