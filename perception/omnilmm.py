"""OmniLMM-12B through the OpenBMB repository's ``chat.py``, as its README shows:
``OmniLMMChat(model_path).chat({"image": <base64 JPEG>, "question": json.dumps(msgs)})``.

The repository is not a package: ``describer.repo`` points at a checkout that holds
``chat.py`` (and the ``omnilmm`` package next to it), and ``describer.model`` at the
weights (a local folder, or a hub id where the machine may download).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import cv2

from kernel.errors import ConfigError, ModelError

from .frames import Image
from .prompts import DEFAULT_PROMPTS, checked_language, description_language, vlm_prompt
from .settings import OmniLMMDescriberSettings


class OmniLMMDescriber:
    name = "omnilmm"

    def __init__(
        self, repo: Path | None, model: str | None, *, prompt: str | None = None, language: str = "en"
    ) -> None:
        self.language = checked_language(language)
        if repo is None:
            raise ConfigError("describer.repo: the omnilmm backend needs the path of an OpenBMB OmniLMM checkout")
        chat_py = repo / "chat.py"
        if not chat_py.is_file():
            raise ConfigError(
                f"describer.repo: '{repo}' has no chat.py (clone https://github.com/OpenBMB/OmniLMM there)"
            )
        if not model:
            raise ConfigError("describer.model: the omnilmm backend needs the OmniLMM-12B weights (path or id)")
        if str(repo) not in sys.path:
            sys.path.insert(0, str(repo))  # chat.py imports the omnilmm package beside it
        spec = importlib.util.spec_from_file_location("omnilmm_chat", chat_py)
        if spec is None or spec.loader is None:
            raise ConfigError(f"describer.repo: cannot import '{chat_py}'")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
            self._chat: Any = module.OmniLMMChat(model)
        except AttributeError as exc:
            raise ConfigError(f"describer.repo: '{chat_py}' defines no OmniLMMChat") from exc
        except Exception as exc:  # torch/transformers errors from the repository's own code
            raise ModelError(f"describer: OmniLMM could not load '{model}': {exc}") from exc
        self._custom_prompt = prompt  # describer.prompt: asked as given, in either language
        self.prompt = prompt or DEFAULT_PROMPTS[description_language(self.language, None)]

    @classmethod
    def from_settings(cls, settings: OmniLMMDescriberSettings, language: str = "en") -> OmniLMMDescriber:
        """The ``omnilmm`` backend as ``describer:`` configures it, describing in ``language``."""
        return cls(settings.repo, settings.model, prompt=settings.prompt, language=language)

    def describe(self, image: Image, question: str | None = None) -> str:
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise ModelError("describer: could not encode the frame as JPEG")
        asked = vlm_prompt(self._custom_prompt, self.language, question)
        msgs = [{"role": "user", "content": asked}]
        try:
            answer = self._chat.chat({"image": base64.b64encode(jpeg.tobytes()).decode("ascii"),
                                      "question": json.dumps(msgs)})
        except Exception as exc:
            raise ModelError(f"describer: OmniLMM failed: {exc}") from exc
        return str(answer).strip()
