"""Building a bot from its configuration: the same wiring on Cloudflare and locally."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chatstate.chat.runtime import Chat, KeepAlive
from chatstate.chat.schedule import Wakeups
from chatstate.chat.work_index import WorkIndex
from chatstate.config import BotConfig
from chatstate.conversations.agents import Agents
from chatstate.conversations.chat_completions import chat_completions_responder
from chatstate.conversations.chat_turns import ChatTurns
from chatstate.conversations.responder import Responder, default_responder
from chatstate.conversations.thread_replies import thread_responder
from chatstate.http.client import HttpBoth, HttpStreamer
from chatstate.platforms.base import Platform
from chatstate.platforms.discord import DiscordPlatform, Ed25519
from chatstate.platforms.github import GitHubPlatform
from chatstate.platforms.github_app import GitHubAppAuth, RsaSigner
from chatstate.platforms.slack import SlackPlatform
from chatstate.platforms.telegram import TelegramPlatform
from chatstate.platforms.web import WebPlatform
from chatstate.platforms.whatsapp import WhatsAppPlatform
from chatstate.routes.api.conversation_routes import ConversationApi
from chatstate.routes.console.index import ConsoleIndex
from chatstate.state.adapter import StateAdapter


def build_platforms(
    config: BotConfig,
    http: HttpBoth,
    ed25519: Ed25519 | None = None,
    rsa: RsaSigner | None = None,
) -> list[Platform]:
    """The configured platforms. `ed25519` checks Discord's signatures where webhooks are
    verified (the ingress); without it, Discord's platform only sends. `rsa` signs a GitHub
    App's tokens where replies are sent; without it, a GitHub App cannot reply."""
    platforms: list[Platform] = []
    if config.telegram_bot_token and config.telegram_webhook_secret:
        platforms.append(
            TelegramPlatform(
                bot_token=config.telegram_bot_token,
                secret_token=config.telegram_webhook_secret,
                http=http,
                api_base=config.telegram_api_base,
            )
        )
    if config.slack_signing_secret and config.slack_bot_token:
        platforms.append(
            SlackPlatform(
                signing_secret=config.slack_signing_secret,
                bot_token=config.slack_bot_token,
                http=http,
                api_base=config.slack_api_base,
            )
        )
    if config.github_webhook_secret and config.github_bot_login:
        app = None
        if config.github_app_id and config.github_app_private_key and rsa is not None:
            app = GitHubAppAuth(config.github_app_id, config.github_app_private_key, rsa)
        platforms.append(
            GitHubPlatform(
                webhook_secret=config.github_webhook_secret,
                token=config.github_token,
                bot_login=config.github_bot_login,
                http=http,
                api_base=config.github_api_base,
                app=app,
            )
        )
    if (
        config.whatsapp_verify_token
        and config.whatsapp_app_secret
        and config.whatsapp_access_token
        and config.whatsapp_phone_number_id
    ):
        platforms.append(
            WhatsAppPlatform(
                verify_token=config.whatsapp_verify_token,
                app_secret=config.whatsapp_app_secret,
                access_token=config.whatsapp_access_token,
                phone_number_id=config.whatsapp_phone_number_id,
                http=http,
                api_base=config.whatsapp_api_base,
            )
        )
    if config.discord_public_key and config.discord_application_id:
        platforms.append(
            DiscordPlatform(
                public_key=config.discord_public_key,
                application_id=config.discord_application_id,
                bot_token=config.discord_bot_token,
                http=http,
                ed25519=ed25519,
                api_base=config.discord_api_base,
            )
        )
    return platforms


BotSetup = Callable[[Chat], None]


@dataclass(frozen=True)
class Bot:
    """A bot's chat runtime and the console's index that observes it (None on Workers KV, and
    while the console is off)."""

    chat: Chat
    console: ConsoleIndex | None


def build_bot(
    config: BotConfig,
    setup: BotSetup,
    *,
    state: StateAdapter,
    work_index: WorkIndex,
    http: HttpBoth,
    keep_alive: KeepAlive | None = None,
    wakeups: Wakeups | None = None,
    model: Responder | None = None,
    ed25519: Ed25519 | None = None,
    rsa: RsaSigner | None = None,
) -> Bot:
    """The bot's Chat with `setup`'s handlers registered, on the configured platforms and the
    console's `web` chat box. `chat.respond` answers with `model` (Workers AI on Cloudflare)
    when given, else with the configured chat-completions server, else with an echo."""
    # Workers KV has no transactions for the console's index (CHAT_STATE=sqlite has). Without
    # an admin token (on Cloudflare until the secret exists) nobody can look, and a quiet
    # chat's note would be a shard call per message for nothing.
    console = (
        ConsoleIndex(state)
        if config.state_backend == "sqlite" and config.admin_token is not None
        else None
    )
    chat = Chat(
        platforms=[*build_platforms(config, http, ed25519, rsa), WebPlatform(state)],
        state=state,
        work_index=work_index,
        concurrency=config.concurrency,
        lock_ttl_ms=config.lock_ttl_ms,
        keep_alive=keep_alive,
        observers=[console] if console is not None else [],
        wakeups=wakeups,
    )
    model = model or configured_model(config, http)
    if model is not None:
        chat.thread_responder = thread_responder(model, state)
    setup(chat)
    return Bot(chat, console)


def configured_model(config: BotConfig, http: HttpStreamer) -> Responder | None:
    """The chat-completions server CHAT_LLM_* names, if any."""
    if not (config.llm_base_url and config.llm_model):
        return None
    return chat_completions_responder(
        http,
        base_url=config.llm_base_url,
        model=config.llm_model,
        api_key=config.llm_api_key,
        cache_ttl_ms=config.llm_cache_ttl_ms,
    )


def build_conversation_api(
    config: BotConfig, bot: Bot, agents: Agents, http: HttpStreamer, model: Responder | None = None
) -> ConversationApi:
    """The conversation API, answered by the bot's responder: the one it registers with
    `@chat.on_agent_message`, else the configured chat-completions server, else the default."""
    fallback: Responder = model or configured_model(config, http) or default_responder
    turns = ChatTurns(agents, lambda: bot.chat.agent_responder or fallback)
    unsupported = None
    if config.state_backend == "kv":
        unsupported = (
            "agents need transactions Workers KV does not have: run the conversations API "
            "with CHAT_STATE=sqlite (Durable Objects on Cloudflare)"
        )
    return ConversationApi(
        agents, turns, config.api_token, unsupported=unsupported, console=bot.console
    )
