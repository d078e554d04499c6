"""The runtime: one session of the assistant, whatever mode runs it.

:class:`Pipeline` wires the stages and their channels (declared in :mod:`assistant.graph`);
:func:`run_session` runs a mode's sources and sinks through it with its events recorded;
:func:`replay_session` drives it from files and :func:`run_live_session` from this machine's
devices (the browser mode calls :func:`assistant.live.run_live` with the page's); the state
tracker says what the assistant is doing. It imports the backends and the kernel, never the app
above it.
"""

from .config import RuntimeSettings
from .graph import CHANNELS, Controls
from .live_session import run_live_session
from .models import Models, prepare_models
from .pipeline import Pipeline
from .session import Record, RunStats, replay_session, run_session
from .state import Phase, StateTracker

__all__ = [
    "CHANNELS", "Controls", "Models", "Phase", "Pipeline", "Record", "RunStats", "RuntimeSettings", "StateTracker",
    "prepare_models", "replay_session", "run_live_session", "run_session",
]
