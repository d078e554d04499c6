"""What the prompt needs to know of the camera: dialogue's own view of the scene, so that it
never imports vision's storage types.

Both are read-only structural types: anything with these attributes fits, with no conversion.
Perception's ``SceneDescription`` is an :class:`Observation` and its ``SceneEvent`` an
:class:`ObservedEvent`; a test or a benchmark may pass its own small frozen dataclass.
"""

from __future__ import annotations

from typing import Protocol


class Observation(Protocol):
    """One description of the camera view."""

    @property
    def text(self) -> str:
        """What the camera showed, as text (untrusted: it may quote a sign)."""
        ...

    @property
    def last_seen(self) -> float:
        """When the camera last showed this view, in session (media) seconds."""
        ...


class ObservedEvent(Protocol):
    """One line of the scene summary: a view the camera showed from ``start_t`` to ``end_t``."""

    @property
    def text(self) -> str: ...

    @property
    def start_t(self) -> float: ...

    @property
    def end_t(self) -> float: ...
