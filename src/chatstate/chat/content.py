"""What a handler can post: plain text, Markdown, cards, files, and streams of text.

Every value is checked before any platform call is made: the wrong type is a TypeError, an
empty or malformed one a ValueError naming the problem. Limits that differ per platform (a
card's buttons, a file's size) are checked by the platform, also before any call.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass
from typing import Any

from chatstate.chat.events import Button

MAX_TEXT_CHARS = 100_000
MAX_FILE_NAME_CHARS = 255


class NotSupported(Exception):
    """A platform has no way to do this; the message names the platform and what it lacks."""


@dataclass(frozen=True)
class Markdown:
    """Text in Markdown (**bold**, *italic*, `code`, ```blocks```, ~~strike~~, [links](url),
    `- ` lists, `#` headings), rendered natively on each platform."""

    text: str


@dataclass(frozen=True)
class LinkButton:
    """A button that opens a URL (nothing reaches the bot when pressed)."""

    label: str
    url: str


@dataclass(frozen=True)
class Select:
    """A menu of options; the choice arrives as an Action with `action_id == id` and the
    option's value."""

    id: str
    options: Sequence[tuple[str, str]]
    placeholder: str = "Choose…"


@dataclass(frozen=True)
class Card:
    title: str = ""
    text: str | Markdown = ""
    fields: Sequence[tuple[str, str]] = ()
    image_url: str | None = None
    buttons: Sequence[Button | LinkButton] = ()
    select: Select | None = None


@dataclass(frozen=True)
class File:
    """A file to send: its bytes, or a public URL the platform fetches itself."""

    name: str
    data: bytes | None = None
    url: str | None = None
    mime: str = "application/octet-stream"

    @property
    def size(self) -> int | None:
        return None if self.data is None else len(self.data)

    @property
    def is_image(self) -> bool:
        return self.mime.startswith("image/")


Content = str | Markdown | Card | File
Stream = AsyncIterable[str]


@dataclass(frozen=True)
class Reply:
    """One message a platform sends: text (plain or Markdown) with buttons, a card or a file."""

    text: str = ""
    markdown: bool = False
    buttons: tuple[Button | LinkButton, ...] = ()
    card: Card | None = None
    file: File | None = None


def _check_text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if len(value) > MAX_TEXT_CHARS:
        raise ValueError(f"{what} is over {MAX_TEXT_CHARS} characters")
    return value


def _check_url(url: Any, what: str) -> str:
    _check_text(url, what)
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"{what} must be an http(s) URL, not {url[:60]!r}")
    return str(url)


def _check_buttons(buttons: Sequence[Any]) -> tuple[Button | LinkButton, ...]:
    if isinstance(buttons, str | bytes) or not isinstance(buttons, Sequence):
        raise TypeError("buttons must be a list of Button or LinkButton")
    for button in buttons:
        if isinstance(button, LinkButton):
            _check_text(button.label, "a button's label")
            _check_url(button.url, "a link button's url")
        elif isinstance(button, Button):
            _check_text(button.label, "a button's label")
            _check_text(button.action_id, "a button's action_id")
            if not button.action_id or not button.label:
                raise ValueError("a button needs an action_id and a label")
        else:
            raise TypeError(f"a button is a Button or LinkButton, not {type(button).__name__}")
    return tuple(buttons)


def reply_of(content: Any, buttons: Sequence[Any] | None = None) -> Reply:
    """The one message `content` asks for, checked; TypeError or ValueError before any call."""
    extra = _check_buttons(buttons or [])
    if isinstance(content, str):
        if not content.strip():
            raise ValueError("a message needs some text: this one is empty")
        return Reply(_check_text(content, "a message"), buttons=extra)
    if isinstance(content, Markdown):
        if not _check_text(content.text, "Markdown text").strip():
            raise ValueError("a message needs some text: this Markdown is empty")
        return Reply(content.text, markdown=True, buttons=extra)
    if isinstance(content, Card):
        if extra:
            raise ValueError("a card holds its own buttons: pass them as Card(buttons=...)")
        return Reply(card=_checked_card(content))
    if isinstance(content, File):
        if extra:
            raise ValueError("a file takes no buttons")
        return Reply(file=_checked_file(content))
    raise TypeError(
        "post takes a str, Markdown, Card, File or an async iterable of str, "
        f"not {type(content).__name__}"
    )


def _checked_card(card: Card) -> Card:
    text = card.text.text if isinstance(card.text, Markdown) else card.text
    _check_text(card.title, "a card's title")
    _check_text(text, "a card's text")
    for pair in card.fields:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise TypeError("a card's fields are (label, value) pairs")
        _check_text(pair[0], "a field's label")
        _check_text(pair[1], "a field's value")
    if card.image_url is not None:
        _check_url(card.image_url, "a card's image_url")
    _check_buttons(card.buttons)
    if card.select is not None:
        _check_select(card.select)
    if not (card.title or text or card.fields or card.image_url):
        raise ValueError("a card needs a title, text, fields or an image")
    return card


def _check_select(select: Select) -> None:
    if not isinstance(select, Select):
        raise TypeError(f"select must be a Select, not {type(select).__name__}")
    _check_text(select.id, "a select's id")
    if not select.id:
        raise ValueError("a select needs an id")
    if not select.options:
        raise ValueError(f"select {select.id!r} has no options")
    for pair in select.options:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise TypeError("a select's options are (label, value) pairs")
        _check_text(pair[0], "an option's label")
        _check_text(pair[1], "an option's value")


def _checked_file(file: File) -> File:
    _check_text(file.name, "a file's name")
    if not file.name or len(file.name) > MAX_FILE_NAME_CHARS or "/" in file.name:
        raise ValueError(f"a file name is 1-{MAX_FILE_NAME_CHARS} characters without '/'")
    if (file.data is None) == (file.url is None):
        raise ValueError(f"file {file.name!r} needs either data= or url=, not both or neither")
    if file.data is not None and not isinstance(file.data, bytes):
        raise TypeError(f"a file's data is bytes, not {type(file.data).__name__}")
    if file.data is not None and not file.data:
        raise ValueError(f"file {file.name!r} is empty")
    if file.url is not None:
        _check_url(file.url, "a file's url")
    _check_text(file.mime, "a file's mime type")
    return file


def card_to_json(card: Card) -> dict[str, Any]:
    """A card as history and the console keep it."""
    text = card.text
    return {
        "title": card.title,
        "text": text.text if isinstance(text, Markdown) else text,
        "markdown": isinstance(text, Markdown),
        "fields": [list(pair) for pair in card.fields],
        "image_url": card.image_url,
        "buttons": [
            {"label": b.label, "url": b.url}
            if isinstance(b, LinkButton)
            else {"action_id": b.action_id, "label": b.label, "value": b.value}
            for b in card.buttons
        ],
        "select": None
        if card.select is None
        else {
            "id": card.select.id,
            "placeholder": card.select.placeholder,
            "options": [list(pair) for pair in card.select.options],
        },
    }


def card_from_json(data: dict[str, Any]) -> Card:
    select = data.get("select")
    return Card(
        title=data["title"],
        text=Markdown(data["text"]) if data.get("markdown") else data["text"],
        fields=[(label, value) for label, value in data["fields"]],
        image_url=data.get("image_url"),
        buttons=[
            LinkButton(b["label"], b["url"])
            if "url" in b
            else Button(b["action_id"], b["label"], b.get("value", ""))
            for b in data["buttons"]
        ],
        select=None
        if select is None
        else Select(
            select["id"],
            [(label, value) for label, value in select["options"]],
            select["placeholder"],
        ),
    )


@dataclass(frozen=True)
class TextInput:
    id: str
    label: str
    multiline: bool = False
    placeholder: str = ""
    optional: bool = False


@dataclass(frozen=True)
class Modal:
    """A form opened from a button press or a command: `await action.open_modal(Modal(...))`.
    Its submission reaches `@chat.on_modal_submit(callback_id)`."""

    callback_id: str
    title: str
    inputs: Sequence[TextInput | Select]
    submit_label: str = "Submit"


def check_modal(modal: Modal) -> Modal:
    if not isinstance(modal, Modal):
        raise TypeError(f"open_modal takes a Modal, not {type(modal).__name__}")
    _check_text(modal.callback_id, "a modal's callback_id")
    _check_text(modal.title, "a modal's title")
    if not modal.callback_id or not modal.title:
        raise ValueError("a modal needs a callback_id and a title")
    if not modal.inputs:
        raise ValueError(f"modal {modal.callback_id!r} has no inputs")
    ids = set()
    for field in modal.inputs:
        if isinstance(field, Select):
            _check_select(field)
        elif isinstance(field, TextInput):
            _check_text(field.label, "an input's label")
            if not field.id or not field.label:
                raise ValueError("a text input needs an id and a label")
        else:
            raise TypeError(f"a modal's inputs are TextInput or Select, not {type(field).__name__}")
        if field.id in ids:
            raise ValueError(f"modal {modal.callback_id!r} has two inputs with id {field.id!r}")
        ids.add(field.id)
    return modal


def modal_to_json(modal: Modal) -> dict[str, Any]:
    return {
        "callback_id": modal.callback_id,
        "title": modal.title,
        "submit_label": modal.submit_label,
        "inputs": [
            {
                "type": "select",
                "id": f.id,
                "label": f.placeholder,
                "options": [list(o) for o in f.options],
            }
            if isinstance(f, Select)
            else {
                "type": "text",
                "id": f.id,
                "label": f.label,
                "multiline": f.multiline,
                "placeholder": f.placeholder,
                "optional": f.optional,
            }
            for f in modal.inputs
        ],
    }
