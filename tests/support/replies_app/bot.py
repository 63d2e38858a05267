"""A bot that says one of each kind of reply, by command: the end-to-end tests' bot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

from chatstate import Action, Button, Chat, Command, Filter, Message, Thread
from chatstate.chat.content import Card, File, LinkButton, Markdown, Modal, Select, TextInput
from chatstate.chat.events import Membership, ModalSubmission, Reaction, Update


async def words(*pieces: str) -> AsyncIterator[str]:
    for piece in pieces:
        yield piece


async def slow_words(*pieces: str) -> AsyncIterator[str]:
    for piece in pieces:
        yield piece
        await asyncio.sleep(0.8)


ORDER_FORM = Modal("order", "New order", inputs=[TextInput("item", "What to order")])

CARD = Card(
    title="Order 42",
    text=Markdown("Ready for **pickup**"),
    fields=[("Total", "12 EUR")],
    buttons=[Button("confirm", "Confirm"), LinkButton("Track", "https://e.com/42")],
    select=Select("rating", [("Good", "good"), ("Bad", "bad")]),
)


def setup(chat: Chat) -> None:
    @chat.on_mention
    async def command(thread: Thread, message: Message) -> None:
        await thread.subscribe()
        words_said = message.text.split()
        name = next((w for w in words_said if w.startswith("/")), "")
        if name == "/md":
            await thread.post(Markdown("**bold** <tag> & `x<y` [docs](https://e.com/?a=1&b=2)"))
        elif name == "/long":
            await thread.post("\n\n".join(f"part {n} " + "word " * 400 for n in range(6)))
        elif name == "/card":
            await thread.post(CARD)
        elif name == "/file":
            await thread.post(File("report.csv", data=b"a,b\n1,2\n", mime="text/csv"))
        elif name == "/stream":
            await thread.post(words("Hello", ", streamed", " world"))
        elif name == "/slowstream":
            await thread.post(slow_words("Slowly", " the", " words", " come", " in"))
        elif name == "/ai":
            await thread.post(chat.respond(thread, message))
        elif name == "/edit":
            sent = await thread.post("first version")
            await sent.edit(Markdown("**second** version"))
            await sent.react("👍")
            await sent.delete()
        elif name == "/typing":
            async with thread.typing():
                await thread.post("typed")
        elif name == "/ephemeral":
            await thread.post_ephemeral(message.author, "only you see this")
        elif name == "/remind":
            await thread.schedule("reminder time", after=timedelta(seconds=3))
            await thread.post("scheduled")
        elif name == "/burst":
            for n in range(3):
                await thread.post(f"burst {n}")
        elif name == "/count":
            count = int((await thread.state() or {}).get("count", 0)) + 1
            await thread.set_state({"count": count})
            await thread.post(f"count {(await thread.state() or {}).get('count')}")
        elif name == "/fail":
            await thread.set_state({"failed": True})
            raise RuntimeError("raised after set_state")
        elif name == "/flushfail":
            await thread.set_state({"flushed": True})
            await thread.flush()
            await thread.set_state({"dropped": True})
            raise RuntimeError("raised after a flush")
        elif name == "/takeover":
            await thread.set_state({"stale": True})
            # Another holder takes the conversation (a Telegram chat) over meanwhile.
            await chat.state.force_release_lock(thread.channel.id)
            successor = await chat.state.acquire_lock(thread.channel.id, 30_000)
            assert successor is not None
            await chat.state.release_lock(successor)
            await thread.post("taken over")
        elif name == "/show":
            state = await thread.state() or {}
            await thread.post(" ".join(f"{k}={state[k]}" for k in sorted(state)) or "empty")

    @chat.on_action("rating")
    async def rated(thread: Thread, action: Action) -> None:
        await thread.post(f"rated {action.value}")

    @chat.on_command("echo", description="Say it back")
    async def echo(thread: Thread, command: Command) -> None:
        await thread.post(f"echo: {command.args}")

    @chat.on_reaction()
    async def reacted(thread: Thread, reaction: Reaction) -> None:
        await thread.post(f"{'added' if reaction.added else 'removed'} {reaction.emoji}")

    @chat.on_bot_added
    async def added(thread: Thread, event: Membership) -> None:
        await thread.subscribe()
        await thread.post("hello, everyone")

    @chat.on_member_joined
    async def joined(thread: Thread, event: Membership) -> None:
        await thread.post(f"welcome {event.user.user_id}")

    @chat.on_message(filters=[Filter(lambda m: bool(m.attachments), "has_files")])
    async def files(thread: Thread, message: Message) -> None:
        for attachment in message.attachments:
            data = await attachment.read(max_bytes=10_000)
            await thread.post(f"read {attachment.name}: {data.decode()}")

    @chat.on_command("order", description="Open the order form")
    async def order(thread: Thread, command: Command) -> None:
        await command.open_modal(ORDER_FORM, context={"via": "command"})

    @chat.on_modal_submit("order")
    async def ordered(thread: Thread, submission: ModalSubmission) -> dict[str, str] | None:
        item = submission.values.get("item", "").strip()
        if not item:
            return {"item": "say what to order"}
        await thread.post(f"ordered {item} (via {submission.context['via']})")
        return None

    @chat.on_update("poll")
    async def poll(thread: Thread, update: Update) -> None:
        await thread.post("a poll!")
