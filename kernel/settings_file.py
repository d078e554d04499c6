"""Settings files: YAML validated into a strict pydantic model, with one-line errors.

Relative paths in a YAML file are relative to that file; paths given on the command line are
relative to the working directory. ``--set a.b=value`` overrides any field; the value is parsed
as YAML (``--set replay.speed=0``). The model is the caller's: the app's root settings, or any
part of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {dotted}: '{key}' is not a section")
        node = child
    node[keys[-1]] = value


def _yaml(text: str) -> Any:
    """``yaml.safe_load``, with every failure a ``yaml.YAMLError``: PyYAML also raises ValueError
    ("2001-02-30", "!!int 0x"), AttributeError ("!!timestamp 1") and RecursionError (deep nesting)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise
    except Exception as exc:
        raise yaml.YAMLError(f"{type(exc).__name__}: {exc}") from exc


def parse_override(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise ConfigError(f"--set {text}: expected dotted.path=value")
    key, raw = text.split("=", 1)
    if not key.strip():
        raise ConfigError(f"--set {text}: empty field name")
    try:
        value = _yaml(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    if isinstance(value, bool) and raw.strip().lower() not in ("true", "false"):
        # YAML 1.1 reads yes/no/on/off as booleans ("asr.language=no" is Norwegian);
        # pydantic still reads these words as booleans where a field is one.
        value = raw.strip()
    return key.strip(), value


def _loc_part(part: int | str) -> str:
    text = str(part)  # a key that would break the line or hide in it is quoted: '\n', ' '
    return text if text and text.isprintable() and text.strip() == text else repr(part)


def _field_path(model: Any, loc: tuple[int | str, ...]) -> tuple[list[int | str], str]:
    """``loc`` as the YAML spells it, and which member of a discriminated union it is in.

    Pydantic puts the member's tag in ``loc`` (``describer.openai.repo``); the file has no such
    level, so it is left out, and said instead: ``("describer.repo", " for backend 'openai'")``.
    """
    path: list[int | str] = []
    member = ""
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        path.append(part)
        fields = getattr(model, "model_fields", None) if isinstance(model, type) else None
        field = fields.get(part) if isinstance(fields, dict) and isinstance(part, str) else None
        if field is None:
            return path + parts, member
        model = field.annotation
        key = field.discriminator
        if isinstance(key, str) and parts:
            tag = parts.pop(0)
            member = f" for {key} {tag!r}"
            model = next((m for m in get_args(model) if tag in get_args(m.model_fields[key].annotation)), None)
    return path, member


def describe_error(model: type[BaseModel], error: ValidationError) -> str:
    """The first error of ``error`` in one line, named by its place in the file."""
    first = error.errors()[0]
    loc, member = _field_path(model, first["loc"])
    where = ".".join(_loc_part(p) for p in loc) or "(top level)"
    message = first["msg"]
    got = first.get("input")
    if first["type"] == "extra_forbidden":
        message = f"unknown field{member}"
    elif first["type"] == "union_tag_invalid":  # describer.backend: nope
        key = str(first.get("ctx", {}).get("discriminator", "")).strip("'")
        where = f"{where}.{key}"
        message = f"Input should be one of {first.get('ctx', {}).get('expected_tags')}"
        got = got.get(key) if isinstance(got, dict) else got
    shown = f" (got {got!r})" if first["type"] != "extra_forbidden" and not isinstance(got, dict) else ""
    more = f" [and {len(error.errors()) - 1} more]" if len(error.errors()) > 1 else ""
    return f"{where}: {message}{shown}{more}"


def _read(path: Path) -> dict[str, Any]:
    try:
        if not path.is_file():  # a folder, or a FIFO that would block the read
            raise ConfigError(f"config file '{path}': {'not a file' if path.exists() else 'no such file'}")
        loaded = _yaml(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"config file '{path}': cannot read it ({exc.strerror or exc})") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file '{path}': not valid YAML ({exc})".replace("\n", " ")) from exc
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"config file '{path}': the top level must be a mapping")
    return loaded or {}


def load_settings_file(
    model: type[M],
    path: Path | None,
    overrides: Iterable[tuple[str, Any]] = (),
    *,
    path_fields: Sequence[tuple[str, ...]] = (),
) -> M:
    """``path`` (or nothing) with ``overrides`` on top, validated into ``model``. The string
    fields at ``path_fields`` (dotted places) are made relative to the file's folder."""
    data: dict[str, Any] = {}
    if path is not None:
        data = _read(path)
        base = path.resolve().parent
        for *sections, key in path_fields:
            node: Any = data
            for section in sections:
                node = node.get(section) if isinstance(node, dict) else None
            if isinstance(node, dict) and isinstance(node.get(key), str):
                node[key] = str(base / node[key])
    for key, value in overrides:
        _set_dotted(data, key, value)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        origin = f"config '{path}'" if path is not None else "config"
        raise ConfigError(f"{origin}: {describe_error(model, exc)}") from exc
