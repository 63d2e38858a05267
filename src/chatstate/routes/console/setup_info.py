"""What the console's Setup view shows: platforms, their missing settings, the URLs and
commands to wire them, and whether state takes writes. Secrets appear only as placeholders."""

from __future__ import annotations

from typing import Any

from chatstate.config import BotConfig
from chatstate.http.messages import HttpRequest
from chatstate.routes.console.auth import is_https
from chatstate.state.adapter import StateAdapter

PROBE_KEY = "console-probe"
PROBE_TTL_MS = 60_000
TELEGRAM_UPDATES = '["message","edited_message","callback_query","message_reaction","my_chat_member","chat_member"]'
SLACK_EVENTS = [
    "app_mention",
    "message.channels",
    "message.groups",
    "message.im",
    "reaction_added",
    "reaction_removed",
    "member_joined_channel",
    "member_left_channel",
    "channel_left",
]
DISCORD_REGISTER = "python -m chatstate discord register-commands"
GITHUB_EVENTS = ["Issue comments", "Issues", "Pull requests", "Pull request review comments"]
SLACK_SCOPES = [
    "app_mentions:read",
    "chat:write",
    "channels:history",
    "groups:history",
    "im:history",
    "reactions:read",
    "reactions:write",
    "channels:read",
    "groups:read",
    "commands",
    "files:read",
    "files:write",
    "im:write",
]


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def is_loopback(request: HttpRequest) -> bool:
    """Whether the console was opened on this machine only: no platform can reach that URL."""
    host = (request.header("host") or "localhost").rsplit(":", 1)[0]
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def base_url(request: HttpRequest) -> str:
    scheme = "https" if is_https(request) else "http"
    return f"{scheme}://{request.header('host') or 'localhost'}"


def _missing(config_values: dict[str, str | None]) -> list[str]:
    return [name for name, value in config_values.items() if not value]


def platforms(config: BotConfig, request: HttpRequest, on_cloudflare: bool) -> list[dict[str, Any]]:
    base = base_url(request)
    telegram_url = f"{base}/webhooks/telegram"
    slack_url = f"{base}/webhooks/slack"
    how = "npx wrangler secret put" if on_cloudflare else "export"
    telegram_missing = _missing(
        {
            "TELEGRAM_BOT_TOKEN": config.telegram_bot_token,
            "TELEGRAM_WEBHOOK_SECRET": config.telegram_webhook_secret,
        }
    )
    slack_missing = _missing(
        {
            "SLACK_SIGNING_SECRET": config.slack_signing_secret,
            "SLACK_BOT_TOKEN": config.slack_bot_token,
        }
    )
    github_url = f"{base}/webhooks/github"
    github_missing = _missing(
        {
            "GITHUB_WEBHOOK_SECRET": config.github_webhook_secret,
            "GITHUB_TOKEN (or GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY)": config.github_token
            or config.github_app_id,
            "GITHUB_BOT_LOGIN": config.github_bot_login,
        }
    )
    whatsapp_url = f"{base}/webhooks/whatsapp"
    whatsapp_missing = _missing(
        {
            "WHATSAPP_VERIFY_TOKEN": config.whatsapp_verify_token,
            "WHATSAPP_APP_SECRET": config.whatsapp_app_secret,
            "WHATSAPP_ACCESS_TOKEN": config.whatsapp_access_token,
            "WHATSAPP_PHONE_NUMBER_ID": config.whatsapp_phone_number_id,
        }
    )
    discord_url = f"{base}/webhooks/discord"
    discord_missing = _missing(
        {
            "DISCORD_PUBLIC_KEY": config.discord_public_key,
            "DISCORD_APPLICATION_ID": config.discord_application_id,
        }
    )
    return [
        {
            "name": "web",
            "configured": True,
            "missing": [],
            "notes": ["The chat box in this console: a direct message with the bot."],
        },
        {
            "name": "telegram",
            "title": "Telegram",
            "configured": not telegram_missing,
            "missing": telegram_missing,
            "set_with": how,
            "webhook_url": telegram_url,
            "set_webhook": (
                'curl -sS "https://api.telegram.org/bot<TELEGRAM_BOT_TOKEN>/setWebhook" '
                f"-d url={telegram_url} -d secret_token=<TELEGRAM_WEBHOOK_SECRET> "
                f"-d 'allowed_updates={TELEGRAM_UPDATES}'"
            ),
            "https_needed": not telegram_url.startswith("https://"),
            "loopback": is_loopback(request),
        },
        {
            "name": "slack",
            "title": "Slack",
            "configured": not slack_missing,
            "missing": slack_missing,
            "set_with": how,
            "request_url": slack_url,
            "interactivity_url": slack_url,
            "commands_url": slack_url,
            "events": SLACK_EVENTS,
            "scopes": SLACK_SCOPES,
            "https_needed": not slack_url.startswith("https://"),
            "loopback": is_loopback(request),
        },
        {
            "name": "github",
            "title": "GitHub",
            "configured": not github_missing,
            "missing": github_missing,
            "set_with": how,
            "copy": [
                {"label": "Payload URL (content type application/json)", "value": github_url},
                {"label": "Events to send", "value": ", ".join(GITHUB_EVENTS)},
            ],
            "notes": [
                "In the repository's (or organization's, or GitHub App's) webhook settings: the "
                "Payload URL below, content type application/json, the same secret as "
                "GITHUB_WEBHOOK_SECRET, and the events below. GITHUB_TOKEN (or the GitHub App) "
                "needs Issues and Pull requests read and write; GITHUB_BOT_LOGIN is the login "
                "whose @mentions reach the bot."
            ],
            "https_needed": not github_url.startswith("https://"),
            "loopback": is_loopback(request),
        },
        {
            "name": "whatsapp",
            "title": "WhatsApp",
            "configured": not whatsapp_missing,
            "missing": whatsapp_missing,
            "set_with": how,
            "copy": [
                {"label": "Callback URL", "value": whatsapp_url},
                {"label": "Verify token", "value": "<WHATSAPP_VERIFY_TOKEN>"},
                {"label": "Webhook field to subscribe", "value": "messages"},
            ],
            "notes": [
                "In the Meta app's WhatsApp > Configuration: the Callback URL below and your "
                "WHATSAPP_VERIFY_TOKEN (Meta checks it with a GET the bot answers), then "
                "subscribe to the messages field. WHATSAPP_APP_SECRET is the app's secret (App "
                "settings > Basic), WHATSAPP_ACCESS_TOKEN a system user's token with "
                "whatsapp_business_messaging, WHATSAPP_PHONE_NUMBER_ID the sending number's id.",
                "A user who wrote more than 24 hours ago can only get approved template "
                "messages: a reply then fails with CustomerServiceWindowClosed.",
            ],
            "https_needed": not whatsapp_url.startswith("https://"),
            "loopback": is_loopback(request),
        },
        {
            "name": "discord",
            "title": "Discord",
            "configured": not discord_missing,
            "missing": discord_missing,
            "set_with": how,
            "copy": [
                {"label": "Interactions Endpoint URL", "value": discord_url},
                {"label": "Register the slash commands", "value": DISCORD_REGISTER},
            ],
            "notes": [
                "In the Discord developer portal, General Information: the application's ID "
                "(DISCORD_APPLICATION_ID) and Public Key (DISCORD_PUBLIC_KEY), and the "
                "Interactions Endpoint URL below (Discord checks it with a signed PING). "
                "DISCORD_BOT_TOKEN (Bot tab) registers commands and posts outside an "
                "interaction.",
                "Slash commands, buttons, menus and modal submissions reach the bot. Plain "
                "channel messages need Discord's Gateway, a WebSocket a Worker cannot hold "
                "open: they do not reach it.",
            ],
            "https_needed": not discord_url.startswith("https://"),
            "loopback": is_loopback(request),
        },
    ]


async def state_check(state: StateAdapter, backend: str) -> dict[str, Any]:
    """Write, then read back, a short-lived probe value: the same path every handler's
    writes take."""
    now = state.clock()
    try:
        batch = state.batch()
        batch.set(PROBE_KEY, now, PROBE_TTL_MS)
        read = batch.get(PROBE_KEY)
        await batch.run()
        writable = read.value == now
        detail = "a probe value was written and read back"
    except Exception as error:
        writable, detail = False, f"{type(error).__name__}: {error}"
    return {"backend": backend, "writable": writable, "detail": detail}
