"""Perception: frames in, scene descriptions out.

The media unit (``Frame``, ``Image``), the ``Describer`` Protocol, the scene memory and the
describers' settings and registry are re-exported here. The describers themselves are imported
by the registry when chosen (``perception.basic``, ``perception.openai_vision``,
``perception.minicpmv``, ``perception.omnilmm``): they load OpenCV's models, openai or torch.
"""

from .describer import Describer
from .frames import Frame, Image
from .memory import SceneDescription, SceneEvent, SceneMemory
from .registry import BACKENDS, DescriberSettings, make_describer

__all__ = [
    "BACKENDS", "Describer", "DescriberSettings", "Frame", "Image", "SceneDescription", "SceneEvent", "SceneMemory",
    "make_describer",
]
