"""``--list-devices``: the cameras and audio devices this machine offers."""

from __future__ import annotations


def describe_devices() -> str:
    from perception.camera import list_cameras
    from speech.devices import list_audio_devices

    cameras = list_cameras()
    audio = list_audio_devices()
    lines = ["Cameras:"] + [f"  {c}" for c in cameras or ["(none found)"]]
    lines += ["Audio devices:"] + [f"  {a}" for a in audio or ["(none found)"]]
    return "\n".join(lines)
