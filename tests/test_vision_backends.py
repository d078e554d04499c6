"""Scene describers served over the OpenAI-compatible protocol (vLLM with MiniCPM-V,
llama.cpp's server, Ollama, ...), against a local server that speaks it."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import cv2
import numpy as np

from perception.openai_vision import OpenAIVisionDescriber, data_url

from .conftest import SESSION, read_events, run_main, write_clip
from .fakes import chat_server


def test_frame_goes_as_a_jpeg_data_url_and_the_answer_is_the_description() -> None:
    image = np.zeros((480, 640, 3), dtype=np.uint8)
    image[:, :320] = (0, 0, 255)  # left half red
    with chat_server("A red wall on the left.") as (base_url, requests):
        describer = OpenAIVisionDescriber(base_url=base_url, model="minicpm-v", max_side=320, max_retries=0)
        text = describer.describe(image, question="what colour is the wall?")
    assert text == "A red wall on the left."
    body = requests[0]
    assert body["model"] == "minicpm-v" and not body.get("stream")
    content = body["messages"][0]["content"]
    assert "what colour is the wall?" in content[0]["text"]
    url = content[1]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    sent = cv2.imdecode(np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
    assert sent.shape == (240, 320, 3)  # shrunk so the longer side is max_side
    assert sent[120, 80, 2] > 200 and sent[120, 240, 2] < 50  # still red on the left only


def test_data_url_keeps_small_frames_as_they_are() -> None:
    small = np.full((120, 160, 3), 128, dtype=np.uint8)
    decoded = cv2.imdecode(np.frombuffer(base64.b64decode(data_url(small).split(",", 1)[1]), np.uint8), 1)
    assert decoded.shape == small.shape


def test_replay_with_a_served_describer_and_its_failures(tmp_path: Path) -> None:
    clip = tmp_path / "clip.avi"
    write_clip(SESSION / "video.mp4", clip, 3.0)
    out = tmp_path / "run"
    with chat_server("A wooden desk with a blue mug.", status=200) as (base_url, requests):
        proc = run_main("--video", str(clip), "--speed", "0", "--out", str(out),
                        "--set", "describer.backend=openai", "--set", f"describer.base_url={base_url}")
    assert proc.returncode == 0, proc.stderr
    scenes = [e for e in read_events(out) if e["type"] == "scene"]
    assert scenes and all(e["text"] == "A wooden desk with a blue mug." and e["backend"] == "openai" for e in scenes)
    assert len(requests) == len(scenes)

    out2 = tmp_path / "failing"
    with chat_server("x", status=503) as (base_url, requests):
        proc = run_main("--video", str(clip), "--speed", "0", "--out", str(out2),
                        "--set", "describer.backend=openai", "--set", f"describer.base_url={base_url}",
                        "--set", "describer.max_retries=1")
    assert proc.returncode == 0, proc.stderr  # the session survives a failing VLM
    events = read_events(out2)
    errors = [e for e in events if e["type"] == "error"]
    assert errors and all(e["stage"] == "describer" and e["retryable"] for e in errors)
    assert len(requests) == 2 * len(errors)  # one retry each, with backoff, then give up
    assert not [e for e in events if e["type"] == "scene"]


async def test_look_has_a_deadline_and_falls_back(tmp_path: Path) -> None:
    import threading

    from kernel.clock import FakeClock
    from kernel.eventlog import EventBus
    from perception.frames import Frame
    from perception.look import Look
    from perception.memory import SceneMemory

    release = threading.Event()

    class SlowDescriber:
        name = "slow"

        def describe(self, image: np.ndarray, question: str | None = None) -> str:
            release.wait(5)
            return "too late"

    memory = SceneMemory()
    memory.latest_frame = Frame(1.0, 10, np.zeros((48, 64, 3), dtype=np.uint8))
    look = Look(SlowDescriber(), memory, EventBus(FakeClock()), timeout_s=0.05)
    assert look.wants("can you read the sign?") and look.wants("How many people are here")
    assert not look.wants("tell me a joke") and not look.wants("what time is it")
    try:
        assert await look("what is this?") is False  # the deadline passed: answer without it
    finally:
        release.set()
    assert memory.latest() is None
    assert await look("tell me a joke") is False


async def test_look_starts_on_the_early_transcript_and_the_turn_reuses_it() -> None:
    import threading

    from kernel.channels import Activity
    from kernel.clock import FakeClock
    from kernel.eventlog import EventBus
    from perception.frames import Frame
    from perception.look import Look
    from perception.memory import SceneMemory

    calls: list[str | None] = []
    gate = threading.Event()

    class Counting:
        name = "counting"

        def describe(self, image: np.ndarray, question: str | None = None) -> str:
            calls.append(question)
            gate.wait(5)
            return f"looked for: {question}"

    memory = SceneMemory()
    memory.latest_frame = Frame(1.0, 10, np.zeros((48, 64, 3), dtype=np.uint8))
    activity = Activity()
    look = Look(Counting(), memory, EventBus(FakeClock()), activity=activity)
    gate.set()
    look.prefetch(1, "tell me a joke")  # not about the view: nothing starts
    assert look.prefetched == 0 and activity.busy == 0
    look.prefetch(1, " What is in front of you")
    assert look.prefetched == 1 and activity.busy == 1  # ``--speed 0`` waits for it
    assert await look("What is in front of you?") is True  # same words: the running look is used
    assert calls == [" What is in front of you"] and look.prefetch_used == 1
    assert memory.latest() is not None and memory.latest().backend == "counting:look"
    await activity.wait_idle()

    look.prefetch(2, "Can you read")  # the user went on talking: the final question differs
    assert await look("Can you read the sign for me?") is True
    assert calls[-1] == "Can you read the sign for me?" and look.prefetch_used == 1  # the early one was dropped
    assert memory.latest().text == "looked for: Can you read the sign for me?"


STANDIN_CHAT_PY = '''
"""A stand-in for the OpenBMB repository's chat.py (the real one needs the 12B weights)."""
import base64, json
import numpy as np, cv2

class OmniLMMChat:
    def __init__(self, model_path):
        self.model_path = model_path

    def chat(self, inputs):
        image = cv2.imdecode(np.frombuffer(base64.b64decode(inputs["image"]), np.uint8), cv2.IMREAD_COLOR)
        msgs = json.loads(inputs["question"])
        return f" {self.model_path} saw {image.shape[1]}x{image.shape[0]}: {msgs[-1]['content']} "
'''


def test_omnilmm_through_the_repository_chat_api(tmp_path: Path) -> None:
    from perception.omnilmm import OmniLMMDescriber

    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "chat.py").write_text(STANDIN_CHAT_PY)
    describer = OmniLMMDescriber(tmp_path / "repo", "weights/OmniLMM-12B", prompt="Describe it.")
    text = describer.describe(np.zeros((480, 640, 3), dtype=np.uint8), question="what is this?")
    assert text == "weights/OmniLMM-12B saw 640x480: Describe it. Then answer: what is this?"


def test_omnilmm_without_its_repository_is_one_clear_line(tmp_path: Path) -> None:
    clip = tmp_path / "clip.avi"
    write_clip(SESSION / "video.mp4", clip, 1.0)
    proc = run_main("--video", str(clip), "--speed", "0", "--out", str(tmp_path / "out"),
                    "--set", "describer.backend=omnilmm", "--set", f"describer.repo={tmp_path / 'nowhere'}",
                    "--set", "describer.model=OmniLMM-12B")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "describer.repo" in lines[0] and "chat.py" in lines[0]


def test_every_vlm_backend_shares_one_short_default_prompt_and_takes_describer_prompt(tmp_path: Path) -> None:
    from perception.describer import DEFAULT_PROMPT
    from perception.omnilmm import OmniLMMDescriber

    assert DEFAULT_PROMPT.startswith("What is happening in the image?") and "text" in DEFAULT_PROMPT
    assert len(DEFAULT_PROMPT) < 100
    image = np.zeros((48, 64, 3), dtype=np.uint8)
    with chat_server("A desk.") as (base_url, requests):
        OpenAIVisionDescriber(base_url=base_url, max_retries=0).describe(image)
        OpenAIVisionDescriber(base_url=base_url, max_retries=0, prompt="Name the objects.").describe(image)
    assert [r["messages"][0]["content"][0]["text"] for r in requests] == [DEFAULT_PROMPT, "Name the objects."]

    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "chat.py").write_text(STANDIN_CHAT_PY)
    omni = OmniLMMDescriber(tmp_path / "repo", "weights")
    assert omni.describe(image) == f"weights saw 64x48: {DEFAULT_PROMPT}"
    custom = OmniLMMDescriber(tmp_path / "repo", "weights", prompt="Count.")
    assert custom.describe(image) == "weights saw 64x48: Count."


def test_bundled_session_with_a_config_pointing_at_a_served_vision_model(tmp_path: Path) -> None:
    """The issue's acceptance run: ``--config`` naming an ``openai`` describer on a local server."""
    import yaml

    out = tmp_path / "run"
    with chat_server("A desk with a red sign that says OPEN.") as (base_url, requests):
        config = tmp_path / "served-replay.yaml"
        config.write_text(yaml.safe_dump({
            "input": {"session": str(SESSION)},
            "replay": {"speed": 0},
            "describer": {"backend": "openai", "base_url": base_url, "model": "minicpm-v", "timeout_s": 5},
        }))
        proc = run_main("--config", str(config), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    events = read_events(out)
    scenes = [e for e in events if e["type"] == "scene"]
    assert {e["backend"] for e in scenes} == {"openai", "openai:look"}
    replies = [e for e in events if e["type"] == "reply_text"]
    assert len(replies) == 3 and "OPEN" in replies[1]["text"]  # the sign question is answered from the VLM
    assert all(r["model"] == "minicpm-v" and r["_path"] == "/v1/chat/completions" for r in requests)
    looks = [r for r in requests if "Can you read the sign" in json.dumps(r["messages"])]
    assert len(looks) == 1  # the question went to the VLM with the freshest frame
    image = looks[0]["messages"][-1]["content"]
    assert any(part.get("type") == "image_url" and part["image_url"]["url"].startswith("data:image/jpeg;base64,")
               for part in image)
