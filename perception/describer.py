"""The describer interface: a frame (and optionally a question) in, text out."""

from __future__ import annotations

from typing import Protocol

from assistant.errors import ConfigError

from .frames import Image


class Describer(Protocol):
    name: str

    def describe(self, image: Image, question: str | None = None) -> str:
        """Text describing ``image``; blocking, so stages call it in a worker thread."""
        ...


def make_describer(backend: str, *, tesseract: bool | None = None, people: bool = True) -> Describer:
    if backend == "basic":
        from .basic import BasicDescriber

        return BasicDescriber(use_tesseract=tesseract, people=people)
    raise ConfigError(f"describer.backend: unknown backend '{backend}' (known: basic)")
