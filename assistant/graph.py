"""Every channel of the pipeline, declared in one table: name, item type, bound, overflow
policy (:class:`kernel.channels.Overflow`), whether it shares the pipeline's
:class:`~kernel.channels.Activity`, and whether its drops are counted.

A counted channel opened through :meth:`assistant.pipeline.Pipeline.open_channel` is
reported by ``Pipeline.dropped()``, hence in ``session_end``, the kiosk's ``metrics`` and
the run's stats. A BLOCK channel never drops; it is counted anyway, so the report shows 0.

====================  ===============  =====  ===========  ========  =======================
channel               item             bound  policy       activity  opened by
====================  ===============  =====  ===========  ========  =======================
``microphone``        AudioBlock       128    DROP_OLDEST  no        live: the mic tap
``camera``            Frame            2      DROP_OLDEST  no        live: the camera tap
``audio``             AudioBlock       64     BLOCK        yes       Pipeline (a mode feeds it)
``frames``            Frame            1      DROP_OLDEST  yes       Pipeline (a mode feeds it)
``utterances``        Utterance        8      BLOCK        yes       Pipeline: VAD → ASR
``transcripts``       FinalTranscript  8      BLOCK        yes       Pipeline: ASR → turns
``partials``          Utterance        1      DROP_OLDEST  yes       Pipeline: VAD → partial ASR
``turn-N-pieces``     str              8      BLOCK        no        TurnRunner, one per turn
====================  ===============  =====  ===========  ========  =======================

The live ``microphone`` count is the microphone's own ``overflows`` (PortAudio overflows
plus this channel's drops).

Control reaches the stages as typed values, never as closures: the three of :class:`Controls`,
and the early decode's own ``busy`` flag, which the pipeline hands to the prompt warmer
(``PromptWarmer.hold``):

==============  =====================  =========================  ==============================
control         type                   set by                     obeyed by
==============  =====================  =========================  ==============================
``muted``       Flag                   ``Pipeline.set_muted``     VAD (hears silence), ASR (drops)
``priority``    ReplyPriority          the reply events           the describer (waits)
``scene``       SceneMemory            the describer stage        the turns, attract, describe_now
``busy``        Flag                   the early decode           the prompt warmer (holds)
==============  =====================  =========================  ==============================

Interrupting a reply is ``TurnManager.interrupt`` (barge-in, mute, reset), and speech start and
barge-in also go on the event bus, which is synchronous and never drops.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from kernel.channels import Activity, Channel, Overflow
from kernel.control import Flag
from perception.frames import Frame
from perception.memory import SceneMemory
from speech.audio import AudioBlock
from speech.stages import FinalTranscript, Utterance

from .sharing import ReplyPriority

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Edge(Generic[T]):
    """One channel's declaration."""

    name: str
    item: type[T]
    maxsize: int
    policy: Overflow
    activity: bool = True  # its items count as pipeline work (``--speed 0`` waits for them)
    counted: bool = True  # its drops are reported by ``Pipeline.dropped()``

    def open(self, activity: Activity | None = None, *, name: str | None = None) -> Channel[T]:
        return Channel(name or self.name, self.maxsize, self.policy, activity if self.activity else None)


MICROPHONE = Edge("microphone", AudioBlock, 128, Overflow.DROP_OLDEST, activity=False)
CAMERA = Edge("camera", Frame, 2, Overflow.DROP_OLDEST, activity=False)
AUDIO = Edge("audio", AudioBlock, 64, Overflow.BLOCK)
FRAMES = Edge("frames", Frame, 1, Overflow.DROP_OLDEST)
UTTERANCES = Edge("utterances", Utterance, 8, Overflow.BLOCK)
TRANSCRIPTS = Edge("transcripts", FinalTranscript, 8, Overflow.BLOCK)
PARTIALS = Edge("partials", Utterance, 1, Overflow.DROP_OLDEST)
PIECES = Edge("pieces", str, 8, Overflow.BLOCK, activity=False, counted=False)  # named turn-N-pieces

CHANNELS: tuple[Edge[Any], ...] = (MICROPHONE, CAMERA, AUDIO, FRAMES, UTTERANCES, TRANSCRIPTS, PARTIALS, PIECES)


@dataclass(frozen=True, slots=True)
class Controls:
    """The pipeline's control values (see the table above); one object each, shared by the
    controller that sets it and the stages that obey it."""

    muted: Flag
    priority: ReplyPriority
    scene: SceneMemory


@dataclass(frozen=True, slots=True)
class Stage:
    """One stage of the graph: its name (in events and restarts), how to start it (called again
    when the supervisor restarts it), and the channels it takes from (a stall is work waiting in
    them that it does not take)."""

    name: str
    run: Callable[[], Coroutine[Any, Any, None]]
    inputs: tuple[Channel[Any], ...] = ()
