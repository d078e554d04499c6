"""The in-process MiniCPM-V describer, on tiny checkpoints built offline (tests/tiny_minicpmv.py).

Needs the vlm extra (torch, torchvision, transformers), which `make test` installs."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

pytest.importorskip("torch", reason="needs the vlm extra: pip install -e '.[vlm]'")
pytest.importorskip("transformers", reason="needs the vlm extra: pip install -e '.[vlm]'")

import torch

from kernel.errors import ConfigError
from perception.minicpmv import MiniCPMVDescriber
from perception.registry import make_describer
from perception.settings import MiniCPMVDescriberSettings

from .conftest import SESSION, read_events, run_cli
from .tiny_minicpmv import build_chat_standin, build_native

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def native_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_native(tmp_path_factory.mktemp("minicpmv") / "tiny-minicpmv-4_6")


@pytest.fixture(scope="module")
def desk_frame() -> np.ndarray:
    cap = cv2.VideoCapture(str(SESSION / "video.mp4"))
    cap.set(cv2.CAP_PROP_POS_MSEC, 12_000)  # the sign scene
    ok, image = cap.read()
    cap.release()
    assert ok
    return image


def settings(model: Path | str, **overrides: Any) -> MiniCPMVDescriberSettings:
    return MiniCPMVDescriberSettings.model_validate({"backend": "minicpmv", "model": str(model), **overrides})


def test_native_4_6_loads_once_warms_up_and_describes_a_frame(native_model: Path, desk_frame: np.ndarray) -> None:
    describer = make_describer(settings(native_model, device="cpu", max_new_tokens=8))
    assert isinstance(describer, MiniCPMVDescriber)
    assert describer.api == "native" and describer.device == "cpu" and describer.dtype == "float32"
    assert describer.warmup_s > 0  # the warm-up call ran at load
    vision_calls: list[tuple[int, ...]] = []
    describer._model.model.vision_tower.register_forward_hook(
        lambda _m, args, _out: vision_calls.append(tuple(args[0].shape))
    )
    generate = describer._model.generate
    new_tokens: list[int] = []

    def counting_generate(**kwargs: Any) -> Any:
        out = generate(**kwargs)
        new_tokens.append(out.shape[1] - kwargs["input_ids"].shape[1])
        return out

    describer._model.generate = counting_generate
    text = describer.describe(desk_frame)
    answer = describer.describe(desk_frame, question="Can you read the sign for me?")
    assert isinstance(text, str) and isinstance(answer, str)
    assert len(vision_calls) == 2, "the frame went through the vision encoder on each call"
    assert all(0 < n <= 8 for n in new_tokens), new_tokens  # describer.max_new_tokens bounds the reply


def test_native_4_7_through_the_same_loading_code(tmp_path: Path, desk_frame: np.ndarray) -> None:
    folder = build_native(tmp_path / "tiny-minicpmv-4_7", version="4.7")
    describer = MiniCPMVDescriber(str(folder), device="cpu", max_new_tokens=4)
    assert describer.api == "native" and type(describer._model).__name__ == "MiniCPMV4_7ForConditionalGeneration"
    vision_calls: list[int] = []
    describer._model.model.vision_tower.register_forward_hook(lambda *_: vision_calls.append(1))
    assert isinstance(describer.describe(desk_frame, question="What is this?"), str)
    assert vision_calls == [1]


def test_native_question_reaches_the_prompt(native_model: Path, desk_frame: np.ndarray) -> None:
    describer = MiniCPMVDescriber(str(native_model), device="cpu", max_new_tokens=2, warmup=False,
                                  prompt="Describe it.")
    assert describer.warmup_s == 0
    seen: list[str] = []
    processor = describer._processor
    real_call = type(processor).__call__

    class Spy(type(processor)):  # type: ignore[misc]
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            seen.append(kwargs["text"][0])
            return real_call(self, *args, **kwargs)

    processor.__class__ = Spy
    describer.describe(desk_frame, question="How many balls are there?")
    describer.describe(desk_frame)
    assert "Describe it. Then answer: How many balls are there?" in seen[0]
    assert "How many" not in seen[1] and "Describe it." in seen[1]
    assert seen[0].count("<|image_pad|>") == 1, "one image, before the processor expands it"


def test_dtype_comes_from_config(native_model: Path, desk_frame: np.ndarray) -> None:
    describer = MiniCPMVDescriber(str(native_model), device="cpu", dtype="bf16", max_new_tokens=2, warmup=False)
    assert {p.dtype for p in describer._model.parameters()} == {torch.bfloat16}
    assert isinstance(describer.describe(desk_frame), str)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_a_device_that_is_not_there_is_a_config_error(native_model: Path) -> None:
    with pytest.raises(ConfigError, match=r"describer.device: 'cuda'"):
        MiniCPMVDescriber(str(native_model), device="cuda", warmup=False)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_native_on_cuda_in_bf16(native_model: Path, desk_frame: np.ndarray) -> None:
    describer = MiniCPMVDescriber(str(native_model), device="auto", max_new_tokens=4)
    assert describer.device == "cuda" and describer.dtype == "bfloat16"
    assert isinstance(describer.describe(desk_frame), str)


def test_chat_api_of_minicpmv_2_through_remote_code_in_a_dotted_folder(tmp_path: Path) -> None:
    folder = build_chat_standin(tmp_path / "MiniCPM-V-2.0")  # the '.' breaks remote-code imports as it stands
    describer = MiniCPMVDescriber(str(folder), links_dir=tmp_path / "links", prompt="What is here?")
    assert describer.api == "chat"
    assert (tmp_path / "links" / "MiniCPM-V-2_0").resolve() == folder.resolve()
    red = np.zeros((120, 160, 3), np.uint8)
    red[..., 2] = 200  # BGR: red
    answer = describer.describe(red, question="What colour is it?")
    assert answer == "A mostly red picture. You asked: What is here? Then answer: What colour is it?"
    green = np.zeros((120, 160, 3), np.uint8)
    green[..., 1] = 200
    assert describer.describe(green).startswith("A mostly green picture.")
    calls = sys.modules[type(describer._model).__module__].CALLS
    assert len(calls) == 3  # warm-up + two
    assert calls[-1]["context"] is None and calls[-1]["sampling"] is False and calls[-1]["temperature"] == 0.7
    assert calls[-1]["msgs"] == [{"role": "user", "content": "What is here?"}]
    assert calls[-1]["size"] == (160, 120)


def _hub_cache(root: Path, repo_id: str, checkpoint: Path) -> Path:
    """Lays ``checkpoint`` out as the Hugging Face cache would hold ``repo_id`` at :data:`COMMIT`."""
    repo = root / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    snapshot = repo / "snapshots" / COMMIT
    snapshot.parent.mkdir(parents=True)
    snapshot.symlink_to(checkpoint, target_is_directory=True)
    return root


def test_remote_code_from_a_hub_id_needs_a_pinned_revision(tmp_path: Path) -> None:
    cache = _hub_cache(tmp_path / "hub", "openbmb/MiniCPM-V-2", build_chat_standin(tmp_path / "standin"))
    env = {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "out"
    args = ("--session", str(SESSION), "--speed", "0", "--set", "describer.backend=minicpmv",
            "--set", "describer.model=openbmb/MiniCPM-V-2")
    unpinned = run_cli(*args, "--out", str(out), env=env)
    assert unpinned.returncode == 2
    assert unpinned.stderr.strip().count("\n") == 0 and "describer.revision" in unpinned.stderr
    assert "Traceback" not in unpinned.stderr
    missing = run_cli(*args[:-1], "describer.model=openbmb/MiniCPM-V-9", "--out", str(out), env=env)
    assert missing.returncode == 2 and "not in the local Hugging Face cache" in missing.stderr
    assert missing.stderr.strip().count("\n") == 0


def test_replay_with_the_native_model_from_the_hub_cache(tmp_path: Path, native_model: Path) -> None:
    """The bundled session end to end with describer.backend: minicpmv, loaded by hub id and revision
    from a local cache (nothing is downloaded)."""
    cache = _hub_cache(tmp_path / "hub", "openbmb/MiniCPM-V-4.6", native_model)
    out = tmp_path / "out"
    done = run_cli(
        "--session", str(SESSION), "--speed", "0", "--out", str(out),
        "--set", "describer.backend=minicpmv", "--set", "describer.model=openbmb/MiniCPM-V-4.6",
        "--set", f"describer.revision={COMMIT}", "--set", "describer.max_new_tokens=6",
        env={"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr
    events = read_events(out)
    scenes = [e for e in events if e["type"] == "scene"]
    assert scenes and {e["backend"] for e in scenes} == {"minicpmv", "minicpmv:look"}
    assert sum(e["type"] == "reply_text" for e in events) == 3
    assert events[-1]["type"] == "session_end" and events[-1]["reason"] == "end_of_media"


def test_bad_minicpmv_settings_are_one_line(tmp_path: Path) -> None:
    for value, expected in (("/nonexistent/model", "describer.model: folder '/nonexistent/model' does not exist"),
                            (str(tmp_path), "has no config.json")):
        done = run_cli("--session", str(SESSION), "--out", str(tmp_path / "o"), "--set", "describer.backend=minicpmv",
                       "--set", f"describer.model={value}")
        assert done.returncode == 2 and expected in done.stderr, done.stderr
        assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr


def test_without_the_vlm_extra_the_error_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, native_model: Path
) -> None:
    real = importlib.import_module

    def no_torch(name: str, package: str | None = None) -> Any:
        if name == "torch":
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        return real(name, package)

    monkeypatch.setattr("perception.minicpmv.importlib.import_module", no_torch)
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[vlm\]'"):
        MiniCPMVDescriber(str(native_model))
