"""The Worker's entry point: the classes wrangler.jsonc names."""

from chatstate.cloudflare.ingress import IngressWorker as Default
from chatstate.cloudflare.messenger import ChatMessenger
from state_agent import ChatSdkStateAgent

__all__ = ["ChatMessenger", "ChatSdkStateAgent", "Default"]
