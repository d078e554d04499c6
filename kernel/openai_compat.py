"""What the OpenAI-compatible backends (dialogue and describer) share: the API key
from a named environment variable, and the translation of the client's errors."""

from __future__ import annotations

import os

import openai

from .errors import BackendError


def key_from_env(env: str) -> str:
    """The key in ``env``; local servers take any key, and the client insists on one."""
    return os.environ.get(env) or "not-needed"


def backend_error(exc: openai.APIError, stage: str, base_url: str | None) -> BackendError:
    """One line naming the stage and the server; 5xx, 429 and connection errors are retryable."""
    where = base_url or "OpenAI"
    if isinstance(exc, openai.APIStatusError):
        return BackendError(
            f"{stage}: {where} answered {exc.status_code}: {exc.message}",
            retryable=exc.status_code >= 500 or exc.status_code == 429,
        )
    return BackendError(f"{stage}: {where}: {exc}", retryable=True)
