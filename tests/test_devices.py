"""The live device adapters on a simulated sound card and on video files.

The microphone and speaker tests run :class:`speech.mic.Microphone` and
:class:`speech.player.SpeakerPlayer` through PortAudio and ALSA, on FIFOs that
:mod:`tests.soundcard` paces in media time; the camera tests read a clip of the
bundled session through OpenCV. Nothing sleeps: tests wait on events and step counts.
"""

from __future__ import annotations

import asyncio
import math
import re
from pathlib import Path

import numpy as np
import pytest

from kernel.channels import Channel, Overflow
from kernel.clock import FakeClock
from kernel.errors import DeviceError
from perception.camera import CameraSource, list_cameras
from perception.frames import Frame
from speech.audio import BLOCK, SAMPLE_RATE, AudioBlock
from speech.devices import Backoff, list_audio_devices
from speech.echo import echo_score
from speech.mic import Microphone
from speech.player import SpeakerPlayer

from .conftest import SESSION, write_clip
from .soundcard import MIC, SPEAKER, SimulatedSoundCard, dominant_frequency, tone


async def collect(ch: Channel[AudioBlock], samples: int, within_s: float = 20.0) -> list[AudioBlock]:
    blocks: list[AudioBlock] = []
    async with asyncio.timeout(within_s):
        while len(blocks) * BLOCK < samples:
            blocks.append(await ch.get())
    return blocks


class CountingChannel(Channel[AudioBlock]):
    """A channel that sets ``reached`` once ``target`` items have been put."""

    def __init__(self, maxsize: int, target: int) -> None:
        super().__init__("microphone", maxsize, Overflow.DROP_OLDEST)
        self.puts = 0
        self.target = target
        self.reached = asyncio.Event()

    def put_nowait(self, item: AudioBlock) -> bool:
        accepted = super().put_nowait(item)
        self.puts += 1
        if self.puts >= self.target:
            self.reached.set()
        return accepted


def steps_for(samples: int, card: SimulatedSoundCard) -> int:
    return math.ceil(samples / card.mic_step)


# --- microphone -------------------------------------------------------------------------------


async def test_microphone_returns_the_input_at_16k(tmp_path: Path) -> None:
    pcm = np.random.default_rng(1).integers(-20_000, 20_000, SAMPLE_RATE, dtype=np.int16)
    audio = pcm.astype(np.float32) / 32768
    with SimulatedSoundCard(tmp_path / "card", mic_rate=16_000, speaker=False) as card:
        ch: Channel[AudioBlock] = Channel("microphone", 1000, Overflow.DROP_OLDEST)
        mic = Microphone(MIC)
        mic.start(asyncio.get_running_loop(), ch)
        card.feed(audio)
        card.run(steps_for(len(audio), card))
        blocks = await collect(ch, len(audio) - BLOCK)
        card.release()
        mic.close()
    got = np.concatenate([b.samples for b in blocks])
    assert mic.native_rate == SAMPLE_RATE
    assert all(len(b.samples) == BLOCK and b.samples.dtype == np.float32 for b in blocks)
    assert float(np.max(np.abs(got - audio[: len(got)]))) < 1e-4
    assert np.array_equal(np.round(got * 32768).astype(np.int16), pcm[: len(got)])
    assert [b.t for b in blocks] == [k * BLOCK / SAMPLE_RATE for k in range(len(blocks))]
    assert mic.samples_delivered >= len(got) and mic.samples_delivered % BLOCK == 0
    assert mic.overflows == 0 and ch.dropped == 0


async def test_microphone_resamples_a_device_that_refuses_16k(tmp_path: Path) -> None:
    audio = tone(440.0, 1.0, 48_000)
    with SimulatedSoundCard(tmp_path / "card", mic_rate=48_000, speaker=False) as card:
        ch: Channel[AudioBlock] = Channel("microphone", 1000, Overflow.DROP_OLDEST)
        mic = Microphone(MIC)
        mic.start(asyncio.get_running_loop(), ch)
        card.feed(audio)
        card.run(steps_for(len(audio), card))
        blocks = await collect(ch, 15_000)
        card.release()
        mic.close()
    got = np.concatenate([b.samples for b in blocks])
    assert mic.native_rate == 48_000
    assert all(len(b.samples) == BLOCK for b in blocks)
    steady = got[1000:15_000]
    assert abs(dominant_frequency(steady, SAMPLE_RATE) - 440.0) < 2.0
    assert abs(float(np.sqrt(np.mean(steady**2))) - 0.5 / math.sqrt(2)) < 0.02
    assert [b.t for b in blocks[:3]] == [0.0, BLOCK / SAMPLE_RATE, 2 * BLOCK / SAMPLE_RATE]


async def test_microphone_reopens_after_the_stream_stops(tmp_path: Path) -> None:
    states: list[str] = []
    restored = asyncio.Event()

    def on_status(state: str, message: str) -> None:
        states.append(state)
        if state == "restored":
            restored.set()

    with SimulatedSoundCard(tmp_path / "card", speaker=False) as card:
        ch: Channel[AudioBlock] = Channel("microphone", 4, Overflow.DROP_OLDEST)
        mic = Microphone(MIC, on_status=on_status, backoff_initial_s=0.05)
        mic.start(asyncio.get_running_loop(), ch)
        card.release()  # free-running silence: the stream can be stopped
        await ch.get()
        mic._stream.stop()  # the host stops the stream, as on an unplug
        async with asyncio.timeout(10):
            await restored.wait()
        before = mic.samples_delivered
        async with asyncio.timeout(10):
            block = await ch.get()
            while block.t * SAMPLE_RATE < before:  # skip what was queued before the loss
                block = await ch.get()
        mic.close()
    assert states[:1] == ["lost"] and states[-1] == "restored"
    assert mic.samples_delivered > before  # the sample clock goes on after the reopen


async def test_microphone_counts_blocks_the_channel_dropped(tmp_path: Path) -> None:
    with SimulatedSoundCard(tmp_path / "card", speaker=False) as card:
        ch = CountingChannel(4, target=20)
        mic = Microphone(MIC)
        mic.start(asyncio.get_running_loop(), ch)
        card.run(20)  # 20 blocks, nobody reading
        async with asyncio.timeout(10):
            await ch.reached.wait()
        card.release()
        mic.close()
    assert ch.puts == 20 and ch.dropped == 16 and len(ch) == 4
    assert mic.overflows == 16 and mic.samples_delivered == 20 * BLOCK
    assert [b.t for b in [await ch.get() for _ in range(4)]] == [k * BLOCK / SAMPLE_RATE for k in range(16, 20)]


# --- speaker ----------------------------------------------------------------------------------


async def test_player_output_reaches_the_speaker_and_flush_stops_it(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    started: list[int] = []
    flush_at: list[int] = []
    played_at_flush: list[int] = []
    with SimulatedSoundCard(tmp_path / "card", speaker_rate=48_000, mic=False) as card:
        player = SpeakerPlayer(SPEAKER, on_playback_start=started.append)
        player.start(loop)

        async def gate(step: int) -> None:
            if not flush_at and player.played_samples >= 0.3 * player.rate:
                player.flush()
                flush_at.append(card.speaker_frames)
                played_at_flush.append(player.played_samples)

        card.run(before_step=card.gate(loop, gate))
        await player.open_turn(1, 22_050)
        pcm = (tone(440.0, 2.0, 22_050) * 32767).astype(np.int16)
        async with asyncio.timeout(20):
            await player.write(pcm)  # returns early: the flush drops the rest
        assert flush_at, "the write returned before the flush"
        seconds, path = await player.close_turn(interrupted=True)
        after = flush_at[0] // card.speaker_step + round(0.3 / 0.032)
        assert await asyncio.to_thread(card.wait_step, after)
        card.release()
        player.close()
    speaker = card.speaker_audio()
    loud = np.flatnonzero(np.abs(speaker) > 100)
    onset, stop = int(loud[0]), flush_at[0]
    assert player.rate == 48_000
    assert started == [1] and path is None
    assert abs(dominant_frequency(speaker[onset:stop], 48_000) - 440.0) < 5.0
    assert 0.3 <= seconds < 0.3 + 0.1
    tail_ms = (int(loud[-1]) + 1 - stop) / 48
    assert tail_ms <= 100, f"{tail_ms:.0f} ms of sound after flush()"
    assert not player.playing
    assert player.played_samples == played_at_flush[0]  # not one queued sample went out after flush()


async def test_full_duplex_echo_reaches_the_microphone(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    blocks: list[AudioBlock] = []
    snapshot: dict[str, np.ndarray] = {}
    with SimulatedSoundCard(tmp_path / "card", speaker_rate=48_000, echo_gain=0.5, echo_delay_ms=20) as card:
        ch: Channel[AudioBlock] = Channel("microphone", 64, Overflow.DROP_OLDEST)
        mic = Microphone(MIC)
        player = SpeakerPlayer(SPEAKER)
        mic.start(loop, ch)
        player.start(loop)

        async def gate(step: int) -> None:
            while len(blocks) < step:  # one 512-sample block per 32 ms step: the mic heard all of it
                blocks.append(await ch.get())
            if not snapshot and player.played_samples >= 0.8 * player.rate:
                snapshot["heard"] = np.concatenate([b.samples for b in blocks])[-8000:]
                snapshot["reference"] = player.recent_output(0.5 + 0.4)

        card.run(before_step=card.gate(loop, gate))
        await player.open_turn(1, 16_000)
        async with asyncio.timeout(20):
            await player.write((tone(440.0, 1.0, 16_000) * 32767).astype(np.int16))
            seconds, _ = await player.close_turn()
        card.release()
        mic.close()
        player.close()
    heard, reference = snapshot["heard"], snapshot["reference"]
    assert abs(seconds - 1.0) < 0.01
    assert len(reference) == round(0.9 * SAMPLE_RATE)
    assert abs(dominant_frequency(reference, SAMPLE_RATE) - 440.0) < 2.0
    assert float(np.max(np.abs(heard))) == pytest.approx(0.25, abs=0.03)
    assert echo_score(heard, reference) > 0.8
    assert ch.dropped == 0 and mic.overflows == 0
    assert [b.t for b in blocks[:2]] == [0.0, BLOCK / SAMPLE_RATE]


# --- missing devices and listings -----------------------------------------------------------------


async def test_missing_devices_raise_one_line_listing_what_is_there(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    ch: Channel[AudioBlock] = Channel("microphone", 4, Overflow.DROP_OLDEST)
    with SimulatedSoundCard(tmp_path / "card", speaker=False):
        with pytest.raises(DeviceError) as mic_error:
            Microphone("no-such-mic").start(loop, ch)
        with pytest.raises(DeviceError) as speaker_error:
            SpeakerPlayer("no-such-speaker").start(loop)
        with pytest.raises(DeviceError) as index_error:
            Microphone(42).start(loop, ch)
    for error, asked, listed in (
        (mic_error, "no-such-mic", MIC),
        (speaker_error, "no-such-speaker", SPEAKER),
        (index_error, "42", MIC),
    ):
        message = str(error.value)
        assert "\n" not in message and asked in message and f"'{listed}'" in message, message
        assert error.value.code == "device"
    missing = tmp_path / "missing.mp4"
    with pytest.raises(DeviceError) as camera_error:
        CameraSource(str(missing)).open()
    message = str(camera_error.value)
    assert "\n" not in message and str(missing) in message
    assert re.search(r"cameras that open: \d|no camera opens at indices 0-9", message), message


async def test_without_a_sound_card_the_error_says_so() -> None:
    import sounddevice as sd

    ch: Channel[AudioBlock] = Channel("microphone", 4, Overflow.DROP_OLDEST)
    with pytest.raises(DeviceError) as error:
        Microphone().start(asyncio.get_running_loop(), ch)
    message = str(error.value)
    inputs = [d for d in sd.query_devices() if d["max_input_channels"] > 0]
    assert "\n" not in message
    if inputs:  # a machine with a real sound card: the default opened or was listed
        assert "input devices:" in message
    else:
        assert "no input devices found" in message


def test_listings_name_the_simulated_devices(tmp_path: Path) -> None:
    with SimulatedSoundCard(tmp_path / "card", speaker=False):
        lines = list_audio_devices()
    assert any(re.fullmatch(rf"\d+: {MIC} \(\d+ in, \d+ out, 16000 Hz\)", line) for line in lines), lines
    assert any(re.fullmatch(rf"\d+: {SPEAKER} \(\d+ in, \d+ out, 48000 Hz\)", line) for line in lines), lines
    assert any(line.endswith("[default input, default output]") for line in lines), lines
    cameras = list_cameras()
    assert all(re.fullmatch(r"\d: \d+x\d+", line) for line in cameras), cameras


def test_backoff_doubles_to_its_maximum() -> None:
    backoff = Backoff(0.5, 5.0)
    assert [backoff.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    backoff.reset()
    assert backoff.next() == 0.5


# --- camera -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clip_2s(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("camera") / "desk-2s.avi"
    return path, write_clip(SESSION / "video.mp4", path, 2.0)


async def test_camera_file_yields_frames_then_is_lost_and_restored(clip_2s: tuple[Path, int], tmp_path: Path) -> None:
    source, n_frames = clip_2s
    clip = tmp_path / "camera.avi"
    clip.write_bytes(source.read_bytes())
    states: list[str] = []
    seen = {state: asyncio.Event() for state in ("lost", "retrying", "restored")}

    def on_status(state: str, message: str) -> None:
        states.append(state)
        seen[state].set()

    camera = CameraSource(str(clip), on_status=on_status, backoff_initial_s=0.05, backoff_max_s=0.2, pace_file=False)
    camera.open()
    away = clip.with_suffix(".away")
    clip.rename(away)  # "unplugged": the open capture reads on, a reopen fails
    frames: Channel[Frame] = Channel("frames", 1000, Overflow.DROP_OLDEST)
    camera.start(asyncio.get_running_loop(), frames, FakeClock(), lambda t: True)
    try:
        async with asyncio.timeout(20):
            await seen["lost"].wait()
            first_run = [await frames.get() for _ in range(len(frames))]
            await seen["retrying"].wait()
            assert not seen["restored"].is_set()
            away.rename(clip)  # plugged back in
            await seen["restored"].wait()
            again = await frames.get()
            while again.index < n_frames:
                again = await frames.get()
    finally:
        camera.close()
    assert [f.index for f in first_run] == list(range(n_frames))
    assert first_run[0].image.shape == (480, 640, 3) or first_run[0].image.ndim == 3
    assert states[0] == "lost" and "retrying" in states and "restored" in states
    assert states.index("retrying") < states.index("restored")
    assert again.index >= n_frames and again.image.ndim == 3
    assert not camera.running


async def test_camera_close_interrupts_the_backoff(clip_2s: tuple[Path, int], tmp_path: Path) -> None:
    source, _ = clip_2s
    clip = tmp_path / "camera.avi"
    clip.write_bytes(source.read_bytes())
    lost = asyncio.Event()
    camera = CameraSource(
        str(clip), on_status=lambda s, m: lost.set() if s == "lost" else None, backoff_initial_s=60, pace_file=False
    )
    frames: Channel[Frame] = Channel("frames", 1, Overflow.DROP_OLDEST)
    camera.start(asyncio.get_running_loop(), frames, FakeClock(), lambda t: t >= 0)
    async with asyncio.timeout(20):
        await lost.wait()
    assert camera.running  # waiting 60 s before the next try
    camera.close(timeout=2.0)
    assert not camera.running
    assert frames.dropped > 0 and len(frames) == 1  # newest frame wins
