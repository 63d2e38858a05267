"""`python -m chatstate telegram set-commands` and `discord register-commands`: the bot's
`on_command`s, pushed to Telegram's command menu (setMyCommands) or registered as Discord's
global slash commands, with their descriptions."""

from __future__ import annotations

from typing import Any

from chatstate.chat.runtime import Chat
from chatstate.chat.work_index import ShardWorkIndex
from chatstate.compose import BotSetup
from chatstate.config import BotConfig
from chatstate.http.client import HttpApi, HttpClient
from chatstate.platforms.base import call_json_api
from chatstate.platforms.discord import DiscordPlatform
from chatstate.state.adapter import StateAdapter


async def _no_shard(shard: str, operations: list[list[Any]]) -> dict[str, Any]:
    raise RuntimeError("listing commands touches no state")


async def _nothing_pending() -> list[str]:
    return []


def bot_commands(setup: BotSetup) -> list[tuple[str, str]]:
    """(name, description) of every command the bot registers, without running it."""
    chat = Chat(
        platforms=[],
        state=StateAdapter(_no_shard, clock=lambda: 0),
        work_index=ShardWorkIndex(_nothing_pending),
    )
    setup(chat)
    return chat.commands()


async def set_telegram_commands(setup: BotSetup, config: BotConfig, http: HttpClient) -> int:
    """Push the commands; how many. Telegram's descriptions are 1-256 characters."""
    if not config.telegram_bot_token:
        raise ValueError("set TELEGRAM_BOT_TOKEN (and TELEGRAM_WEBHOOK_SECRET) first")
    commands = [
        {"command": name, "description": (description or name)[:256]}
        for name, description in bot_commands(setup)
    ]
    token = config.telegram_bot_token
    await call_json_api(
        http,
        f"{config.telegram_api_base.rstrip('/')}/bot{token}/setMyCommands",
        {"commands": commands},
        {},
        platform="telegram",
        method="setMyCommands",
        secret=token,
    )
    return len(commands)


async def register_discord_commands(setup: BotSetup, config: BotConfig, http: HttpApi) -> int:
    """Replace the application's global slash commands with the bot's; how many. Discord's
    descriptions are 1-100 characters, names lowercase."""
    if not (config.discord_public_key and config.discord_application_id):
        raise ValueError("set DISCORD_PUBLIC_KEY and DISCORD_APPLICATION_ID first")
    if not config.discord_bot_token:
        raise ValueError("registering commands needs DISCORD_BOT_TOKEN (the bot's token)")
    discord = DiscordPlatform(
        public_key=config.discord_public_key,
        application_id=config.discord_application_id,
        bot_token=config.discord_bot_token,
        http=http,
        ed25519=None,
        api_base=config.discord_api_base,
    )
    commands = [
        {"name": name.lower(), "description": (description or name)[:100]}
        for name, description in bot_commands(setup)
    ]
    return len(await discord.register_commands(commands))
