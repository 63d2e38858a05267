"""The bot's configuration, from environment variables (locally) or Worker vars and secrets.

Errors say exactly what to set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from chatstate.chat.concurrency import STRATEGIES, Concurrency
from chatstate.platforms.github_app import pkcs8_der


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
    "GITHUB_WEBHOOK_SECRET",
    "GITHUB_TOKEN",
    "GITHUB_BOT_LOGIN",
    "GITHUB_API_BASE",
    "GITHUB_APP_ID",
    "GITHUB_APP_PRIVATE_KEY",
    "WHATSAPP_VERIFY_TOKEN",
    "WHATSAPP_APP_SECRET",
    "WHATSAPP_ACCESS_TOKEN",
    "WHATSAPP_PHONE_NUMBER_ID",
    "WHATSAPP_API_BASE",
    "DISCORD_PUBLIC_KEY",
    "DISCORD_APPLICATION_ID",
    "DISCORD_BOT_TOKEN",
    "DISCORD_API_BASE",
    "MESSENGER_PER_CHANNEL",
    "CHAT_LOG_LEVEL",
    "CHAT_SHUTDOWN_GRACE_MS",
    "CHAT_STATE",
    "CHAT_KV_PREFIX",
    "CHAT_KV_TTL_MINUTES",
    "CHAT_KV_NAMESPACE_ID",
    "CLOUDFLARE_ACCOUNT_ID",
    "CLOUDFLARE_API_TOKEN",
    "CLOUDFLARE_API_BASE",
    "CHAT_API_TOKEN",
    "CHAT_LLM_BASE_URL",
    "CHAT_LLM_MODEL",
    "CHAT_LLM_API_KEY",
    "CHAT_LLM_CACHE_TTL_MS",
    "CHAT_AI_MODEL",
    "CHAT_COUNT_CALLS",
    "CHAT_ADMIN_TOKEN",
)
# Where chat state lives: SQLite (Durable Objects on Cloudflare, files locally), or Workers KV.
STATE_BACKENDS = ("sqlite", "kv")
MIN_API_TOKEN_CHARS = 16
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# Telegram's rule for setWebhook's secret_token, which it echoes in every webhook's header.
TELEGRAM_SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")


def _token(env: Mapping[str, str], name: str) -> str | None:
    token = env.get(name) or None
    if token is not None and len(token) < MIN_API_TOKEN_CHARS:
        raise ConfigError(
            f"{name} must be at least {MIN_API_TOKEN_CHARS} characters "
            "(for example: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return token


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
    github_webhook_secret: str | None
    github_token: str | None
    # The bot's login (`my-bot`, or `my-app[bot]` for a GitHub App): a mention is `@login`,
    # and its own comments are never answered.
    github_bot_login: str | None
    github_api_base: str
    # A GitHub App instead of a token: its id and PEM private key (installation tokens are
    # minted from them, chatstate/platforms/github_app.py).
    github_app_id: str | None
    github_app_private_key: str | None
    # WhatsApp Cloud API: the token Meta's handshake echoes, the app secret that signs
    # deliveries, the Graph API token, and the business number the bot sends from.
    whatsapp_verify_token: str | None
    whatsapp_app_secret: str | None
    whatsapp_access_token: str | None
    whatsapp_phone_number_id: str | None
    whatsapp_api_base: str
    # Discord interactions: the application's public key (verifies them) and id; the bot token
    # for posting outside an interaction and for registering commands (optional).
    discord_public_key: str | None
    discord_application_id: str | None
    discord_bot_token: str | None
    discord_api_base: str
    # On Cloudflare: one parent Durable Object per channel (the default), or one per bot. An
    # object runs one request at a time, so one per bot caps the whole bot at what one object
    # can handle (docs/benchmark.md).
    messenger_per_channel: bool
    log_level: str
    # Locally, on SIGTERM: how long running handlers get before their work is left queued.
    shutdown_grace_ms: int
    state_backend: str
    kv_key_prefix: str
    # The TTL of a KV cache value set without one; None: such values never expire.
    kv_default_ttl_ms: int | None
    # The KV REST API, for CHAT_STATE=kv outside Cloudflare (on Cloudflare the binding is used).
    kv_namespace_id: str | None
    cloudflare_account_id: str | None
    cloudflare_api_token: str | None
    cloudflare_api_base: str
    # The conversation API (chatstate/api) is off until this bearer token is set.
    api_token: str | None
    # An OpenAI-compatible chat-completions server answers agent messages when these are set
    # and the bot registers no responder of its own.
    llm_base_url: str | None
    llm_model: str | None
    llm_api_key: str | None
    # Identical completion requests answered from the agent's store for this long (None: never).
    llm_cache_ttl_ms: int | None
    # A Workers AI model (an `ai` binding named AI) answers chat.respond on Cloudflare.
    ai_model: str | None
    # Tests and benchmarks only: each Durable Object counts its calls and statements in a
    # table of its own (one statement more per call).
    count_calls: bool
    # The web console (chatstate/console) signs in with this; locally one is made at start
    # when it is unset, on Cloudflare the console is off until the secret exists.
    admin_token: str | None

    @property
    def secrets(self) -> list[str]:
        """Every configured secret, for scrubbing log lines."""
        values = (
            self.telegram_bot_token,
            self.telegram_webhook_secret,
            self.slack_signing_secret,
            self.slack_bot_token,
            self.github_webhook_secret,
            self.github_token,
            self.github_app_private_key,
            self.whatsapp_verify_token,
            self.whatsapp_app_secret,
            self.whatsapp_access_token,
            self.discord_bot_token,
            self.cloudflare_api_token,
            self.api_token,
            self.llm_api_key,
            self.admin_token,
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
        github_secret = env.get("GITHUB_WEBHOOK_SECRET") or None
        github_token = env.get("GITHUB_TOKEN") or None
        app_id, app_key = pair("GITHUB_APP_ID", "GITHUB_APP_PRIVATE_KEY")
        if (github_token or app_id) and not github_secret:
            given = "GITHUB_TOKEN" if github_token else "GITHUB_APP_ID"
            raise ConfigError(f"GITHUB_WEBHOOK_SECRET is required when {given} is set")
        if github_secret and not (github_token or app_id):
            raise ConfigError(
                "GITHUB_WEBHOOK_SECRET needs GITHUB_TOKEN, or GITHUB_APP_ID and "
                "GITHUB_APP_PRIVATE_KEY, to reply"
            )
        if github_token and app_id:
            raise ConfigError("set GITHUB_TOKEN or a GitHub App (GITHUB_APP_ID), not both")
        if app_id is not None and not app_id.isdigit():
            raise ConfigError("GITHUB_APP_ID is the App's id in digits")
        if app_key is not None:
            try:
                pkcs8_der(app_key)
            except ValueError as error:
                raise ConfigError(str(error)) from None
        github_login = env.get("GITHUB_BOT_LOGIN") or None
        if github_secret and not github_login:
            raise ConfigError(
                "GITHUB_BOT_LOGIN is required when GITHUB_WEBHOOK_SECRET is set (the bot's "
                "login: mentions are @login, and its own comments are not answered)"
            )
        if telegram_secret is not None and not TELEGRAM_SECRET_PATTERN.fullmatch(telegram_secret):
            raise ConfigError(
                "TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and - "
                "(Telegram's rule for setWebhook's secret_token)"
            )
        whatsapp = {
            name: env.get(name) or None
            for name in (
                "WHATSAPP_VERIFY_TOKEN",
                "WHATSAPP_APP_SECRET",
                "WHATSAPP_ACCESS_TOKEN",
                "WHATSAPP_PHONE_NUMBER_ID",
            )
        }
        if any(whatsapp.values()) and not all(whatsapp.values()):
            missing = [name for name, given in whatsapp.items() if not given]
            raise ConfigError(f"WhatsApp needs all four settings: set {', '.join(missing)}")
        phone_number_id = whatsapp["WHATSAPP_PHONE_NUMBER_ID"]
        if phone_number_id is not None and not phone_number_id.isdigit():
            raise ConfigError("WHATSAPP_PHONE_NUMBER_ID is the number's id in digits (Meta's API)")
        discord_key, discord_app = pair("DISCORD_PUBLIC_KEY", "DISCORD_APPLICATION_ID")
        if discord_key is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", discord_key):
            raise ConfigError("DISCORD_PUBLIC_KEY is the application's public key: 64 hex digits")
        if discord_app is not None and not discord_app.isdigit():
            raise ConfigError("DISCORD_APPLICATION_ID is the application's id in digits")
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
        state_backend = env.get("CHAT_STATE", "sqlite")
        if state_backend not in STATE_BACKENDS:
            raise ConfigError(
                f"CHAT_STATE must be one of {', '.join(STATE_BACKENDS)}, not {state_backend!r}"
            )
        api_token = _token(env, "CHAT_API_TOKEN")
        admin_token = _token(env, "CHAT_ADMIN_TOKEN")
        llm_base_url, llm_model = pair("CHAT_LLM_BASE_URL", "CHAT_LLM_MODEL")
        if integer("CHAT_LLM_CACHE_TTL_MS", 0) < 0:
            raise ConfigError("CHAT_LLM_CACHE_TTL_MS must be 0 (no cache) or more")
        kv_ttl_minutes = integer("CHAT_KV_TTL_MINUTES", 360)
        if kv_ttl_minutes < 0:
            raise ConfigError("CHAT_KV_TTL_MINUTES must be 0 (no default TTL) or more")
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
            github_webhook_secret=github_secret,
            github_token=github_token,
            github_bot_login=github_login,
            github_api_base=env.get("GITHUB_API_BASE", "https://api.github.com"),
            github_app_id=app_id,
            github_app_private_key=app_key,
            whatsapp_verify_token=whatsapp["WHATSAPP_VERIFY_TOKEN"],
            whatsapp_app_secret=whatsapp["WHATSAPP_APP_SECRET"],
            whatsapp_access_token=whatsapp["WHATSAPP_ACCESS_TOKEN"],
            whatsapp_phone_number_id=phone_number_id,
            whatsapp_api_base=env.get("WHATSAPP_API_BASE", "https://graph.facebook.com/v21.0"),
            discord_public_key=discord_key,
            discord_application_id=discord_app,
            discord_bot_token=env.get("DISCORD_BOT_TOKEN") or None,
            discord_api_base=env.get("DISCORD_API_BASE", "https://discord.com/api/v10"),
            messenger_per_channel=env.get("MESSENGER_PER_CHANNEL", "true").lower() in ("1", "true"),
            log_level=log_level,
            shutdown_grace_ms=integer("CHAT_SHUTDOWN_GRACE_MS", 10_000),
            state_backend=state_backend,
            kv_key_prefix=env.get("CHAT_KV_PREFIX") or "chat-sdk",
            kv_default_ttl_ms=kv_ttl_minutes * 60_000 or None,
            kv_namespace_id=env.get("CHAT_KV_NAMESPACE_ID") or None,
            cloudflare_account_id=env.get("CLOUDFLARE_ACCOUNT_ID") or None,
            cloudflare_api_token=env.get("CLOUDFLARE_API_TOKEN") or None,
            cloudflare_api_base=env.get("CLOUDFLARE_API_BASE")
            or "https://api.cloudflare.com/client/v4",
            api_token=api_token,
            llm_base_url=llm_base_url,
            llm_model=llm_model,
            llm_api_key=env.get("CHAT_LLM_API_KEY") or None,
            llm_cache_ttl_ms=integer("CHAT_LLM_CACHE_TTL_MS", 0) or None,
            ai_model=env.get("CHAT_AI_MODEL") or None,
            count_calls=env.get("CHAT_COUNT_CALLS", "") == "1",
            admin_token=admin_token,
        )

    def kv_rest_settings(self) -> tuple[str, str, str]:
        """(account id, namespace id, API token) for the KV REST API, or what to set."""
        settings = {
            "CLOUDFLARE_ACCOUNT_ID": self.cloudflare_account_id,
            "CHAT_KV_NAMESPACE_ID": self.kv_namespace_id,
            "CLOUDFLARE_API_TOKEN": self.cloudflare_api_token,
        }
        missing = [name for name, given in settings.items() if not given]
        if missing:
            raise ConfigError(
                f"CHAT_STATE=kv outside Cloudflare reaches KV over its REST API: set {', '.join(missing)}"
            )
        account, namespace, token = settings.values()
        assert account and namespace and token
        return account, namespace, token
