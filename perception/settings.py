"""The describers' settings (``describer:`` in the config): the fields every backend shares, and one
model per backend with only its own options. ``describer.backend`` picks the model
(:data:`perception.registry.DescriberSettings`, a discriminated union), so a field of another
backend (``backend: openai`` with ``repo:``) is an unknown field, not a silent no-op.

They live beside the describers so that ``perception`` needs nothing from the app above it;
``assistant.config`` takes them into the runtime's settings. Importing this module is cheap: no backend
(OpenCV, openai, torch) is loaded until :func:`perception.registry.make_describer` picks one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from kernel.settings_base import StrictModel as _Strict


class DescriberSettingsBase(_Strict):
    """What every backend has: the choice of backend, the look, and staleness."""

    backend: str
    # A question about what is visible gets a fresh look at the newest frame, with the question.
    # None (auto): each backend's ``LOOK_BY_DEFAULT``, on for the VLM backends, which answer the question.
    look: bool | None = None
    look_pattern: str | None = None  # regex for such questions (default: perception.look.VISUAL_QUESTION)
    look_timeout_s: float = Field(3.0, gt=0)
    stale_after_s: float = Field(10.0, gt=0)  # a description the camera has not confirmed for longer is stale

    LOOK_BY_DEFAULT: ClassVar[bool] = True

    @property
    def looks(self) -> bool:
        """Whether a visual question gets a fresh look: ``look``, else the backend's default."""
        return self.look if self.look is not None else self.LOOK_BY_DEFAULT

    @field_validator("look_pattern")
    @classmethod
    def _look_pattern_compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern, re.IGNORECASE)  # as perception.look.Look compiles it
            except (re.error, OverflowError, RecursionError) as exc:
                raise ValueError(f"not a valid regular expression ({exc})") from exc
        return pattern


class BasicDescriberSettings(DescriberSettingsBase):
    """``basic``: OpenCV shapes, faces and people, COCO objects, and text (:mod:`perception.basic`)."""

    backend: Literal["basic"] = "basic"
    text: Literal["rapidocr", "tesseract", "off"] = "rapidocr"  # how text is read
    text_min_confidence: float = Field(0.8, ge=0, le=1)  # rapidocr: lines read less surely are left out
    tesseract: bool | None = None  # the older switch: true means text: tesseract, false text: off
    people: bool = True  # look for people
    objects: bool = True  # name common objects (SSD MobileNet v2, COCO classes)
    objects_min_score: float = Field(0.5, gt=0, le=1)  # detections less sure than this are left out
    # ...and those less sure than this are said as "possibly a cat", unless the frame before had one there too
    objects_sure_score: float = Field(0.6, gt=0, le=1)
    objects_review: bool = True  # a doubtful guess is looked at again, cropped (perception/objects.py)

    # Off: its background description of a frame under a second old says most of what a look would.
    # On (describer.look: true), a look says first what the question asks ("no dog; a cat…"), and at an
    # unchanged view costs no detector or OCR; but it changes the prompt warmed for the LLM, and with the
    # text first the local model obeyed an order on a sign (tests/test_local_brain.py).
    LOOK_BY_DEFAULT: ClassVar[bool] = False

    @model_validator(mode="after")
    def _older_tesseract_switch(self) -> BasicDescriberSettings:
        """``tesseract: true|false`` from older files still works, unless ``text`` says otherwise."""
        if self.tesseract is not None and "text" not in self.model_fields_set:
            self.text = "tesseract" if self.tesseract else "off"
        elif self.tesseract is True and self.text != "tesseract":
            raise ValueError(f"tesseract: true asks for tesseract but text is {self.text}; set only describer.text")
        return self


class OpenAIDescriberSettings(DescriberSettingsBase):
    """``openai``: any OpenAI-compatible vision endpoint (:mod:`perception.openai_vision`)."""

    backend: Literal["openai"] = "openai"
    base_url: str | None = None  # else OPENAI_VISION_BASE_URL, else OPENAI_BASE_URL
    model: str | None = None  # else OPENAI_VISION_MODEL, else gpt-4o-mini
    api_key_env: str = "OPENAI_API_KEY"
    prompt: str | None = None  # else the default of the description language, perception.prompts.DEFAULT_PROMPTS
    timeout_s: float = Field(20.0, gt=0)
    max_retries: int = Field(2, ge=0)
    max_side: int = Field(768, ge=64)  # the frame is shrunk to this longer side before it is sent


class OmniLMMDescriberSettings(DescriberSettingsBase):
    """``omnilmm``: OmniLMM-12B through the OpenBMB repository's ``chat.py`` (:mod:`perception.omnilmm`)."""

    backend: Literal["omnilmm"] = "omnilmm"
    repo: Path | None = None  # a checkout of the OpenBMB repository holding chat.py
    model: str | None = None  # the weights: a local folder, or a hub id where the machine may download
    prompt: str | None = None  # else the default of the description language, perception.prompts.DEFAULT_PROMPTS


class MiniCPMVDescriberSettings(DescriberSettingsBase):
    """``minicpmv``: MiniCPM-V in-process through transformers (:mod:`perception.minicpmv`)."""

    backend: Literal["minicpmv"] = "minicpmv"
    model: str | None = None  # a local folder, or a hub id found in the local cache
    revision: str | None = None  # the hub commit to load (required for remote code from the hub)
    api: Literal["auto", "native", "chat"] = "auto"  # native: MiniCPM-V 4.6/4.7; chat: 2.0's remote-code model.chat
    device: Literal["auto", "cuda", "mps", "cpu"] = "auto"
    dtype: Literal["auto", "bf16", "fp16", "fp32"] = "auto"  # auto: bf16 on cuda, fp16 on mps, fp32 on cpu
    prompt: str | None = None  # else the default of the description language, perception.prompts.DEFAULT_PROMPTS
    max_new_tokens: int = Field(64, ge=1, le=1024)
    max_side: int = Field(768, ge=64)
    allow_download: bool = False  # let transformers fetch a hub id that is not in the local cache
    warmup: bool = True  # one describe call at load, so the first real frame is not the slow one
