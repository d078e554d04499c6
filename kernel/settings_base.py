"""The strict base of every settings model.

It lives in the kernel so that every package can own its settings (``speech.settings``,
``dialogue.settings``, ``perception.settings``, ``kiosk.settings``, ``web.settings``) while the
runtime's (``assistant.config``) and the app's root settings (``omnilive.settings``) gather them.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

# What a setting that names an environment variable (a key's, a password's, a token's) must look
# like: a name, so a secret pasted there by mistake is refused and never echoed.
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class StrictModel(BaseModel):
    """Unknown fields are an error, so a typo in a YAML file is reported, not ignored; so is a
    number that is not finite (``.inf``, ``nan``): no setting means "forever", and events.jsonl,
    which records the settings, must stay strict JSON."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
