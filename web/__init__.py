"""The browser mode: talk to the assistant from a web page, with the browser's camera, mic and
speaker (``mode: web``, ``run_assistant.py --web``).

- ``web.settings``: the ``web:`` section (address, token, sessions, TLS); light.
- ``web.server``: the aiohttp server, the page, one live session per talking tab.
- ``web.devices``: the browser as microphone, camera and speaker of a live session.
- ``web.protocol``: the WebSocket messages both ways.
"""

from .settings import WebSettings, WebTlsSettings, read_token

__all__ = ["WebSettings", "WebTlsSettings", "read_token"]
