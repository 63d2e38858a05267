"""The example bot, run by both runtimes: `setup(chat)` registers its handlers.

Mention it (or DM it) and it subscribes to the thread; then it answers every message there,
says how many messages each answer stands for, and counts them in the thread's state.
`/start` anywhere offers a button; an edited message gets an answer of its own.
"""

from __future__ import annotations

from chatstate.chat.events import Action, Button, Message
from chatstate.chat.runtime import Chat, Context
from chatstate.chat.thread import Thread


def setup(chat: Chat) -> None:
    @chat.on_mention
    async def greet(thread: Thread, message: Message, context: Context) -> None:
        await thread.subscribe()
        await thread.set_state({"seen": context.total_since_last_handler})
        await thread.post(
            f"hi {message.author.name}! I'm listening here. "
            f"({context.total_since_last_handler} message(s)) You said: {message.text}"
        )

    @chat.on_subscribed_message
    async def follow(thread: Thread, message: Message, context: Context) -> None:
        state = await thread.state() or {}
        seen = int(state.get("seen", 0)) + context.total_since_last_handler
        await thread.set_state({"seen": seen})
        await thread.post(
            f"got {context.total_since_last_handler} message(s), latest: {message.text} "
            f"({seen} in this thread)"
        )

    @chat.on_message(r"^/start\b")
    async def start(thread: Thread, message: Message) -> None:
        await thread.post("Welcome! Press the button.", buttons=[Button("ping", "Ping")])

    @chat.on_edited_message  # edits reach only this handler, never the ones above
    async def edited(thread: Thread, message: Message) -> None:
        await thread.post(f"you edited a message to: {message.text}")

    @chat.on_action("ping")
    async def pong(thread: Thread, action: Action) -> None:
        await thread.post(f"pong for {action.user.name}")
