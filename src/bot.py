"""The example bot, run by both runtimes: `setup(chat)` registers its handlers.

Mention it (or DM it, or talk to it in the console's chat box) and it subscribes to the
thread; then it answers every message there: with the configured model, streamed (CHAT_LLM_*
locally, CHAT_AI_MODEL on Cloudflare), or else by saying how many messages each answer stands
for and counting them in the thread's state. `/start` anywhere offers a button; `/slow` works
for a few seconds, holding the thread's lock (the console shows it); `/remind 10s text` posts
the text later; an edited message gets an answer of its own.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

from chatstate import Action, Button, Chat, Context, Message, Thread

SLOW_WORK_S = 4.0
REMIND = re.compile(r"^/remind\s+(\d{1,6})([smhd])\s+(.+)$", re.S)
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


async def command(thread: Thread, message: Message) -> bool:
    """Answer /start and /slow wherever they come; whether the message was one of them."""
    if message.text.startswith("/start"):
        await thread.post("Welcome! Press the button.", buttons=[Button("ping", "Ping")])
        return True
    if message.text.startswith("/slow"):
        # The conversation's lock is held until the handler returns: later messages wait.
        await asyncio.sleep(SLOW_WORK_S)
        await thread.post(f"done: worked {SLOW_WORK_S:g} s while holding this thread's lock")
        return True
    if message.text.startswith("/remind"):
        asked = REMIND.match(message.text)
        if asked is None:
            await thread.post("say /remind 10s text (s, m, h or d)")
            return True
        amount, unit, text = int(asked.group(1)), asked.group(2), asked.group(3)
        try:
            await thread.schedule(f"⏰ {text}", after=timedelta(**{UNITS[unit]: amount}))
        except ValueError as error:
            await thread.post(f"cannot remind you: {error}")
            return True
        await thread.post(f"I'll remind you in {amount}{unit}.")
        return True
    return False


def setup(chat: Chat) -> None:
    @chat.on_mention
    async def greet(thread: Thread, message: Message, context: Context) -> None:
        await thread.subscribe()
        if await command(thread, message):
            return
        await thread.set_state({"seen": context.total_since_last_handler})
        await thread.post(
            f"hi {message.author.name}! I'm listening here. "
            f"({context.total_since_last_handler} message(s)) You said: {message.text}"
        )

    @chat.on_subscribed_message
    async def follow(thread: Thread, message: Message, context: Context) -> None:
        if await command(thread, message):
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

    @chat.on_message(r"^/(start|slow|remind)\b")
    async def start(thread: Thread, message: Message) -> None:
        await command(thread, message)

    @chat.on_edited_message  # edits reach only this handler, never the ones above
    async def edited(thread: Thread, message: Message) -> None:
        await thread.post(f"you edited a message to: {message.text}")

    @chat.on_action("ping")
    async def pong(thread: Thread, action: Action) -> None:
        await thread.post(f"pong for {action.user.name}")
