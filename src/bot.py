"""The example bot, run by both runtimes: `setup(chat)` registers its handlers.

Mention it (or DM it, or talk to it in the console's chat box) and it subscribes to the
thread; then it answers every message there: with the configured model, streamed (CHAT_LLM_*
locally, CHAT_AI_MODEL on Cloudflare), or else by saying how many messages each answer stands
for and counting them in the thread's state. Its commands (bot_commands.py): `/start` offers
a button; `/slow` works for a few seconds, holding the thread's lock (the console shows it);
`/remind 10s text` posts the text later. An edited message gets an answer of its own.
"""

from __future__ import annotations

from bot_commands import commands, text_command
from chatstate import Action, Chat, Context, Message, Router, Thread


def conversation(chat: Chat) -> Router:
    """Mentions, subscribed threads, edits and the button: the bot's conversation."""
    router = Router("conversation")

    @router.on_mention
    async def greet(thread: Thread, message: Message, context: Context) -> None:
        await thread.subscribe()
        if await text_command(thread, message):
            return
        await thread.set_state({"seen": context.total_since_last_handler})
        await thread.post(
            f"hi {message.author.name}! I'm listening here. "
            f"({context.total_since_last_handler} message(s)) You said: {message.text}"
        )

    @router.on_subscribed_message
    async def follow(thread: Thread, message: Message, context: Context) -> None:
        if await text_command(thread, message):
            return
        if chat.has_responder:
            async with thread.typing():
                await thread.post(chat.respond(thread, message))
            return
        state = await thread.state() or {}
        seen = int(state.get("seen", 0)) + context.total_since_last_handler
        await thread.set_state({"seen": seen})
        await thread.post(
            f"got {context.total_since_last_handler} message(s), latest: {message.text} "
            f"({seen} in this thread)"
        )

    @router.on_edited_message  # edits reach only this handler, never the ones above
    async def edited(thread: Thread, message: Message) -> None:
        await thread.post(f"you edited a message to: {message.text}")

    @router.on_action("ping")
    async def pong(thread: Thread, action: Action) -> None:
        await thread.post(f"pong for {action.user.name}")

    return router


def setup(chat: Chat) -> None:
    """Commands first: a /command reaches its handler in any thread, subscribed or not."""
    chat.include_router(commands())
    chat.include_router(conversation(chat))
