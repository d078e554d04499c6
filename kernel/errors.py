"""The project's error tree, in one place.

Every error the assistant raises on purpose is an :class:`AssistantError`. Library
errors are translated into one of these at the edge of the backend that met them
(``raise InputError(...) from exc``), so the CLI can print one clear line and exit 2.

- ``ConfigError``  (``config``): the configuration failed validation or names a
  backend or model that does not exist.
- ``InputError``   (``input``): a media file is missing, unreadable or corrupt.
- ``ModelError``   (``model``): a model failed to load or to run.
- ``BackendError`` (``backend``): a remote service (LLM, VLM server) failed;
  ``retryable`` says whether trying again may help.
- ``DeviceError``  (``device``): a camera or audio device is missing or lost.
"""

from __future__ import annotations


class AssistantError(Exception):
    """Root of the project's errors: a short ``code`` and whether a retry may help."""

    code = "error"

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable

    def __str__(self) -> str:
        return self.message


class ConfigError(AssistantError):
    code = "config"


class InputError(AssistantError):
    code = "input"


class ModelError(AssistantError):
    code = "model"


class BackendError(AssistantError):
    code = "backend"


class DeviceError(AssistantError):
    code = "device"
