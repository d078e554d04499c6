"""The headless kiosk: the assistant run unattended, with an MQTT link to an operator.

- ``kiosk.settings``: the ``kiosk:`` section of the config (MQTT, attract mode); light, no runtime.
- ``kiosk.runtime``: :func:`~kiosk.runtime.run_kiosk`, the kiosk's state, metrics and the
  controller that carries out commands on the running pipeline.
- ``--check`` (the config, inputs, models and broker, one line each) is the app's: ``omnilive.check``.
- ``kiosk.attract``: attract mode, greeting a person who walks up to an idle kiosk.
- ``kiosk.commands``: the remote command schema, and the command errors.
- ``kiosk.mqtt``: :class:`~kiosk.mqtt.MqttLink`, the connection to the broker and its
  topics; built from ``kiosk.broker`` (the aiomqtt client, backoff, failure reasons),
  ``kiosk.outbox`` (outgoing messages), ``kiosk.status`` (status, events, metrics),
  ``kiosk.command_queue`` (commands in, rate limit, dispatch, results) and
  ``kiosk.linkstats`` (the link's counters).
"""

# The light names only: ``kiosk.runtime`` (run_kiosk) and ``kiosk.mqtt`` load aiomqtt and the
# runtime, which loading the config must not.
from .commands import CommandError
from .settings import AttractSettings, KioskSettings, MqttSettings

__all__ = ["AttractSettings", "CommandError", "KioskSettings", "MqttSettings"]
