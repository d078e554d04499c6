"""The kernel: what every other package builds on, importing nothing of ours.

Events and the event bus, bounded channels, clocks, the error tree and the strict settings
base. ``tests/test_layers.py`` fails if a kernel module imports any other package of the
project. (``kernel.openai_compat`` and ``kernel.diagnostics`` are imported by name: they pull
in the OpenAI client and signal handling, which not every user wants.)
"""

from .channels import Activity, Channel, ChannelClosed, Overflow
from .clock import Clock, FakeClock, MediaClock, WallClock
from .errors import AssistantError, BackendError, ConfigError, DeviceError, InputError, ModelError
from .eventlog import EventBus, JsonlWriter, Subscriber, read_events
from .events import Event, Stage, to_record
from .settings_base import StrictModel

__all__ = [
    "Activity", "AssistantError", "BackendError", "Channel", "ChannelClosed", "Clock", "ConfigError", "DeviceError",
    "Event", "EventBus", "FakeClock", "InputError", "JsonlWriter", "MediaClock", "ModelError", "Overflow", "Stage",
    "StrictModel", "Subscriber", "WallClock", "read_events", "to_record",
]
