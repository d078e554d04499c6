"""The headless kiosk: settings (``kiosk.settings``), the remote command schema
(``kiosk.commands``) and the MQTT link to an operator (``kiosk.mqtt``)."""
