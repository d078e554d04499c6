"""The strict base of every settings model.

It lives apart from :mod:`assistant.config` so that packages whose settings nest
inside the root ``Settings`` (``kiosk.settings``) can subclass it without an
import cycle: ``assistant.config`` imports them, and they import only this.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Unknown fields are an error, so a typo in a YAML file is reported, not ignored; so is a
    number that is not finite (``.inf``, ``nan``): no setting means "forever", and events.jsonl,
    which records the settings, must stay strict JSON."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
