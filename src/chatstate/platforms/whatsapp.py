"""WhatsApp Cloud API: the verification handshake, signed deliveries, Graph API replies.

One conversation per user: thread and channel are `whatsapp:<wa_id>` (the user's number as
WhatsApp gives it), so each user's state has a shard of its own. Message ids are
`<wa_id>:<wamid>`, and the dedupe key `dedupe:whatsapp:<wa_id>:<wamid>` lives with the user.
Delivery statuses (sent, delivered, read, failed) are acknowledged and ignored.

WhatsApp lets a business message a user freely only within 24 hours of the user's last message
(the customer service window); outside it only approved templates may be sent, and a reply
raises CustomerServiceWindowClosed, which says so. It has no edits, deletions, modals,
ephemeral messages or typing a bot can drive; those raise NotSupported, and a streamed reply is
sent once, finished.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from typing import Any

from chatstate.chat.attachments import Attachment, AttachmentError
from chatstate.chat.content import Card, File, LinkButton, Markdown, Modal, NotSupported, Reply
from chatstate.chat.events import Action, Author, Button, Event, Inbound, Message, Reaction
from chatstate.chat.markdown import parse, visible
from chatstate.http.client import HttpApi
from chatstate.http.messages import HttpRequest, HttpResponse
from chatstate.platforms.base import (
    DEFAULT_RETRY,
    LockScope,
    PlatformApiError,
    RetryPolicy,
    Sleep,
    StreamTarget,
    WebhookRejected,
    call_rest_api,
    multipart,
    parse_json_object,
    read_file,
    split_text,
)

WHATSAPP = "whatsapp"
TEXT_LIMIT = 4096
BUTTON_TITLE_LIMIT = 20
MAX_BUTTONS = 3
ROW_TITLE_LIMIT = 24
MAX_ROWS = 10
BUTTON_ID_LIMIT = 256
WINDOW_CLOSED = 131047  # the Graph API's "re-engagement message" error
WA_ID = re.compile(r"\d{6,20}")
MEDIA_KINDS = {
    "image": "photo",
    "document": "document",
    "audio": "voice",
    "video": "video",
    "sticker": "other",
}


class CustomerServiceWindowClosed(PlatformApiError):
    """The user last wrote more than 24 hours ago: only a template message may reach them."""


def signature(app_secret: str, body: bytes) -> str:
    """`X-Hub-Signature-256`: HMAC-SHA256 of the raw body with the app's secret."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


class _FinishedStreamer:
    """WhatsApp cannot edit a sent message: a streamed reply goes out once, complete."""

    def __init__(self, platform: WhatsAppPlatform, thread_id: str) -> None:
        self._platform = platform
        self._thread_id = thread_id

    async def update(self, text: str) -> None:
        return None

    async def finish(self, text: str) -> list[Message]:
        return await self._platform.send(self._thread_id, Reply(text))


class WhatsAppPlatform:
    name = WHATSAPP
    lock_scope: LockScope = "thread"
    persist_history = True

    def __init__(
        self,
        *,
        verify_token: str,
        app_secret: str,
        access_token: str,
        phone_number_id: str,
        http: HttpApi,
        api_base: str = "https://graph.facebook.com/v21.0",
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not app_secret:
            raise ValueError("WhatsApp webhooks need the app's secret")
        self._verify_token = verify_token
        self._app_secret = app_secret
        self._token = access_token
        self._phone_number_id = phone_number_id
        self._http = http
        self._api_base = api_base.rstrip("/")
        self._retry = retry
        self._sleep = sleep

    # --- what reaches the bot -----------------------------------------------------------------

    def handshake(self, request: HttpRequest) -> HttpResponse:
        """Meta's `GET` when the webhook is set up: echo hub.challenge if the token matches."""
        query = request.query_params()
        mode, token = query.get("hub.mode"), query.get("hub.verify_token")
        challenge = query.get("hub.challenge")
        if mode != "subscribe" or not challenge:
            return HttpResponse.text(400, "expected hub.mode=subscribe and a hub.challenge\n")
        if token is None or not hmac.compare_digest(token.encode(), self._verify_token.encode()):
            return HttpResponse.text(403, "hub.verify_token does not match WHATSAPP_VERIFY_TOKEN\n")
        return HttpResponse.text(200, challenge)

    def verify(self, request: HttpRequest, now_ms: int) -> None:
        given = request.header("x-hub-signature-256") or ""
        if not given:
            raise WebhookRejected(HttpResponse.text(401, "missing X-Hub-Signature-256\n"))
        expected = signature(self._app_secret, request.body)
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise WebhookRejected(HttpResponse.text(401, "invalid WhatsApp signature\n"))

    def parse(self, request: HttpRequest) -> Inbound | HttpResponse:
        payload = parse_json_object(request.body)
        if payload.get("object") != "whatsapp_business_account":
            return Inbound()
        entries = payload.get("entry")
        if not isinstance(entries, list):
            raise _bad("entry", "a list")
        events: list[Event] = []
        for entry in entries:
            changes = entry.get("changes") if isinstance(entry, dict) else None
            if not isinstance(changes, list):
                raise _bad("entry[].changes", "a list")
            for change in changes:
                value = change.get("value") if isinstance(change, dict) else None
                if not isinstance(value, dict):
                    raise _bad("entry[].changes[].value", "an object")
                events += _events(value)
        return Inbound(events, events[0].id if events else None)

    async def prepare(self, message: Message) -> Message:
        return message

    async def acknowledge(self, action: Action) -> None:
        return None  # a button reply is an ordinary message: nothing waits for an answer

    async def read_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        """The media's URL from the Graph API, then its bytes, both with the access token."""
        media = await self._call("GET", f"/{attachment.ref}", None, "media url")
        url = media.get("url") if isinstance(media, dict) else None
        if not isinstance(url, str):
            raise AttachmentError(f"whatsapp media {attachment.name} has no URL (expired?)")
        headers = {"authorization": f"Bearer {self._token}"}
        return await read_file(self._http, url, headers, attachment, max_bytes)

    # --- what the bot says ------------------------------------------------------------------

    async def send(self, thread_id: str, reply: Reply) -> list[Message]:
        to = _user_of(thread_id)
        sent = []
        for body in await self._bodies(reply):
            answer = await self._send(to, body)
            sent.append(_sent(thread_id, to, answer, body))
        return sent

    async def edit(self, sent: Message, reply: Reply) -> Message:
        raise NotSupported("whatsapp cannot edit a sent message: send a new one")

    async def delete(self, sent: Message) -> None:
        raise NotSupported("whatsapp has no deleting of a business's messages")

    async def react(self, sent: Message, emoji: str, *, add: bool) -> None:
        to, _, wamid = sent.id.partition(":")
        reaction = {"message_id": wamid, "emoji": emoji if add else ""}
        await self._send(_user_of(f"{WHATSAPP}:{to}"), {"type": "reaction", "reaction": reaction})

    async def show_typing(self, thread_id: str) -> None:
        return None  # the Cloud API's typing indicator needs a received message to mark read

    async def send_ephemeral(self, thread_id: str, user_id: str, reply: Reply) -> None:
        raise NotSupported("whatsapp has no messages only one person sees: chats are 1:1")

    async def open_dm(self, user_id: str) -> str:
        if not WA_ID.fullmatch(user_id):
            raise ValueError(f"a WhatsApp user id is their number in digits, not {user_id!r}")
        return f"{WHATSAPP}:{user_id}"

    def streamer(self, thread_id: str, target: StreamTarget) -> _FinishedStreamer:
        return _FinishedStreamer(self, thread_id)

    async def open_modal(self, trigger: Event, modal: Modal, metadata: dict[str, str]) -> None:
        raise NotSupported("whatsapp has no modals")

    def modal_answer(self, errors: dict[str, str] | None) -> HttpResponse:
        raise NotSupported("whatsapp has no modals")

    async def _send(self, to: str, body: dict[str, Any]) -> Any:
        payload = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
        try:
            return await self._call(
                "POST", f"/{self._phone_number_id}/messages", {**payload, **body}, "send"
            )
        except PlatformApiError as error:
            if f"{WINDOW_CLOSED}" in str(error):
                raise CustomerServiceWindowClosed(
                    f"whatsapp: {to} last wrote more than 24 hours ago, so WhatsApp's customer "
                    "service window is closed; only an approved template message can reach "
                    f"them now (Graph API error {WINDOW_CLOSED})"
                ) from None
            raise

    async def _bodies(self, reply: Reply) -> list[dict[str, Any]]:
        if reply.file is not None:
            return [await self._media(reply.file, reply.text)]
        if reply.card is not None:
            return [_card(reply.card)]
        text = reply.text
        if reply.markdown:
            text = _whatsapp_markup(text)
        links = [b for b in reply.buttons if isinstance(b, LinkButton)]
        text = "\n".join([text, *(f"{b.label}: {b.url}" for b in links)]).strip()
        buttons = [b for b in reply.buttons if isinstance(b, Button)]
        if buttons:
            return [_buttons(text, buttons)]
        if not text:
            raise ValueError("a WhatsApp message needs text")
        return [
            {"type": "text", "text": {"body": part, "preview_url": False}} for part in _split(text)
        ]

    async def _media(self, file: File, caption: str) -> dict[str, Any]:
        kind = "image" if file.is_image else "document"
        if file.url is not None:
            media: dict[str, Any] = {"link": file.url}
        else:
            assert file.data is not None
            fields = {"messaging_product": "whatsapp", "type": file.mime}
            form = multipart(fields, "file", file.name, file.mime, file.data)
            answer = await self._call(
                "POST", f"/{self._phone_number_id}/media", None, "upload media", form=form
            )
            if not isinstance(answer, dict) or "id" not in answer:
                raise PlatformApiError(f"whatsapp answered an upload without an id: {answer!r}")
            media = {"id": str(answer["id"])}
        if kind == "document":
            media["filename"] = file.name
        if caption:
            media["caption"] = caption[:1024]
        return {"type": kind, kind: media}

    async def _call(
        self,
        verb: str,
        path: str,
        payload: dict[str, Any] | None,
        what: str,
        form: tuple[bytes, str] | None = None,
    ) -> Any:
        return await call_rest_api(
            self._http,
            verb,
            f"{self._api_base}{path}",
            payload,
            {"authorization": f"Bearer {self._token}"},
            platform=self.name,
            method=what,
            sleep=self._sleep,
            retry=self._retry,
            secret=self._token,
            form=form,
        )


# --- parsing ----------------------------------------------------------------------------------


def _bad(field: str, what: str) -> WebhookRejected:
    return WebhookRejected(HttpResponse.text(400, f"{field} must be {what}\n"))


def _string(value: dict[str, Any], field: str, where: str) -> str:
    found = value.get(field)
    if not isinstance(found, str) or not found:
        raise _bad(f"{where}.{field}", "a non-empty string")
    return found


def _events(value: dict[str, Any]) -> list[Event]:
    messages = value.get("messages")
    if messages is None:
        return []  # statuses, or another field: acknowledged and ignored
    if not isinstance(messages, list):
        raise _bad("value.messages", "a list")
    found = value.get("contacts")
    contacts = found if isinstance(found, list) else []
    names = {
        c.get("wa_id"): (c.get("profile") or {}).get("name", "")
        for c in contacts
        if isinstance(c, dict) and isinstance(c.get("profile") or {}, dict)
    }
    events = []
    for message in messages:
        if not isinstance(message, dict):
            raise _bad("value.messages[]", "an object")
        event = _event(message, names)
        if event is not None:
            events.append(event)
    return events


def _event(message: dict[str, Any], names: dict[Any, Any]) -> Event | None:
    sender = _string(message, "from", "message")
    if not WA_ID.fullmatch(sender):
        raise _bad("message.from", "a WhatsApp id (the number in digits)")
    wamid = _string(message, "id", "message")
    if len(wamid) > 200:
        raise _bad("message.id", "at most 200 characters")
    kind = _string(message, "type", "message")
    stamp = message.get("timestamp")
    date_ms = int(stamp) * 1000 if isinstance(stamp, str) and stamp.isdigit() else 0
    name = names.get(sender)
    author = Author(user_id=sender, full_name=name if isinstance(name, str) else "")
    thread = f"{WHATSAPP}:{sender}"
    ident = f"{sender}:{wamid}"
    if kind not in ("reaction", "interactive", "button", "text", *MEDIA_KINDS):
        return None  # locations, contacts, orders, unsupported: nothing a handler reads yet
    body = message.get(kind)
    if not isinstance(body, dict):
        raise _bad(f"message.{kind}", "an object")
    if kind == "reaction":
        target = _string(body, "message_id", "message.reaction")
        emoji = body.get("emoji") or ""
        if not isinstance(emoji, str):
            raise _bad("message.reaction.emoji", "a string")
        return Reaction(
            id=ident,
            thread_id=thread,
            channel_id=thread,
            platform=WHATSAPP,
            user=author,
            emoji=emoji,
            added=bool(emoji),
            message_id=f"{sender}:{target}",
            raw=message,
        )
    if kind in ("interactive", "button"):
        return _reply(message, body, kind, ident, thread, author)
    text = ""
    attachments = []
    if kind == "text":
        text = _string(body, "body", "message.text")
    else:
        media_id = _string(body, "id", f"message.{kind}")
        caption = body.get("caption")
        text = caption if isinstance(caption, str) else ""
        filename = body.get("filename")
        mime = body.get("mime_type")
        attachments.append(
            Attachment(
                kind=MEDIA_KINDS[kind],
                name=filename if isinstance(filename, str) and filename else f"{kind}-{media_id}",
                size=None,
                mime=mime if isinstance(mime, str) else "application/octet-stream",
                ref=media_id,
                platform=WHATSAPP,
            )
        )
    return Message(
        id=ident,
        thread_id=thread,
        channel_id=thread,
        platform=WHATSAPP,
        text=text,
        author=author,
        date_ms=date_ms,
        is_dm=True,
        raw=message,
        attachments=attachments,
    )


def _reply(
    message: dict[str, Any],
    body: dict[str, Any],
    kind: str,
    ident: str,
    thread: str,
    author: Author,
) -> Action | None:
    if kind == "button":  # a template's quick reply
        data = _string(body, "payload", "message.button")
    else:
        chosen = body.get(str(body.get("type")))
        if body.get("type") not in ("button_reply", "list_reply") or not isinstance(chosen, dict):
            return None
        data = _string(chosen, "id", f"message.interactive.{body['type']}")
    action_id, _, value = data.partition(":")
    context = message.get("context")
    replied_to = context.get("id") if isinstance(context, dict) else None
    return Action(
        id=ident,
        action_id=action_id,
        value=value,
        thread_id=thread,
        channel_id=thread,
        platform=WHATSAPP,
        user=author,
        message_id=f"{author.user_id}:{replied_to}" if isinstance(replied_to, str) else None,
        raw=message,
    )


# --- replies ----------------------------------------------------------------------------------


def _user_of(thread_id: str) -> str:
    platform, _, user = thread_id.partition(":")
    if platform != WHATSAPP or not WA_ID.fullmatch(user):
        raise ValueError(f"a WhatsApp thread id is whatsapp:<number>, not {thread_id!r}")
    return user


def _whatsapp_markup(text: str) -> str:
    """Markdown as WhatsApp writes it: *bold*, _italic_, ~strike~, `code`, ```blocks```."""
    converted = re.sub(r"\*\*(.+?)\*\*", r"*\1*", text)
    converted = re.sub(r"(?<![*\w])\*(?!\*)(.+?)(?<!\*)\*(?![*\w])", r"_\1_", converted)
    converted = re.sub(r"~~(.+?)~~", r"~\1~", converted)
    converted = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"\1 (\2)", converted)
    return converted


def _button_id(button: Button) -> str:
    data = f"{button.action_id}:{button.value}" if button.value else button.action_id
    if len(data) > BUTTON_ID_LIMIT:
        raise ValueError(f"a WhatsApp button's action_id and value fit {BUTTON_ID_LIMIT} chars")
    return data


def _buttons(text: str, buttons: list[Button]) -> dict[str, Any]:
    if len(buttons) > MAX_BUTTONS:
        raise ValueError(
            f"WhatsApp shows at most {MAX_BUTTONS} reply buttons on a message, not {len(buttons)}"
        )
    if not text:
        raise ValueError("a WhatsApp message with buttons needs text")
    return {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": text[:1024]},
            "action": {
                "buttons": [
                    {
                        "type": "reply",
                        "reply": {"id": _button_id(b), "title": b.label[:BUTTON_TITLE_LIMIT]},
                    }
                    for b in buttons
                ]
            },
        },
    }


def _card(card: Card) -> dict[str, Any]:
    lines = [f"*{card.title}*"] if card.title else []
    if card.text:
        text = card.text
        lines.append(_whatsapp_markup(text.text) if isinstance(text, Markdown) else text)
    lines += [f"*{label}*: {value}" for label, value in card.fields]
    links = [b for b in card.buttons if isinstance(b, LinkButton)]
    lines += [f"{b.label}: {b.url}" for b in links]
    text = "\n".join(lines) or visible(parse(card.title))
    if card.select is not None:
        options = list(card.select.options)
        if len(options) > MAX_ROWS:
            raise ValueError(f"a WhatsApp list holds at most {MAX_ROWS} rows, not {len(options)}")
        rows = [
            {
                "id": _button_id(Button(card.select.id, label, value)),
                "title": label[:ROW_TITLE_LIMIT],
            }
            for label, value in options
        ]
        return {
            "type": "interactive",
            "interactive": {
                "type": "list",
                "body": {"text": text[:4096]},
                "action": {
                    "button": card.select.placeholder[:BUTTON_TITLE_LIMIT],
                    "sections": [{"title": (card.title or "Options")[:24], "rows": rows}],
                },
            },
        }
    buttons = [b for b in card.buttons if isinstance(b, Button)]
    if buttons:
        return _buttons(text, buttons)
    return {"type": "text", "text": {"body": text[:TEXT_LIMIT], "preview_url": False}}


def _split(text: str) -> list[str]:
    return split_text(text, TEXT_LIMIT)


def _sent(thread_id: str, to: str, answer: Any, body: dict[str, Any]) -> Message:
    messages = answer.get("messages") if isinstance(answer, dict) else None
    if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
        raise PlatformApiError(f"whatsapp answered a send without a message id: {answer!r}")
    text = body.get("text", {}).get("body", "") if body.get("type") == "text" else ""
    return Message(
        id=f"{to}:{messages[0]['id']}",
        thread_id=thread_id,
        channel_id=thread_id,
        platform=WHATSAPP,
        text=text,
        author=Author(user_id="bot", user_name="bot", is_bot=True),
        date_ms=0,
        is_dm=True,
        raw=answer,
    )
