"""Where the assistant keeps files it builds once and reuses (assembled models)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$OMNILIVE_CACHE``, else ``$XDG_CACHE_HOME/omnilive``, else ``~/.cache/omnilive``.

    The folder is not created here; whoever writes into it does that."""
    if own := os.environ.get("OMNILIVE_CACHE"):
        return Path(own).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"  # the XDG spec ignores relative paths
    return base / "omnilive"
