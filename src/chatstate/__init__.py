"""chatstate: chat bots with durable state on Cloudflare Durable Objects, and locally.

What a bot author imports:

    from chatstate import Chat, Context, Message, Thread

    def setup(chat: Chat) -> None:
        @chat.on_mention
        async def hello(thread: Thread, message: Message) -> None:
            await thread.subscribe()
            await thread.post(f"hi {message.author.name}")

The layers below (state, chat, platforms) and the runtimes (chatstate.cloudflare,
chatstate.local) are documented in docs/layout.md.
"""

from typing import TYPE_CHECKING, Any

from chatstate.chat.concurrency import Concurrency
from chatstate.chat.events import Action, Author, Button, Message
from chatstate.chat.filters import Filter, from_users, is_dm, is_mention, text_matches
from chatstate.chat.routing import Command, Context, Router
from chatstate.chat.runtime import Chat
from chatstate.chat.thread import Channel, Thread
from chatstate.errors import LockLostError, ShardCallError, StateNotConnectedError
from chatstate.state.adapter import Lock, QueueEntry, StateAdapter, StateBatch
from chatstate.state.sharding import ShardRouter, default_key_shard, default_thread_shard

if TYPE_CHECKING:
    from chatstate.state.backends.sqlite_files import open_local_state

__version__ = "0.2.0"

__all__ = [
    "Action",
    "Author",
    "Button",
    "Channel",
    "Chat",
    "Command",
    "Concurrency",
    "Context",
    "Filter",
    "Lock",
    "LockLostError",
    "Message",
    "QueueEntry",
    "Router",
    "ShardCallError",
    "ShardRouter",
    "StateAdapter",
    "StateBatch",
    "StateNotConnectedError",
    "Thread",
    "default_key_shard",
    "default_thread_shard",
    "from_users",
    "is_dm",
    "is_mention",
    "open_local_state",
    "text_matches",
]


def __getattr__(name: str) -> Any:
    # Imported on first use: the Worker never opens local SQLite files, so it never pays
    # for (or depends on) the local runtime's modules.
    if name == "open_local_state":
        from chatstate.state.backends.sqlite_files import open_local_state

        return open_local_state
    raise AttributeError(f"module 'chatstate' has no attribute {name!r}")
