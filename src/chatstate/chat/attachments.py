"""Files that arrive with a message: `message.attachments`, each readable once in a handler.

    for attachment in message.attachments:
        data = await attachment.read(max_bytes=5_000_000)

`read` refuses a file over `max_bytes` with AttachmentTooLarge, before any byte is fetched when
the platform said its size, and otherwise as soon as more arrives than allowed: nothing half
read is returned. The URLs files are fetched from can hold a bot token: none appears in a log
line or an error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
KINDS = ("photo", "document", "voice", "video", "other")


class AttachmentTooLarge(ValueError):
    pass


class AttachmentError(RuntimeError):
    """A file the platform would not hand over; says which, never from where."""


class _Reader(Protocol):
    name: str

    async def read_attachment(self, attachment: Attachment, max_bytes: int) -> bytes: ...


@dataclass(frozen=True)
class Attachment:
    kind: str
    name: str
    size: int | None
    mime: str
    # The platform's handle for it: a Telegram file_id, a Slack file URL, a console upload key.
    ref: str
    platform: str

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Attachment:
        return cls(**{k: data[k] for k in ("kind", "name", "size", "mime", "ref", "platform")})

    def bound(self, platform: _Reader) -> Attachment:
        """A copy that can read itself through `platform` (done for a handler's message)."""
        copy = Attachment(**self.to_json())
        object.__setattr__(copy, "_reader", platform)
        return copy

    async def read(self, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise ValueError(f"max_bytes is a positive int, not {max_bytes!r}")
        if self.size is not None and self.size > max_bytes:
            raise AttachmentTooLarge(
                f"{self.name} is {self.size} bytes, over max_bytes={max_bytes}"
            )
        reader: _Reader | None = getattr(self, "_reader", None)
        if reader is None:
            raise RuntimeError("read an attachment in the handler its message reached")
        return await reader.read_attachment(self, max_bytes)
