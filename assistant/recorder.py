"""Recording a live session as a session folder that ``run_assistant.py --session DIR`` replays.

The folder holds::

    session.json   {"video": "video.mkv", "audio": "audio.wav", "events": "events.jsonl",
                    "recorded": true, "fps": 10.0, "started": "<ISO time>"}
    audio.wav      16 kHz mono PCM_16, written through soundfile (libsndfile)
    video.mkv      constant-rate MJPEG in Matroska, encoded by an ffmpeg subprocess
    events.jsonl   written by the session's own ``JsonlWriter``, not by the recorder

The session clock: t = 0 is the first audio sample; audio blocks and frames carry
times on that clock, and both files are laid out on it.

- **Audio.** A block's samples go to sample ``round(t * 16000)``: a gap in the block times
  is filled with silence and an overlap is trimmed, so the WAV stays on the clock.
  ``SoundFile.flush()`` (``sf_write_sync``) only fsyncs; it leaves the header
  saying 0 frames. So libsndfile is told to rewrite the header after every write
  (``SFC_SET_UPDATE_HEADER_AUTO``, ~3 µs a block); a killed process leaves a WAV
  whose header counts every block written but the one in flight.
- **Video.** A frame at time ``t`` goes to index ``floor(t * fps + 0.5)``. The gap before
  it is filled by repeating the previous frame (before the first frame, the first
  frame itself), and a frame whose index is already taken is skipped, so a replay
  (``t = index / fps``) shows every written frame within half a frame period of its
  live time. The frame size is fixed by ``frame_size`` or by the first frame; later
  frames of another size are resized.
- **Not blocking the loop.** ``write_audio`` appends ~1 KB to the page cache
  inline. ``write_frame`` only computes the index and puts the frame on a bounded
  queue (``_QUEUE_FRAMES``); a worker thread writes raw BGR to ffmpeg's stdin. When
  the queue is full the frame is dropped and counted; the worker then fills its
  index by repeating the previous frame, so a drop costs a repeat, never alignment.
- **Crash safety.** Matroska needs no index to be read. ffmpeg runs in its own
  session (Ctrl-C in the terminal does not reach it) with its stderr in an unlinked
  temporary file (not a pipe that dies with us), so if our process is SIGKILLed,
  ffmpeg reads what is left in the pipe, sees EOF and finalises the file. What is
  lost is the frames still in the queue and the frame being written (measured,
  desk session killed at 3 s: 0 s of audio, 0–0.1 s of video). If ffmpeg is
  killed too, the file ends mid-cluster; clusters close every second, so ≤ 1 s
  of video is lost (measured 0.3–0.5 s) and the rest still plays.

Errors: an existing recording in the folder → :class:`InputError`; ffmpeg missing
or dying mid-recording → :class:`DeviceError` (the recording device is lost).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import math
import os
import queue
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import cv2
import numpy as np
import soundfile as sf

from kernel.errors import DeviceError, InputError
from perception.frames import Frame, Image
from speech.audio import SAMPLE_RATE, AudioBlock
from speech.sinks import open_wav

log = logging.getLogger(__name__)

MANIFEST = "session.json"
AUDIO_FILE = "audio.wav"
VIDEO_FILE = "video.mkv"
EVENTS_FILE = "events.jsonl"

_QUEUE_FRAMES = 16  # frames waiting for the encoder; 1.6 s at 10 fps, ~15 MB at 640x480
_CLOSE_TIMEOUT_S = 10.0


@dataclass(slots=True)
class RecorderStats:
    audio_samples: int = 0  # samples in the WAV, silence fill included
    audio_gap_samples: int = 0  # silence written for gaps in the block times
    audio_overlap_samples: int = 0  # samples trimmed where blocks overlapped
    frames_in: int = 0  # frames given to write_frame
    frames_skipped: int = 0  # landed on an index already written
    frames_dropped: int = 0  # encoder queue full
    frames_written: int = 0  # frames in the video, repeats included
    frames_repeated: int = 0  # repeats that filled gaps


def _now_iso() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="milliseconds")


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class _VideoEncoder:
    """ffmpeg reading raw BGR frames on stdin, fed by one worker thread from a bounded queue.

    Queue items are ``(index, image)``: fill ``[written, index)`` with the previous
    frame, then write ``image`` at ``index``; ``image=None`` only fills. After an
    error the worker keeps draining the queue, so a producer never blocks on it."""

    def __init__(self, path: Path, size: tuple[int, int], fps: float, stats: RecorderStats) -> None:
        self.size = size
        self.error: str | None = None
        self._stats = stats
        self._queue: queue.Queue[tuple[int, Image | None] | None] = queue.Queue(_QUEUE_FRAMES)
        self._idle = threading.Condition()
        self._pending = 0
        self._written = 0
        self._last = b""
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 — closed in close()
        w, h = size
        cmd = [
            "ffmpeg", "-hide_banner", "-nostats", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}", "-framerate", f"{fps:g}", "-i", "-",
            "-an", "-c:v", "mjpeg", "-q:v", "5", "-pix_fmt", "yuvj420p",
            # Close a cluster each second and write it at once: if ffmpeg dies too, ≤ 1 s is lost.
            "-f", "matroska", "-cluster_time_limit", "1000", "-flush_packets", "1", str(path),
        ]  # fmt: skip
        try:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                start_new_session=True,  # Ctrl-C in the terminal must not stop the encoder
            )
        except OSError as exc:
            self._stderr.close()
            raise DeviceError(f"cannot start ffmpeg to record '{path}': {exc}") from exc
        self._thread = threading.Thread(target=self._run, name=f"recorder-video-{path.parent.name}", daemon=True)
        self._thread.start()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def put(self, index: int, image: Image | None, *, timeout: float | None = 0.0) -> bool:
        """Queue an item; ``timeout=0`` never blocks. False when the queue stayed full."""
        with self._idle:
            self._pending += 1
        try:
            self._queue.put((index, image), block=timeout != 0.0, timeout=timeout or None)
        except queue.Full:
            with self._idle:
                self._pending -= 1
            return False
        return True

    def flush(self, timeout: float) -> bool:
        """Wait until every queued frame is in ffmpeg's pipe; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _run(self) -> None:
        stdin = self._proc.stdin
        assert stdin is not None
        try:
            while (item := self._queue.get()) is not None:
                if self.error is None:
                    try:
                        self._write(stdin, *item)
                    except OSError as exc:  # BrokenPipeError: ffmpeg died
                        self.error = f"ffmpeg stopped taking frames ({exc}); {self._stderr_tail()}"
                        log.error("video recording failed: %s", self.error)
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()
        finally:
            with contextlib.suppress(OSError):  # a broken pipe; self.error says why
                stdin.close()  # EOF: ffmpeg finalises the file

    def _write(self, stdin: IO[bytes], index: int, image: Image | None) -> None:
        data = b""
        if image is not None:
            w, h = self.size
            if image.ndim == 2:
                image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
            if image.shape[:2] != (h, w):
                image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
            data = np.ascontiguousarray(image, dtype=np.uint8).tobytes()
            self._last = self._last or data  # before the first frame: the first frame
        while self._written < index:
            stdin.write(self._last)
            self._written += 1
            self._stats.frames_repeated += 1
        if data:
            stdin.write(data)
            self._written += 1
            self._last = data
        stdin.flush()
        self._stats.frames_written = self._written

    def _stderr_tail(self) -> str:
        try:
            self._stderr.seek(0)
            text = self._stderr.read().decode(errors="replace").strip()
        except (OSError, ValueError):
            return "no ffmpeg output"
        return text.splitlines()[-1] if text else "no ffmpeg output"

    def close(self, fill_to: int) -> None:
        """Fill the video up to index ``fill_to``, send EOF and wait for ffmpeg."""
        try:
            if not self.put(fill_to, None, timeout=_CLOSE_TIMEOUT_S) or not self._finish():
                log.error("video recording: ffmpeg took no frames for %.0f s; killing it", _CLOSE_TIMEOUT_S)
                self._proc.kill()  # the worker's writes fail, it drains the queue and ends
                self._queue.put(None)
                self._thread.join()
            try:
                code = self._proc.wait(_CLOSE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                code = self._proc.wait()
            if code != 0 and self.error is None:
                self.error = f"ffmpeg exited with status {code}; {self._stderr_tail()}"
        finally:
            self._stderr.close()

    def _finish(self) -> bool:
        try:
            self._queue.put(None, timeout=_CLOSE_TIMEOUT_S)
        except queue.Full:
            return False
        self._thread.join(_CLOSE_TIMEOUT_S)
        return not self._thread.is_alive()


class SessionRecorder:
    """Writes a live session's audio and video into ``folder`` as a replayable session.

    ``start()`` first, then ``write_audio``/``write_frame`` from the event loop (both
    return at once), then ``close()`` — blocking for up to ~10 s while ffmpeg
    finishes, so call it as ``await asyncio.to_thread(recorder.close)`` from async
    code. Also a context manager."""

    def __init__(self, folder: Path, *, fps: float = 10.0, frame_size: tuple[int, int] | None = None) -> None:
        if not (math.isfinite(fps) and 0 < fps <= 120):
            raise ValueError(f"fps must be in (0, 120], got {fps}")
        if frame_size is not None and (frame_size[0] <= 0 or frame_size[1] <= 0):
            raise ValueError(f"frame_size must be positive (width, height), got {frame_size}")
        self.folder = folder
        self.fps = fps
        self.frame_size = frame_size
        self.stats = RecorderStats()
        self._manifest: dict[str, Any] = {}
        self._wav: sf.SoundFile | None = None
        self._video: _VideoEncoder | None = None
        self._last_index = -1
        self._started = False
        self._closed = False

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        if self._started:
            raise RuntimeError("SessionRecorder.start() called twice")
        if shutil.which("ffmpeg") is None:
            raise DeviceError("cannot record video: ffmpeg is not on PATH")
        if (self.folder / MANIFEST).exists():
            raise InputError(f"session folder '{self.folder}': already holds a recording ({MANIFEST})")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._wav = open_wav(self.folder / AUDIO_FILE, SAMPLE_RATE)
        except (OSError, sf.LibsndfileError) as exc:
            raise InputError(f"session folder '{self.folder}': cannot write to it ({exc})") from exc
        self._started = True
        self._manifest = {
            "video": VIDEO_FILE,
            "audio": AUDIO_FILE,
            "events": EVENTS_FILE,
            "recorded": True,
            "fps": self.fps,
            "started": _now_iso(),
        }
        _write_json_atomic(self.folder / MANIFEST, self._manifest)
        if self.frame_size is not None:
            try:
                self._video = _VideoEncoder(self.folder / VIDEO_FILE, self.frame_size, self.fps, self.stats)
            except DeviceError:
                self._wav.close()
                self._closed = True
                raise

    def close(self) -> None:
        """Finish both files and add ``ended`` and the media length to ``session.json``.
        A stream that got no data is left out of the manifest. Idempotent."""
        if not self._started or self._closed:
            return
        self._closed = True
        error: str | None = None
        try:
            if self._video is not None:
                audio_end = round(self.stats.audio_samples / SAMPLE_RATE * self.fps)
                self._video.close(fill_to=audio_end)  # the video lasts as long as the audio
                error = self._video.error
        finally:
            if self._wav is not None:
                self._wav.close()
            manifest = dict(self._manifest)
            if self.stats.frames_written == 0:
                manifest.pop("video")
            if self.stats.audio_samples == 0:
                manifest.pop("audio")
            manifest["ended"] = _now_iso()
            manifest["audio_s"] = round(self.stats.audio_samples / SAMPLE_RATE, 3)
            manifest["video_s"] = round(self.stats.frames_written / self.fps, 3)
            _write_json_atomic(self.folder / MANIFEST, manifest)
        if error is not None:
            raise DeviceError(f"recording '{self.folder / VIDEO_FILE}': {error}")

    def __enter__(self) -> SessionRecorder:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- writing ---------------------------------------------------------------------

    @property
    def encoder_pid(self) -> int | None:
        """The ffmpeg process id, once the video has started."""
        return self._video.pid if self._video is not None else None

    def write_audio(self, block: AudioBlock) -> None:
        """Append a block at ``round(block.t * 16000)``; the header is current afterwards."""
        wav = self._writable(self._wav)
        samples = np.clip(np.asarray(block.samples, dtype=np.float32).reshape(-1), -1.0, 1.0)
        at = max(math.floor(block.t * SAMPLE_RATE + 0.5), 0)
        gap = at - self.stats.audio_samples
        if gap > 0:
            wav.write(np.zeros(gap, dtype=np.float32))
            self.stats.audio_gap_samples += gap
            self.stats.audio_samples += gap
        elif gap < 0:
            trim = min(-gap, len(samples))
            samples = samples[trim:]
            self.stats.audio_overlap_samples += trim
        if len(samples):
            wav.write(samples)
            self.stats.audio_samples += len(samples)

    def write_frame(self, frame: Frame) -> None:
        """Queue a frame for index ``round(frame.t * fps)``; returns at once."""
        self._writable(self._wav)
        self.stats.frames_in += 1
        index = max(math.floor(frame.t * self.fps + 0.5), 0)  # half up, not to even
        if index <= self._last_index:
            self.stats.frames_skipped += 1
            return
        if self._video is None:
            size = (int(frame.image.shape[1]), int(frame.image.shape[0]))
            self.frame_size = size
            self._video = _VideoEncoder(self.folder / VIDEO_FILE, size, self.fps, self.stats)
        if self._video.error is not None:
            raise DeviceError(f"recording '{self.folder / VIDEO_FILE}': {self._video.error}")
        self._last_index = index
        if not self._video.put(index, frame.image):
            self.stats.frames_dropped += 1
            log.debug("recorder: encoder queue full, frame at %.3f s becomes a repeat", frame.t)

    def flush(self, timeout: float = _CLOSE_TIMEOUT_S) -> bool:
        """Block until every queued frame has reached ffmpeg (False on timeout). Blocking:
        for tests and shutdown, not for the event loop."""
        return self._video.flush(timeout) if self._video is not None else True

    def _writable(self, wav: sf.SoundFile | None) -> sf.SoundFile:
        if wav is None or self._closed:
            raise RuntimeError("SessionRecorder: write before start() or after close()")
        return wav
