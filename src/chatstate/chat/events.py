"""What arrives from a platform: messages and button actions, as plain JSON-able values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chatstate.chat.attachments import Attachment
from chatstate.state.json_values import JsonValue


@dataclass(frozen=True)
class Author:
    user_id: str
    user_name: str = ""
    full_name: str = ""
    is_bot: bool = False

    @property
    def name(self) -> str:
        return self.full_name or self.user_name or self.user_id


@dataclass(frozen=True)
class Message:
    """An inbound or sent message. `id` is unique within its platform."""

    id: str
    thread_id: str
    channel_id: str
    platform: str
    text: str
    author: Author
    date_ms: int
    is_dm: bool = False
    is_mention: bool = False
    # A new version of a message seen before: it goes to on_edited_message handlers only.
    is_edit: bool = False
    raw: JsonValue = None
    # Buttons a sent message offers, as {action_id, label, value}, so a transcript can show them.
    buttons: list[dict[str, str]] = field(default_factory=list)
    # How `text` reads: "text" (literal) or "markdown"; a card or file rides in its own field.
    format: str = "text"
    card: dict[str, Any] | None = None
    file: dict[str, Any] | None = None
    # A later version of a sent message in history: edited in place, or deleted.
    deleted: bool = False
    reactions: list[str] = field(default_factory=list)
    # A command for this bot ({"name", "args"}): a Telegram bot_command, a Slack slash
    # command, a `/word` in the console's chat box; set before handlers are chosen.
    command: dict[str, str] | None = None
    # A command addressed to another bot (`/remind@other_bot`): no handler of ours runs.
    for_another_bot: bool = False
    # Files that came with it: photos, documents, voice, video (chat/attachments.py).
    attachments: list[Attachment] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        # The Chat SDK's serialized shape marker, so stored history reads like the reference's.
        # Shallow: dataclasses.asdict deep-copies `raw`, a cost paid on every message.
        return {
            "_type": "chat:Message",
            **self.__dict__,
            "author": self.author.__dict__.copy(),
            "attachments": [a.to_json() for a in self.attachments],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Message:
        fields = {k: v for k, v in data.items() if k != "_type"}
        attachments = [Attachment.from_json(a) for a in fields.get("attachments") or []]
        return cls(**{**fields, "author": Author(**fields["author"]), "attachments": attachments})


@dataclass(frozen=True)
class Action:
    """A button press. `action_id` selects the handler; `value` is what the button carried."""

    id: str
    action_id: str
    value: str
    thread_id: str
    channel_id: str
    platform: str
    user: Author
    message_id: str | None = None
    raw: JsonValue = None

    def to_json(self) -> dict[str, Any]:
        fields = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        return {"_type": "chat:Action", **fields, "user": self.user.__dict__.copy()}

    async def open_modal(self, modal: Any, context: Any = None) -> None:
        """Open a form in answer to this press (Slack, the console); Telegram has no modals
        (NotSupported). Its submission reaches `@chat.on_modal_submit(modal.callback_id)` with
        `context`, kept in the thread's state for an hour."""
        opener = getattr(self, "_open_modal", None)
        if opener is None:
            raise RuntimeError("open a modal from the handler this press reached")
        await opener(modal, context)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Action:
        fields = {k: v for k, v in data.items() if k != "_type"}
        return cls(**{**fields, "user": Author(**fields["user"])})


@dataclass(frozen=True)
class Reaction:
    """An emoji added to or removed from a message."""

    id: str
    thread_id: str
    channel_id: str
    platform: str
    user: Author
    emoji: str
    added: bool
    message_id: str
    raw: JsonValue = None

    def to_json(self) -> dict[str, Any]:
        return {"_type": "chat:Reaction", **self.__dict__, "user": self.user.__dict__.copy()}


@dataclass(frozen=True)
class Membership:
    """Someone joined a chat (`member_joined`), or the bot was added or removed (`bot_added`,
    `bot_removed`)."""

    id: str
    thread_id: str
    channel_id: str
    platform: str
    kind: str
    user: Author
    raw: JsonValue = None

    def to_json(self) -> dict[str, Any]:
        return {"_type": "chat:Membership", **self.__dict__, "user": self.user.__dict__.copy()}


@dataclass(frozen=True)
class Migration:
    """A Telegram group became a supergroup: its state moves to the new chat id."""

    id: str
    thread_id: str
    channel_id: str
    platform: str
    to_channel_id: str
    raw: JsonValue = None

    def to_json(self) -> dict[str, Any]:
        return {"_type": "chat:Migration", **self.__dict__}


@dataclass(frozen=True)
class Update:
    """Any other update, raw as the platform sent it, for `@chat.on_update(kind)`: a sticker,
    a poll, a channel rename, an App Home opened..."""

    id: str
    thread_id: str
    channel_id: str
    platform: str
    kind: str
    raw: JsonValue = None

    def to_json(self) -> dict[str, Any]:
        return {"_type": "chat:Update", **self.__dict__}


@dataclass(frozen=True)
class ModalSubmission:
    """A modal's form sent (`closed` False) or dismissed (`closed` True): its values by input
    id, and the context `open_modal` stored with it."""

    id: str
    thread_id: str
    channel_id: str
    platform: str
    callback_id: str
    user: Author
    values: dict[str, str]
    closed: bool = False
    # Where open_modal kept the context (a thread-state key), restored before the handler runs.
    context_key: str = ""
    context: JsonValue = None
    raw: JsonValue = None

    def to_json(self) -> dict[str, Any]:
        return {"_type": "chat:ModalSubmission", **self.__dict__, "user": self.user.__dict__.copy()}


Event = Message | Action | Reaction | Membership | Migration | Update | ModalSubmission


def event_from_json(data: dict[str, Any]) -> Event:
    kind = data.get("_type")
    fields = {k: v for k, v in data.items() if k != "_type"}
    if kind == "chat:Action":
        return Action.from_json(data)
    if kind == "chat:Reaction":
        return Reaction(**{**fields, "user": Author(**fields["user"])})
    if kind == "chat:Membership":
        return Membership(**{**fields, "user": Author(**fields["user"])})
    if kind == "chat:ModalSubmission":
        return ModalSubmission(**{**fields, "user": Author(**fields["user"])})
    if kind == "chat:Migration":
        return Migration(**fields)
    if kind == "chat:Update":
        return Update(**fields)
    return Message.from_json(data)


@dataclass(frozen=True)
class Button:
    action_id: str
    label: str
    value: str = ""

    def to_json(self) -> dict[str, str]:
        return {"action_id": self.action_id, "label": self.label, "value": self.value}


@dataclass(frozen=True)
class Inbound:
    """One verified webhook delivery, parsed: what to record, and how to dedupe it."""

    events: list[Event] = field(default_factory=list)
    # The platform's own delivery id (Telegram update_id, Slack event_id), so a redelivery of
    # the same update is recognised even when it carries no message id.
    delivery_id: str | None = None
    # The body of the 200 that acknowledges it (a Slack slash command's must be empty, or
    # Slack shows it to the user).
    acknowledgement: bytes = b"ok\n"
    # Answered by its handler's result, not after a durable accept (a modal's submission,
    # whose field errors go back in the response).
    answered_by_handler: bool = False


def inbound_to_json(inbound: Inbound) -> dict[str, Any]:
    return {
        "events": [e.to_json() for e in inbound.events],
        "delivery_id": inbound.delivery_id,
        "answered_by_handler": inbound.answered_by_handler,
    }


def inbound_from_json(data: dict[str, Any]) -> Inbound:
    return Inbound(
        [event_from_json(e) for e in data["events"]],
        data.get("delivery_id"),
        answered_by_handler=bool(data.get("answered_by_handler")),
    )
