"""MiniCPM-V in-process, through transformers.

Two ways in, picked from the checkpoint's ``config.json`` (or ``describer.api``):

- ``native``: MiniCPM-V 4.6 / 4.7, transformers' own classes (``AutoProcessor`` +
  ``AutoModelForImageTextToText``), no remote code; the prompt goes through the
  processor's chat template and ``generate``.
- ``chat``: MiniCPM-V 2.0 (``openbmb/MiniCPM-V-2``) and its siblings, whose modelling
  code ships with the weights (``trust_remote_code``); OpenBMB's documented call is
  ``model.chat(image=, msgs=, context=None, tokenizer=, sampling=, temperature=)``.

The model loads once, runs one warm-up describe, and is reused for every frame; calls
are serialised (the background describer and a question-aware look share it).

Pitfalls handled here:

- transformers names the remote-code module after the model folder, so a ``.`` in a
  local folder name (``MiniCPM-V-2.0``) breaks the import: such a folder is loaded
  through a dot-free symlink.
- remote code from the hub runs whatever the repository holds today: a hub id with
  the ``chat`` API needs ``describer.revision`` (a commit), and the native API warns
  without one.
- nothing is downloaded unless ``describer.allow_download`` is set: a hub id must
  already be in the local Hugging Face cache.
"""

from __future__ import annotations

import importlib
import json
import logging
import re
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import cv2
import numpy as np

from kernel.errors import ConfigError, ModelError

from .frames import Image
from .prompts import DEFAULT_PROMPTS, checked_language, description_language, vlm_prompt
from .settings import MiniCPMVDescriberSettings

log = logging.getLogger(__name__)

NATIVE_MODEL_TYPES = {"minicpmv4_6", "minicpmv4_7"}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}

Api = Literal["native", "chat"]


def _stack() -> tuple[ModuleType, ModuleType]:
    try:
        torch = importlib.import_module("torch")
        transformers = importlib.import_module("transformers")
    except ImportError as exc:
        raise ConfigError(
            f"describer.backend: minicpmv needs torch, torchvision and transformers ({exc.name} is missing): "
            "pip install -e '.[vlm]'"
        ) from exc
    return torch, transformers


def _is_hub_id(model: str) -> bool:
    return bool(_HUB_ID.match(model)) and not Path(model).exists()


def read_model_config(model: str, *, revision: str | None, local_only: bool) -> dict[str, Any]:
    """The checkpoint's ``config.json``: from the folder, or from the local hub cache."""
    path = Path(model).expanduser()
    if path.is_dir():
        config = path / "config.json"
        if not config.is_file():
            raise ConfigError(f"describer.model: '{path}' has no config.json (not a transformers checkpoint)")
    elif _is_hub_id(model):
        hub = importlib.import_module("huggingface_hub")
        try:
            config = Path(hub.hf_hub_download(model, "config.json", revision=revision, local_files_only=local_only))
        except Exception as exc:
            where = "the local Hugging Face cache" if local_only else "the hub"
            raise ConfigError(
                f"describer.model: '{model}' (revision {revision or 'main'}) is not in {where}; download it once "
                "with `hf download`, point describer.model at a folder, or set describer.allow_download: true"
            ) from exc
    else:
        raise ConfigError(f"describer.model: folder '{model}' does not exist")
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"describer.model: cannot read '{config}': {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"describer.model: '{config}' is not a JSON object")
    return data


def detect_api(config: dict[str, Any]) -> Api:
    model_type = str(config.get("model_type", ""))
    if model_type in NATIVE_MODEL_TYPES:
        return "native"
    if "auto_map" in config:
        return "chat"
    raise ConfigError(
        f"describer.model: model_type '{model_type}' is neither MiniCPM-V 4.6/4.7 (native) "
        "nor a remote-code MiniCPM-V with auto_map (chat); set describer.api if you know better"
    )


def importable_folder(folder: Path, links: Path) -> Path:
    """``folder`` itself, or a symlink to it whose name has no ``.`` (remote code is imported by folder name)."""
    if "." not in folder.name:
        return folder
    links.mkdir(parents=True, exist_ok=True)
    link = links / folder.name.replace(".", "_")
    target = folder.resolve()
    if link.is_symlink() and link.resolve() != target:
        link.unlink()
    if not link.exists():
        link.symlink_to(target, target_is_directory=True)
    log.info("loading '%s' through '%s': a '.' in the folder name breaks remote-code imports", folder, link)
    return link


def pick_device(torch: ModuleType, wanted: str) -> str:
    cuda = bool(torch.cuda.is_available())
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if wanted == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if (wanted == "cuda" and not cuda) or (wanted == "mps" and not mps):
        raise ConfigError(f"describer.device: '{wanted}' was asked for, but torch sees no such device here")
    return wanted


def pick_dtype(device: str, wanted: str) -> str:
    if wanted == "auto":
        return {"cuda": "bfloat16", "mps": "float16"}.get(device, "float32")
    return _DTYPES[wanted]


def to_pil(image: Image, max_side: int) -> Any:
    pil = importlib.import_module("PIL.Image")
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale < 1:
        image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return pil.fromarray(np.ascontiguousarray(rgb))


class MiniCPMVDescriber:
    name = "minicpmv"

    def __init__(
        self,
        model: str | None,
        *,
        revision: str | None = None,
        api: Literal["auto", "native", "chat"] = "auto",
        device: str = "auto",
        dtype: str = "auto",
        prompt: str | None = None,
        language: str = "en",
        max_new_tokens: int = 64,
        max_side: int = 768,
        allow_download: bool = False,
        warmup: bool = True,
        links_dir: Path | None = None,
    ) -> None:
        if not model:
            raise ConfigError("describer.model: the minicpmv backend needs a model folder or hub id")
        self.torch, self._transformers = _stack()
        local_only = not allow_download
        config = read_model_config(model, revision=revision, local_only=local_only)
        self.api: Api = detect_api(config) if api == "auto" else api
        source = self._source(model, revision, links_dir)
        self.device = pick_device(self.torch, device)
        self.dtype = pick_dtype(self.device, dtype)
        self.language = checked_language(language)
        self._custom_prompt = prompt  # describer.prompt: asked as given, in either language
        self.prompt = prompt or DEFAULT_PROMPTS[description_language(self.language, None)]
        self.max_new_tokens = max_new_tokens
        self.max_side = max_side
        self._lock = threading.Lock()
        started = time.perf_counter()
        self._load(model, source, revision=revision, local_only=local_only)
        self.load_s = time.perf_counter() - started
        self.warmup_s = 0.0
        if warmup:
            started = time.perf_counter()
            self.describe(np.full((64, 64, 3), 128, np.uint8))
            self.warmup_s = time.perf_counter() - started
        log.info("MiniCPM-V (%s API) on %s/%s: loaded in %.2f s, warm-up %.2f s",
                 self.api, self.device, self.dtype, self.load_s, self.warmup_s)

    def _source(self, model: str, revision: str | None, links_dir: Path | None) -> str:
        """Where transformers loads from: the hub id, or (remote code) an importable link to the folder."""
        hub = _is_hub_id(model)
        if hub and revision is None:
            if self.api == "chat":
                raise ConfigError(
                    f"describer.revision: '{model}' runs remote code from the hub; pin the commit to run"
                )
            log.warning("describer.revision is not set: '%s' loads whatever the cache holds as main", model)
        if not hub and self.api == "chat":
            links = links_dir or Path.home() / ".cache" / "omnilive" / "models"
            return str(importable_folder(Path(model).expanduser(), links))
        return model

    def _load(self, model: str, source: str, *, revision: str | None, local_only: bool) -> None:
        """The processor (or tokenizer) and the model, on the device; any failure is one ModelError line."""
        common: dict[str, Any] = {"revision": revision, "local_files_only": local_only}
        try:
            if self.api == "native":
                self._processor = self._transformers.AutoProcessor.from_pretrained(source, **common)
                loaded = self._transformers.AutoModelForImageTextToText.from_pretrained(
                    source, dtype=getattr(self.torch, self.dtype), **common
                )
            else:
                self._tokenizer = self._transformers.AutoTokenizer.from_pretrained(
                    source, trust_remote_code=True, **common
                )
                loaded = self._transformers.AutoModel.from_pretrained(
                    source, trust_remote_code=True, dtype=getattr(self.torch, self.dtype), **common
                )
            self._model = loaded.to(self.device).eval()
        except ConfigError:
            raise
        except Exception as exc:  # torch / transformers / remote code: one line, not a traceback
            raise ModelError(f"describer: MiniCPM-V could not load '{model}': {type(exc).__name__}: {exc}") from exc

    @classmethod
    def from_settings(cls, settings: MiniCPMVDescriberSettings, language: str = "en") -> MiniCPMVDescriber:
        """The ``minicpmv`` backend as ``describer:`` configures it, describing in ``language``."""
        return cls(settings.model, revision=settings.revision, api=settings.api, device=settings.device,
                   dtype=settings.dtype, prompt=settings.prompt, language=language,
                   max_new_tokens=settings.max_new_tokens,
                   max_side=settings.max_side, allow_download=settings.allow_download, warmup=settings.warmup)

    def describe(self, image: Image, question: str | None = None) -> str:
        asked = vlm_prompt(self._custom_prompt, self.language, question)
        picture = to_pil(image, self.max_side)
        try:
            with self._lock, self.torch.inference_mode():
                text = self._native(picture, asked) if self.api == "native" else self._chat(picture, asked)
        except Exception as exc:
            raise ModelError(f"describer: MiniCPM-V failed: {type(exc).__name__}: {exc}") from exc
        return text.strip()

    def _native(self, picture: Any, asked: str) -> str:
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": asked}]}]
        prompt = self._processor.apply_chat_template(messages, add_generation_prompt=True)
        inputs = self._processor(images=[picture], text=[prompt], return_tensors="pt")
        inputs = inputs.to(self.device, dtype=getattr(self.torch, self.dtype))
        out = self._model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        new = out[:, inputs["input_ids"].shape[1] :]
        return str(self._processor.batch_decode(new, skip_special_tokens=True)[0])

    def _chat(self, picture: Any, asked: str) -> str:
        msgs = [{"role": "user", "content": asked}]
        answer = self._model.chat(
            image=picture, msgs=msgs, context=None, tokenizer=self._tokenizer, sampling=False, temperature=0.7
        )
        # 2.0 returns (answer, context, generation); later remote-code versions return the answer alone
        return str(answer[0] if isinstance(answer, tuple) else answer)
