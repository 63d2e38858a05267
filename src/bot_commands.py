"""The example bot's commands, in a router of their own: /start, /slow and /remind.

Each is an `on_command` (Telegram's command menu, Slack slash commands, the console's chat
box) and is also understood typed as text in a conversation (`text_command`), for platforms
where a `/word` in a message is just text.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

from chatstate import Button, Command, Message, Router, Thread

SLOW_WORK_S = 4.0
REMIND = re.compile(r"^(\d{1,6})([smhd])\s+(.+)$", re.S)
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


async def start(thread: Thread, command: Command) -> None:
    await thread.post("Welcome! Press the button.", buttons=[Button("ping", "Ping")])


async def slow(thread: Thread, command: Command) -> None:
    # The conversation's lock is held until the handler returns: later messages wait.
    await asyncio.sleep(SLOW_WORK_S)
    await thread.post(f"done: worked {SLOW_WORK_S:g} s while holding this thread's lock")


async def remind(thread: Thread, command: Command) -> None:
    asked = REMIND.match(command.args)
    if asked is None:
        await thread.post("say /remind 10s text (s, m, h or d)")
        return
    amount, unit, text = int(asked.group(1)), asked.group(2), asked.group(3)
    try:
        await thread.schedule(f"⏰ {text}", after=timedelta(**{UNITS[unit]: amount}))
    except ValueError as error:
        await thread.post(f"cannot remind you: {error}")
        return
    await thread.post(f"I'll remind you in {amount}{unit}.")


COMMANDS = {"start": start, "slow": slow, "remind": remind}


async def text_command(thread: Thread, message: Message) -> bool:
    """Run the command a message's text starts with, if it is one; whether it was."""
    word, _, args = message.text.partition(" ")
    handler = COMMANDS.get(word.removeprefix("/").lower()) if word.startswith("/") else None
    if handler is None:
        return False
    await handler(thread, Command(word[1:].lower(), args.strip(), message))
    return True


DESCRIPTIONS = {
    "start": "Offer a button to press",
    "slow": "Work for a few seconds, holding the thread's lock",
    "remind": "Remind me: /remind 10s text (s, m, h or d)",
}


def commands() -> Router:
    """A router of the commands (a new one per bot: a router is included once)."""
    router = Router("commands")
    for name, handler in COMMANDS.items():
        router.on_command(name, description=DESCRIPTIONS[name])(handler)

    @router.on_message(r"^/(start|slow|remind)\b")
    async def typed(thread: Thread, message: Message) -> None:
        await text_command(thread, message)

    return router
