"""Typed control values of the pipeline graph.

A controller (the kiosk's commands, the turn manager) changes one; the stages that must obey
it hold the same object and read it. Nothing is passed as a closure over another object's
attributes, so what a stage obeys is named in its signature and listed in the graph
(``assistant.graph.Controls``).
"""

from __future__ import annotations


class Flag:
    """On or off. ``bool(flag)`` reads it; :meth:`set` changes it."""

    __slots__ = ("_on", "name")

    def __init__(self, name: str, on: bool = False) -> None:
        self.name = name
        self._on = on

    def set(self, on: bool = True) -> None:
        self._on = on

    def __bool__(self) -> bool:
        return self._on

    def __repr__(self) -> str:
        return f"Flag({self.name!r}, {self._on})"
