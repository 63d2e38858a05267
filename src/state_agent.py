"""The Durable Object that holds one shard of this bot's chat state (src/sharding.py says which)."""

from chatstate.cloudflare import ChatSdkStateAgent

__all__ = ["ChatSdkStateAgent"]
