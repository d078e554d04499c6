"""Settings: YAML files validated into typed, strict pydantic models.

Relative paths in a YAML file are relative to that file; paths given on the
command line are relative to the working directory. ``--set a.b=value``
overrides any field; the value is parsed as YAML (``--set replay.speed=0``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import Field, ValidationError, model_validator

from kernel.errors import ConfigError
from kernel.settings_base import StrictModel as _Strict
from kiosk.settings import KioskSettings
from perception.registry import DescriberSettings
from perception.settings import BasicDescriberSettings


class InputSettings(_Strict):
    session: Path | None = None
    video: Path | None = None
    audio: Path | None = None

    @model_validator(mode="after")
    def _one_source(self) -> InputSettings:
        if self.session is not None and (self.video is not None or self.audio is not None):
            raise ValueError("give either a session folder or video/audio files, not both")
        return self


class ReplaySettings(_Strict):
    speed: float = Field(1.0, ge=0, description="1 = real time, 0 = as fast as the models allow")
    loops: int = Field(1, ge=0, description="play the input this many times in a row; 0 = until stopped")


class OutputSettings(_Strict):
    dir: Path | None = None
    # Live and kiosk modes only (a replay writes where it is told and removes nothing):
    # run folders beside this run's, and this run's reply WAVs, stay under max_mb together,
    # oldest removed first; runs older than max_age_days go. Folders beside an --out or
    # --record folder are never touched. null: no cap.
    max_mb: float | None = Field(1024, gt=0)
    max_age_days: float | None = Field(30, gt=0)
    events_max_mb: float | None = Field(20, gt=0)  # events.jsonl rotates past this (null: never)
    events_keep: int = Field(3, ge=1)  # rotated logs kept: events.1.jsonl, events.2.jsonl, ...


class VideoSettings(_Strict):
    sample_interval_s: float = Field(1.0, gt=0)
    change_threshold: float = Field(0.03, ge=0, le=1)


class VadSettings(_Strict):
    model: Path | None = None
    threshold: float = Field(0.5, gt=0, lt=1)
    min_speech_ms: int = Field(250, ge=32)
    min_silence_ms: int = Field(500, ge=32)
    pad_ms: int = Field(200, ge=0)
    max_utterance_s: float = Field(30.0, gt=1)


# Primes Whisper for questions to a seeing assistant; no short speakable sentence in it (those
# come back as hallucinations on silence). Chosen by benchmarks/asr_wer.py.
ASR_PROMPT = "Questions to an assistant that looks through a camera and describes what it sees."


class AsrSettings(_Strict):
    """Chosen by word error rate on voices the project was not tuned on (benchmarks/asr_wer.py):
    the default is accurate; ``model: tiny.en`` is the fast profile."""

    backend: Literal["faster-whisper"] = "faster-whisper"
    model: str = "base"  # multilingual Whisper base, shipped in PyPI packages; "tiny.en" is the fast profile
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = Field(2, ge=1)
    beam_size: int = Field(5, ge=1)
    language: str | None = "en"
    initial_prompt: str | None = ASR_PROMPT  # null: none
    partial_interval_s: float = Field(0.0, ge=0)  # 0: no partial transcripts (live: 1.0)
    early_decode: bool = True  # decode at the first pause instead of after the VAD's end-of-turn silence
    # How much silence makes a pause worth an early decode. Gaps between words are 32-96 ms in
    # speech; a decode started on one is wasted when the voice goes on (keep it under vad.min_silence_ms).
    early_decode_after_ms: int = Field(96, ge=1)


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class LocalLlmSettings(_Strict):
    """``dialogue.backend: local``: llama.cpp in process (llama-cpp-python)."""

    model: str = "qwen2.5-coder-1.5b"  # a shipped name (see dialogue/shipped.py) or a GGUF file
    threads: int = Field(2, ge=1)
    context: int = Field(2048, ge=256, le=32768)
    batch: int = Field(256, ge=8)
    max_tokens: int = Field(160, ge=1)
    temperature: float = Field(0.3, ge=0, le=2)


class DialogueSettings(_Strict):
    backend: Literal["auto", "openai", "local", "offline"] = "auto"
    local: LocalLlmSettings = LocalLlmSettings()
    base_url: str | None = None
    model: str | None = None
    # The name of the environment variable holding the API key; the key itself is never a setting.
    api_key_env: str = "OPENAI_API_KEY"
    system_prompt: str | None = None
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(200, ge=1)
    timeout_s: float = Field(30.0, gt=0)
    max_retries: int = Field(2, ge=0)
    history_turns: int = Field(6, ge=0)
    first_chunk_words: int = Field(1, ge=0)  # the first spoken piece may end at a clause once it has this many words
    # ...and is cut after this many words when no clause or sentence has ended (0: never)
    first_chunk_max_words: int = Field(5, ge=0)
    history_tokens: int = Field(600, ge=0, description="budget for past turns, at ~4 characters a token")
    observations: int = Field(3, ge=1, description="recent scene descriptions given to the LLM")

    @model_validator(mode="before")
    @classmethod
    def _key_env_is_a_name(cls, data: Any) -> Any:
        # A model-level check, so the error never echoes the value: it may be a key pasted by mistake.
        name = data.get("api_key_env") if isinstance(data, dict) else None
        if name is not None and not (isinstance(name, str) and _ENV_NAME.fullmatch(name)):
            raise ValueError("api_key_env must be the name of an environment variable (letters, digits, _), not a key")
        return data


class TtsSettings(_Strict):
    backend: Literal["piper", "pyttsx3"] = "piper"
    voice: str = "joe"
    length_scale: float | None = Field(None, gt=0)
    rate: int | None = Field(None, gt=0)


class EchoSettings(_Strict):
    half_duplex: bool = False  # mute the microphone while the assistant speaks
    half_duplex_tail_ms: int = Field(300, ge=0)
    correlation_threshold: float = Field(0.6, gt=0, le=1)  # speech this like the speaker output is echo
    transcript_similarity: float = Field(80.0, ge=0, le=100)  # transcripts this like a recent reply are echo
    window_s: float = Field(8.0, gt=0)


class LiveSettings(_Strict):
    camera: str | None = "0"  # index, device path, file or stream URL; null for no camera
    microphone: str | None = None  # name (substring) or index; null for the default input
    speaker: str | None = None  # name (substring) or index; null for the default output
    barge_in: bool = True
    barge_in_min_speech_ms: int = Field(250, ge=32)
    echo: EchoSettings = EchoSettings()
    preview: bool = False
    record: Path | None = None


class SupervisorSettings(_Strict):
    """Restart a stage that crashes, or stalls (work waiting, nothing taken for ``stall_s``)."""

    enabled: bool = True
    stall_s: float = Field(60.0, gt=0)
    backoff_initial_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(30.0, gt=0)


class Settings(_Strict):
    mode: Literal["replay", "live"] = "replay"
    input: InputSettings = InputSettings()
    replay: ReplaySettings = ReplaySettings()
    output: OutputSettings = OutputSettings()
    video: VideoSettings = VideoSettings()
    describer: DescriberSettings = BasicDescriberSettings()  # describer.backend picks the model
    vad: VadSettings = VadSettings()
    asr: AsrSettings = AsrSettings()
    dialogue: DialogueSettings = DialogueSettings()
    tts: TtsSettings = TtsSettings()
    live: LiveSettings = LiveSettings()
    supervisor: SupervisorSettings = SupervisorSettings()
    kiosk: KioskSettings = Field(default_factory=KioskSettings)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"


_PATH_FIELDS = (
    ("input", "session"),
    ("input", "video"),
    ("input", "audio"),
    ("output", "dir"),
    ("vad", "model"),
    ("live", "record"),
    ("describer", "repo"),
    ("kiosk", "mqtt", "password_file"),
    ("kiosk", "mqtt", "tls", "ca_file"),
    ("kiosk", "mqtt", "tls", "certfile"),
    ("kiosk", "mqtt", "tls", "keyfile"),
)


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


def _field_path(loc: tuple[int | str, ...]) -> tuple[list[int | str], str]:
    """``loc`` as the YAML spells it, and which member of a discriminated union it is in.

    Pydantic puts the member's tag in ``loc`` (``describer.openai.repo``); the file has no such
    level, so it is left out, and said instead: ``("describer.repo", " for backend 'openai'")``.
    """
    path: list[int | str] = []
    member = ""
    model: Any = Settings
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


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    loc, member = _field_path(first["loc"])
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


def load_settings(
    path: Path | None,
    overrides: list[tuple[str, Any]] = (),  # type: ignore[assignment]
) -> Settings:
    data: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
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
        data = loaded or {}
        base = path.resolve().parent
        for *sections, key in _PATH_FIELDS:
            node: Any = data
            for section in sections:
                node = node.get(section) if isinstance(node, dict) else None
            if isinstance(node, dict) and isinstance(node.get(key), str):
                node[key] = str(base / node[key])
    for key, value in overrides:
        _set_dotted(data, key, value)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        origin = f"config '{path}'" if path is not None else "config"
        raise ConfigError(f"{origin}: {_describe(exc)}") from exc
