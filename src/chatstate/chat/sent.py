"""A message the bot posted, to edit, delete and react to afterwards."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from chatstate.chat.content import reply_of
from chatstate.chat.events import Message
from chatstate.platforms.base import Platform

Record = Callable[[Message], Awaitable[None]]


class SentMessage:
    """What `thread.post` returns. A text too long for one message went out in several
    (`parts`); edits and reactions apply to the first."""

    def __init__(self, parts: list[Message], platform: Platform, record: Record) -> None:
        self.parts = parts
        self.message = parts[0]
        self._platform = platform
        self._record = record

    @property
    def id(self) -> str:
        return self.message.id

    @property
    def text(self) -> str:
        return self.message.text

    async def edit(self, content: Any, *, buttons: list[Any] | None = None) -> SentMessage:
        """Replace the message's text (a str or Markdown) or card; history keeps the new one."""
        reply = reply_of(content, buttons)
        edited = await self._platform.edit(self.message, reply)
        version = dataclasses.replace(
            self.message,
            text=edited.text,
            format=edited.format,
            card=edited.card,
            buttons=edited.buttons,
            raw=edited.raw or self.message.raw,
        )
        await self._record(version)
        self.message = version
        self.parts = [version, *self.parts[1:]]
        return self

    async def delete(self) -> None:
        for part in self.parts:
            await self._platform.delete(part)
            await self._record(dataclasses.replace(part, deleted=True))

    async def react(self, emoji: str) -> None:
        await self._platform.react(self.message, emoji, add=True)
        await self._set_reactions([*self.message.reactions, emoji])

    async def unreact(self, emoji: str) -> None:
        await self._platform.react(self.message, emoji, add=False)
        await self._set_reactions([r for r in self.message.reactions if r != emoji])

    async def _set_reactions(self, reactions: list[str]) -> None:
        self.message = dataclasses.replace(self.message, reactions=reactions)
        await self._record(self.message)
