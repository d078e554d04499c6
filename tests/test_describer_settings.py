"""``describer:`` is one settings model per backend, picked by ``backend:`` (a discriminated union
built from :data:`perception.registry.BACKENDS`): another backend's field is a one-line config
error, each backend's settings survive a dump and a reload, and the registry names every backend."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any, get_args

import pytest

from kernel.errors import ConfigError
from omnilive.settings import Settings, load_settings, parse_override
from perception.registry import BACKENDS, DEFAULT_BACKEND
from perception.settings import (
    BasicDescriberSettings,
    DescriberSettingsBase,
    MiniCPMVDescriberSettings,
    OmniLMMDescriberSettings,
    OpenAIDescriberSettings,
)

from .conftest import ROOT, run_main

# Every field changed from its default, so a field lost on the way back shows.
CHANGED: dict[str, dict[str, Any]] = {
    "basic": {"text": "tesseract", "tesseract": True, "text_min_confidence": 0.5, "people": False, "objects": False,
              "objects_min_score": 0.7, "objects_sure_score": 0.9,
              "objects_review": False},
    "openai": {"base_url": "http://vlm:8000/v1", "model": "minicpm-v", "api_key_env": "VLM_KEY", "prompt": "Say it.",
               "timeout_s": 5.0, "max_retries": 0, "max_side": 512},
    "omnilmm": {"repo": "/opt/OmniLMM", "model": "/models/OmniLMM-12B", "prompt": "Say it."},
    "minicpmv": {"model": "/models/MiniCPM-V-4.6", "revision": "0" * 40, "api": "native", "device": "cpu",
                 "dtype": "fp32", "prompt": "Say it.", "max_new_tokens": 16, "max_side": 448,
                 "allow_download": True, "warmup": False},
}
SHARED = {"look": True, "look_pattern": r"\bsee\b", "look_timeout_s": 1.5, "stale_after_s": 4.0}


def write_config(tmp_path: Path, describer: str) -> Path:
    config = tmp_path / "c.yaml"
    config.write_text(f"describer:\n{describer}")
    return config


@pytest.mark.parametrize(
    ("describer", "field", "backend"),
    [
        ("  backend: openai\n  repo: /opt/OmniLMM\n", "describer.repo", "openai"),
        ("  backend: minicpmv\n  people: false\n", "describer.people", "minicpmv"),
        ("  backend: omnilmm\n  base_url: http://x/v1\n", "describer.base_url", "omnilmm"),
        ("  model: /models/x\n", "describer.model", "basic"),  # no backend: the default's fields only
    ],
)
def test_another_backends_field_is_a_one_line_error_naming_it(
    tmp_path: Path, describer: str, field: str, backend: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write_config(tmp_path, describer))
    message = str(info.value)
    assert f"{field}: unknown field for backend '{backend}'" in message and "\n" not in message, message


def test_the_cli_says_it_in_one_line_and_exits_2() -> None:
    proc = run_main("--config", "configs/demo.yaml", "--set", "describer.repo=x")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "describer.repo: unknown field for backend 'basic'" in lines[0], lines


def test_an_unknown_backend_names_the_choices() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, [parse_override("describer.backend=nope")])
    message = str(info.value)
    assert "describer.backend:" in message and "'nope'" in message and "\n" not in message
    assert all(f"'{name}'" in message for name in BACKENDS), message


def test_a_bad_value_inside_a_backend_is_named_without_the_tag() -> None:
    with pytest.raises(ConfigError, match=r"describer\.max_new_tokens: .*1024 \(got 5000\)$"):
        load_settings(None, [("describer.backend", "minicpmv"), ("describer.max_new_tokens", 5000)])


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_each_backends_settings_round_trip(backend: str) -> None:
    given = {"backend": backend, **SHARED, **CHANGED[backend]}
    settings = Settings.model_validate({"describer": given}).describer
    assert type(settings) is BACKENDS[backend].settings
    assert set(CHANGED[backend]) | set(SHARED) | {"backend"} == set(type(settings).model_fields)  # all covered
    for mode in ("python", "json"):  # json: as events.jsonl records the settings
        dumped = Settings.model_validate({"describer": settings.model_dump(mode=mode)}).describer
        assert dumped == settings and type(dumped) is type(settings)
    whole = Settings(describer=settings)
    assert Settings.model_validate(whole.model_dump(mode="json")) == whole


def test_a_describer_without_a_backend_is_the_default_one() -> None:
    assert DEFAULT_BACKEND == "basic"
    assert type(Settings().describer) is BasicDescriberSettings
    older = Settings.model_validate({"describer": {"tesseract": True, "people": False}}).describer
    assert isinstance(older, BasicDescriberSettings) and older.text == "tesseract" and not older.people


def test_the_look_defaults_off_for_basic_and_on_for_the_vlms() -> None:
    assert not BasicDescriberSettings().looks and BasicDescriberSettings(look=True).looks
    for model in (OpenAIDescriberSettings, OmniLMMDescriberSettings, MiniCPMVDescriberSettings):
        assert model().looks and not model(look=False).looks


def test_omnilmm_repo_is_relative_to_the_yaml_file(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, "  backend: omnilmm\n  repo: OmniLMM\n")).describer
    assert isinstance(settings, OmniLMMDescriberSettings) and settings.repo == tmp_path / "OmniLMM"


def test_the_registry_covers_every_backend() -> None:
    union = get_args(Settings.model_fields["describer"].annotation)
    assert set(union) == {b.settings for b in BACKENDS.values()}
    for name, backend in BACKENDS.items():
        assert issubclass(backend.settings, DescriberSettingsBase)
        assert get_args(backend.settings.model_fields["backend"].annotation) == (name,)
        assert backend.settings().backend == name
        assert callable(backend.builder()), backend.loader
    assert set(BACKENDS) == {"basic", "openai", "omnilmm", "minicpmv"}


def test_the_describer_interface_imports_no_backend() -> None:
    """The Protocol module imports only frames; loading the config loads no backend's module."""
    tree = ast.parse((ROOT / "perception" / "describer.py").read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "typing", "frames"}, imported
    backends = sorted(b.loader.partition(":")[0] for b in BACKENDS.values())
    code = f"import sys, assistant.config; print(sorted(set({backends!r}) & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
