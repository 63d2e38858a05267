"""`python -m chatstate telegram set-commands`: the bot's `on_command`s, pushed to Telegram's
command menu (setMyCommands), with their descriptions."""

from __future__ import annotations

from typing import Any

from chatstate.chat.runtime import Chat
from chatstate.chat.work_index import ShardWorkIndex
from chatstate.compose import BotSetup
from chatstate.config import BotConfig
from chatstate.http.client import HttpClient
from chatstate.platforms.base import call_json_api
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
