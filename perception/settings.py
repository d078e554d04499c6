"""The describers' settings (``describer:`` in the config): the backend and each one's options.

They live beside the describers so that ``perception`` needs nothing from the app above it;
``assistant.config`` takes them into the root settings.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from kernel.settings_base import StrictModel as _Strict


class DescriberSettings(_Strict):
    backend: Literal["basic", "openai", "omnilmm", "minicpmv"] = "basic"
    text: Literal["rapidocr", "tesseract", "off"] = "rapidocr"  # basic: how text is read
    text_min_confidence: float = Field(0.8, ge=0, le=1)  # basic, rapidocr: lines read less surely are left out
    tesseract: bool | None = None  # basic, the older switch: true means text: tesseract, false text: off
    people: bool = True  # basic: look for people
    objects: bool = True  # basic: name common objects (SSD MobileNet v2, COCO classes)
    objects_min_score: float = Field(0.6, gt=0, le=1)  # basic: detections less sure than this are left out
    base_url: str | None = None  # openai: else OPENAI_VISION_BASE_URL, else OPENAI_BASE_URL
    model: str | None = None  # openai: else OPENAI_VISION_MODEL, else gpt-4o-mini; omnilmm: the weights
    repo: Path | None = None  # omnilmm: a checkout of the OpenBMB repository holding chat.py
    # minicpmv (in-process, transformers): ``model`` is a local folder or a hub id found in the local cache
    revision: str | None = None  # minicpmv: the hub commit to load (required for remote code from the hub)
    api: Literal["auto", "native", "chat"] = "auto"  # native: MiniCPM-V 4.6/4.7; chat: 2.0's remote-code model.chat
    device: Literal["auto", "cuda", "mps", "cpu"] = "auto"
    dtype: Literal["auto", "bf16", "fp16", "fp32"] = "auto"  # auto: bf16 on cuda, fp16 on mps, fp32 on cpu
    max_new_tokens: int = Field(64, ge=1, le=1024)
    allow_download: bool = False  # minicpmv: let transformers fetch a hub id that is not in the local cache
    warmup: bool = True  # minicpmv: one describe call at load, so the first real frame is not the slow one
    api_key_env: str = "OPENAI_API_KEY"
    prompt: str | None = None
    timeout_s: float = Field(20.0, gt=0)
    max_retries: int = Field(2, ge=0)
    max_side: int = Field(768, ge=64)
    # A question about what is visible gets a fresh look at the newest frame, with the question.
    # None (auto): on for the VLM backends, which answer the question; off for basic, whose
    # background description of a frame under a second old says the same, and whose look would
    # only put ~250 ms of OCR on the reply path and change the prompt warmed for the LLM.
    look: bool | None = None
    look_pattern: str | None = None  # regex for such questions (default: perception.look.VISUAL_QUESTION)
    look_timeout_s: float = Field(3.0, gt=0)
    stale_after_s: float = Field(10.0, gt=0)  # a description the camera has not confirmed for longer is stale

    @field_validator("look_pattern")
    @classmethod
    def _look_pattern_compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern, re.IGNORECASE)  # as perception.look.Look compiles it
            except (re.error, OverflowError, RecursionError) as exc:
                raise ValueError(f"not a valid regular expression ({exc})") from exc
        return pattern

    @model_validator(mode="after")
    def _older_tesseract_switch(self) -> DescriberSettings:
        """``tesseract: true|false`` from older files still works, unless ``text`` says otherwise."""
        if self.tesseract is not None and "text" not in self.model_fields_set:
            self.text = "tesseract" if self.tesseract else "off"
        elif self.tesseract is True and self.text != "tesseract":
            raise ValueError(f"tesseract: true asks for tesseract but text is {self.text}; set only describer.text")
        return self
