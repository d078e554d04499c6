"""A recorder that gets killed: run by ``tests/test_recorder.py`` as
``python -m tests.recorder_child FOLDER``.

Records the bundled desk session as fast as it can, frames and audio blocks
interleaved in media order, and prints after every write how far it has handed
media to the recorder (``encoder PID`` first, then ``frame T`` / ``audio T_END``).
Each frame is waited into ffmpeg's pipe after it is printed, as a live camera's
pace would allow. At the end it waits on stdin with the files still open, so the
recording never closes cleanly: the test SIGKILLs it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from assistant.recorder import SessionRecorder
from perception.frames import VideoFileSource
from speech.audio import BLOCK, SAMPLE_RATE, AudioBlock
from speech.audio_file import AudioFileSource

SESSION = Path(__file__).resolve().parents[1] / "examples" / "sessions" / "desk"


def main(folder: Path) -> None:
    recorder = SessionRecorder(folder, fps=10.0, frame_size=(640, 480))
    recorder.start()
    out = sys.stdout
    out.write(f"encoder {recorder.encoder_pid}\n")
    out.flush()
    frames = VideoFileSource(SESSION / "video.mp4").frames()
    frame = next(frames, None)
    for i, samples in enumerate(AudioFileSource(SESSION / "audio.wav").blocks()):
        t = i * BLOCK / SAMPLE_RATE
        while frame is not None and frame.t <= t:
            recorder.write_frame(frame)
            out.write(f"frame {frame.t:.4f}\n")
            out.flush()
            recorder.flush()
            frame = next(frames, None)
        recorder.write_audio(AudioBlock(t, samples))
        out.write(f"audio {t + BLOCK / SAMPLE_RATE:.4f}\n")
        out.flush()
    out.write("end\n")
    out.flush()
    sys.stdin.read()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
