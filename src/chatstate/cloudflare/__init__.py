"""The Cloudflare glue: the classes an app's `src/entry.py` exports to the Workers runtime.

The only package that imports `js`, `pyodide` or `workers`; nothing in it decides behaviour.
"""

from chatstate.cloudflare.ingress import IngressWorker
from chatstate.cloudflare.messenger import BotMessenger
from chatstate.cloudflare.state_agent import ChatSdkStateAgent

__all__ = ["BotMessenger", "ChatSdkStateAgent", "IngressWorker"]
