"""The bot's configuration, from environment variables (locally) or Worker vars and secrets.

Errors say exactly what to set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .chat.concurrency import STRATEGIES, Concurrency


class ConfigError(ValueError):
    """The environment does not describe a runnable bot; the message says what to set."""


# Every name the configuration reads, so a Worker's env (attributes, not a mapping) can be read.
CONFIG_KEYS = (
    "CHAT_DATA_DIR",
    "HOST",
    "PORT",
    "CHAT_CONCURRENCY",
    "CHAT_DEBOUNCE_MS",
    "CHAT_LOCK_TTL_MS",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_WEBHOOK_SECRET",
    "TELEGRAM_API_BASE",
    "SLACK_SIGNING_SECRET",
    "SLACK_BOT_TOKEN",
    "SLACK_API_BASE",
    "MESSENGER_PER_CHANNEL",
    "CHAT_LOG_LEVEL",
    "CHAT_SHUTDOWN_GRACE_MS",
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# Telegram's rule for setWebhook's secret_token, which it echoes in every webhook's header.
TELEGRAM_SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")


@dataclass(frozen=True)
class BotConfig:
    data_dir: Path
    host: str
    port: int
    concurrency: Concurrency
    lock_ttl_ms: int
    telegram_bot_token: str | None
    telegram_webhook_secret: str | None
    telegram_api_base: str
    slack_signing_secret: str | None
    slack_bot_token: str | None
    slack_api_base: str
    # On Cloudflare: one parent Durable Object per channel (the default), or one per bot. An
    # object runs one request at a time, so one per bot caps the whole bot at what one object
    # can handle (docs/benchmark.md).
    messenger_per_channel: bool
    log_level: str
    # Locally, on SIGTERM: how long running handlers get before their work is left queued.
    shutdown_grace_ms: int

    @property
    def secrets(self) -> list[str]:
        """Every configured secret, for scrubbing log lines."""
        values = (
            self.telegram_bot_token,
            self.telegram_webhook_secret,
            self.slack_signing_secret,
            self.slack_bot_token,
        )
        return [v for v in values if v]

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> BotConfig:
        def pair(first: str, second: str) -> tuple[str | None, str | None]:
            a, b = env.get(first) or None, env.get(second) or None
            if bool(a) != bool(b):
                missing, present = (second, first) if a else (first, second)
                raise ConfigError(f"{missing} is required when {present} is set")
            return a, b

        def integer(name: str, default: int) -> int:
            raw = env.get(name, str(default))
            try:
                return int(raw)
            except ValueError:
                raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None

        telegram_token, telegram_secret = pair("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET")
        slack_secret, slack_token = pair("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN")
        if telegram_secret is not None and not TELEGRAM_SECRET_PATTERN.fullmatch(telegram_secret):
            raise ConfigError(
                "TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and - "
                "(Telegram's rule for setWebhook's secret_token)"
            )
        log_level = env.get("CHAT_LOG_LEVEL", "INFO").upper()
        if log_level not in LOG_LEVELS:
            raise ConfigError(f"CHAT_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        strategy = env.get("CHAT_CONCURRENCY", "queue")
        if strategy not in STRATEGIES:
            raise ConfigError(
                f"CHAT_CONCURRENCY must be one of {', '.join(STRATEGIES)}, not {strategy!r}"
            )
        try:
            concurrency = Concurrency(
                strategy=strategy,
                debounce_ms=integer("CHAT_DEBOUNCE_MS", 1_500),
            )
        except ValueError as error:
            raise ConfigError(str(error)) from None
        return cls(
            data_dir=Path(env.get("CHAT_DATA_DIR", "data")),
            host=env.get("HOST", "127.0.0.1"),
            port=integer("PORT", 8787),
            concurrency=concurrency,
            lock_ttl_ms=integer("CHAT_LOCK_TTL_MS", 30_000),
            telegram_bot_token=telegram_token,
            telegram_webhook_secret=telegram_secret,
            telegram_api_base=env.get("TELEGRAM_API_BASE", "https://api.telegram.org"),
            slack_signing_secret=slack_secret,
            slack_bot_token=slack_token,
            slack_api_base=env.get("SLACK_API_BASE", "https://slack.com/api"),
            messenger_per_channel=env.get("MESSENGER_PER_CHANNEL", "true").lower() in ("1", "true"),
            log_level=log_level,
            shutdown_grace_ms=integer("CHAT_SHUTDOWN_GRACE_MS", 10_000),
        )
