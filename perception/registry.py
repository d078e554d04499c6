"""The describer backends: one line each, naming the backend's settings model and its loader.

``describer.backend`` picks a line. The settings union that ``assistant.config`` validates
``describer:`` against is built from this table, so adding a backend is its own module (a
settings model in :mod:`perception.settings`, a describer with ``from_settings``) plus one line
here. A loader is imported only when its backend is chosen: each pulls in its own stack (OpenCV,
openai, torch), which loading the config must not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import BeforeValidator, Field

from kernel.plugins import import_attribute

from .describer import Describer
from .settings import (
    BasicDescriberSettings,
    DescriberSettingsBase,
    MiniCPMVDescriberSettings,
    OmniLMMDescriberSettings,
    OpenAIDescriberSettings,
)


@dataclass(frozen=True, slots=True)
class Backend:
    settings: type[DescriberSettingsBase]
    loader: str  # "module:attribute", called with the backend's own settings and the language; returns the Describer

    def builder(self) -> Any:
        """The loader itself; importing it imports the backend's module."""
        return import_attribute(self.loader)

    def load(self, settings: DescriberSettingsBase, language: str = "en") -> Describer:
        describer: Describer = self.builder()(settings, language=language)
        return describer


BACKENDS: dict[str, Backend] = {
    "basic": Backend(BasicDescriberSettings, "perception.basic:BasicDescriber.from_settings"),
    "openai": Backend(OpenAIDescriberSettings, "perception.openai_vision:OpenAIVisionDescriber.from_settings"),
    "omnilmm": Backend(OmniLMMDescriberSettings, "perception.omnilmm:OmniLMMDescriber.from_settings"),
    "minicpmv": Backend(MiniCPMVDescriberSettings, "perception.minicpmv:MiniCPMVDescriber.from_settings"),
}

DEFAULT_BACKEND = "basic"


def _default_backend(value: Any) -> Any:
    """A ``describer:`` that names no backend is the default one's (older files, ``--set describer.people=no``)."""
    return {"backend": DEFAULT_BACKEND, **value} if isinstance(value, dict) and "backend" not in value else value


if TYPE_CHECKING:  # to mypy, the union is its base: narrow with isinstance for a backend's own fields
    DescriberSettings = DescriberSettingsBase
else:
    DescriberSettings = Annotated[
        Union[tuple(backend.settings for backend in BACKENDS.values())],  # noqa: UP007 (built from the table)
        Field(discriminator="backend"),
        BeforeValidator(_default_backend),
    ]


def make_describer(settings: DescriberSettingsBase, language: str = "en") -> Describer:
    """The describer ``settings.backend`` names, built from ``settings`` to describe in ``language``
    (``en``, ``zh`` or ``auto``, see :func:`perception.prompts.description_language`);
    :class:`ConfigError` or :class:`ModelError` (from the backend) if it cannot load."""
    return BACKENDS[settings.backend].load(settings, language)
