"""Log setup for both runtimes: one handler, every line scrubbed of the bot's secrets.

Bot tokens travel in Telegram API URLs and Slack headers, and third-party libraries log URLs,
so scrubbing happens on the formatted line (message, arguments and traceback alike) rather than
trusting every call site.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TextIO

REDACTED = "<redacted>"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries whose INFO lines name request URLs; they speak only when something goes wrong.
QUIET_LOGGERS = ("httpx", "httpcore")


class RedactingFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str], fmt: str = LOG_FORMAT) -> None:
        super().__init__(fmt)
        # Longest first, so a secret containing another is replaced whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        for secret in self._secrets:
            line = line.replace(secret, REDACTED)
        return line


def configure_logging(
    level: str, secrets: Iterable[str], stream: TextIO | None = None, fmt: str = LOG_FORMAT
) -> None:
    """Send every logger's records through one redacting handler at `level`."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter(secrets, fmt))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
