"""The shard Durable Object of this bot's chat state."""

from chatstate.cloudflare.state_agent import ChatSdkStateAgent

__all__ = ["ChatSdkStateAgent"]
