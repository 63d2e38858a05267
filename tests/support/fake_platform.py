"""A platform for runtime tests: parses plain JSON, records what the bot posts."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from itertools import count
from typing import Any

from chatstate.chat.content import Modal, NotSupported, Reply
from chatstate.chat.events import Action, Author, Event, Inbound, Message
from chatstate.http.messages import HttpRequest, HttpResponse
from chatstate.platforms.base import EditingStreamer, LockScope, Streamer, StreamTarget

_ids = count(1)


class FakePlatform:
    name = "fake"
    lock_scope: LockScope = "thread"
    persist_history = True

    def __init__(self) -> None:
        self.posts: list[tuple[str, str]] = []
        self.acknowledged: list[str] = []

    def verify(self, request: HttpRequest, now_ms: int) -> None:
        return None

    def parse(self, request: HttpRequest) -> Inbound | HttpResponse:
        data = json.loads(request.body)
        return Inbound([message(data["thread"], data["text"], data["id"])], data.get("delivery"))

    async def prepare(self, message: Message) -> Message:
        return message

    async def send(self, thread_id: str, reply: Reply) -> list[Message]:
        self.posts.append((thread_id, reply.text))
        return [message(thread_id, reply.text, f"sent-{next(_ids)}", author="bot")]

    async def acknowledge(self, action: Action) -> None:
        self.acknowledged.append(action.id)

    async def edit(self, sent: Message, reply: Reply) -> Message:
        self.posts.append((sent.thread_id, f"edit {sent.id}: {reply.text}"))
        return dataclasses.replace(sent, text=reply.text)

    async def delete(self, sent: Message) -> None:
        self.posts.append((sent.thread_id, f"delete {sent.id}"))

    async def react(self, sent: Message, emoji: str, *, add: bool) -> None:
        self.posts.append((sent.thread_id, f"{'react' if add else 'unreact'} {emoji}"))

    async def show_typing(self, thread_id: str) -> None:
        self.posts.append((thread_id, "typing"))

    async def send_ephemeral(self, thread_id: str, user_id: str, reply: Reply) -> None:
        raise NotSupported("fake has no ephemeral messages")

    async def open_dm(self, user_id: str) -> str:
        return f"fake:dm-{user_id}:"

    async def open_modal(self, trigger: Event, modal: Modal, metadata: dict[str, str]) -> None:
        raise NotSupported("fake has no modals")

    def modal_answer(self, errors: dict[str, str] | None) -> HttpResponse:
        return HttpResponse.text(200, "ok\n")

    def streamer(self, thread_id: str, target: StreamTarget) -> Streamer:
        return EditingStreamer(self, thread_id, lambda text: [text])


def message(
    thread_id: str, text: str, id: str, *, author: str = "ann", mention: bool = True
) -> Message:
    channel = ":".join(thread_id.split(":")[:2])
    return Message(
        id=f"{channel.split(':')[1]}:{id}",
        thread_id=thread_id,
        channel_id=channel,
        platform="fake",
        text=text,
        author=Author(user_id=author, user_name=author),
        date_ms=0,
        is_mention=mention,
    )


def action(thread_id: str, action_id: str, id: str) -> Action:
    channel = ":".join(thread_id.split(":")[:2])
    return Action(
        id=id,
        action_id=action_id,
        value="",
        thread_id=thread_id,
        channel_id=channel,
        platform="fake",
        user=Author(user_id="ann"),
    )


class ManualSleep:
    """A sleep that returns only when the test releases it: strategy timing without waiting."""

    def __init__(self) -> None:
        self.waiting: list[tuple[float, asyncio.Future[None]]] = []

    async def __call__(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append((seconds, future))
        await future

    async def release(self, seconds: float) -> int:
        """Wake every sleeper of this duration; return how many woke."""
        await asyncio.sleep(0.01)
        woken = [(s, f) for s, f in self.waiting if s == seconds]
        self.waiting = [(s, f) for s, f in self.waiting if s != seconds]
        for _, future in woken:
            future.set_result(None)
        await asyncio.sleep(0.05)
        return len(woken)

    def pending(self, seconds: float) -> int:
        return sum(1 for s, _ in self.waiting if s == seconds)


def as_inbound(event: Message | Action, delivery: str | None = None) -> Inbound:
    return Inbound([event], delivery)


def payload(**fields: Any) -> bytes:
    return json.dumps(fields).encode()
