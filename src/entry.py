"""The Worker's entry point: the classes wrangler.jsonc names, for this bot."""

import bot
import sharding
from chatstate.cloudflare import BotMessenger, IngressWorker
from state_agent import ChatSdkStateAgent


class Default(IngressWorker):
    """Verifies webhooks, then hands each update to its chat's ChatMessenger."""


class ChatMessenger(BotMessenger):
    """Runs this bot's handlers, with chat state in ChatSdkStateAgent shards."""

    setup = staticmethod(bot.setup)
    router = sharding.ROUTER


__all__ = ["ChatMessenger", "ChatSdkStateAgent", "Default"]
