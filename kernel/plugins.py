"""Backends named in a table and imported only when chosen: each pulls in its own stack
(OpenCV, openai, torch, llama.cpp), which loading the config must not."""

from __future__ import annotations

import importlib
from typing import Any


def import_attribute(spec: str) -> Any:
    """``"package.module:Class.method"``: the module imported, the attribute looked up."""
    module, _, attribute = spec.partition(":")
    found: Any = importlib.import_module(module)
    for name in attribute.split("."):
        found = getattr(found, name)
    return found
