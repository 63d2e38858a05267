"""Discord interactions: Ed25519-signed webhooks, slash commands, components, modal submits.

Discord posts interactions to the bot's Interactions Endpoint URL and wants an answer within 3
seconds. Handlers run after the interaction is recorded durably, so every interaction is
answered at once with a deferral (type 5 for a command, "thinking..."; type 6 for a component
or a modal submit), and the handler's replies go through the interaction's webhook: the first
completes the deferred response, later ones are follow-ups, for the 15 minutes Discord keeps an
interaction token. Without an interaction to answer (a scheduled post, a reaction), replies go
to the channel with the bot token (`DISCORD_BOT_TOKEN`).

A thread is a channel, `discord:<channel_id>`; message ids are `<channel_id>:<id>`, so dedupe
keys live with the channel. Plain channel messages reach a bot only through Discord's Gateway,
a WebSocket a Worker cannot hold open: this platform sees interactions only. Modals: Discord
opens one only as the immediate answer to an interaction, which is deferred here, so
`open_modal` raises NotSupported; a modal's submission (from a modal opened elsewhere) reaches
`on_modal_submit` at once, and its user sees "Received." or the handler's field errors.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from chatstate.chat.content import Card, LinkButton, Markdown, Modal, NotSupported, Reply
from chatstate.chat.events import (
    Action,
    Author,
    Button,
    Event,
    Inbound,
    Message,
    ModalSubmission,
)
from chatstate.http.client import HttpRequester
from chatstate.http.messages import HttpRequest, HttpResponse
from chatstate.platforms.base import (
    DEFAULT_RETRY,
    EditingStreamer,
    LockScope,
    RetryPolicy,
    Sleep,
    Streamer,
    StreamTarget,
    WebhookRejected,
    call_rest_api,
    parse_json_object,
    split_text,
)
from chatstate.ports import Clock

DISCORD = "discord"
MAX_SKEW_SECONDS = 300
CONTENT_LIMIT = 2000
MAX_BUTTONS_PER_ROW = 5
MAX_ROWS = 5
CUSTOM_ID_LIMIT = 100
LABEL_LIMIT = 80
MAX_OPTIONS = 25
# Discord keeps an interaction's token valid this long.
TOKEN_LIFETIME_MS = 15 * 60 * 1000
SNOWFLAKE = re.compile(r"\d{1,20}")
PING, COMMAND, COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
# Interaction callback types: pong, a message, a deferred message, a deferred update.
PONG, CHANNEL_MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE = 1, 4, 5, 6
EPHEMERAL = 64  # a message flag: only the interaction's user sees it


class Ed25519(Protocol):
    """Each runtime's Ed25519 check: WebCrypto on Workers, `cryptography` locally."""

    async def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool: ...


@dataclass
class _Interaction:
    """An interaction the bot is answering: where its replies go."""

    token: str
    received_ms: int
    answered: bool = False


class DiscordPlatform:
    name = DISCORD
    lock_scope: LockScope = "thread"
    persist_history = True

    def __init__(
        self,
        *,
        public_key: str,
        application_id: str,
        bot_token: str | None,
        http: HttpRequester,
        ed25519: Ed25519 | None,
        api_base: str = "https://discord.com/api/v10",
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        if not re.fullmatch(r"[0-9a-fA-F]{64}", public_key):
            raise ValueError("a Discord public key is 64 hex digits")
        self._public_key = bytes.fromhex(public_key)
        self.application_id = application_id
        self._bot_token = bot_token
        self._http = http
        self._ed25519 = ed25519
        self._api_base = api_base.rstrip("/")
        self._retry = retry
        self._sleep = sleep
        self._clock = clock
        # The interaction each thread's handler is answering, by thread id (this process's).
        self._answering: dict[str, _Interaction] = {}

    # --- what reaches the bot -----------------------------------------------------------------

    async def verify(self, request: HttpRequest, now_ms: int) -> None:
        signature = request.header("x-signature-ed25519") or ""
        timestamp = request.header("x-signature-timestamp") or ""
        if not signature or not timestamp.isdigit():
            raise WebhookRejected(HttpResponse.text(401, "missing Discord signature headers\n"))
        if abs(now_ms // 1000 - int(timestamp)) > MAX_SKEW_SECONDS:
            raise WebhookRejected(HttpResponse.text(401, "Discord request timestamp is too old\n"))
        if self._ed25519 is None:
            raise WebhookRejected(
                HttpResponse.text(500, "this runtime has no Ed25519 check for Discord\n")
            )
        try:
            raw_signature = bytes.fromhex(signature)
        except ValueError:
            raise WebhookRejected(HttpResponse.text(401, "invalid Discord signature\n")) from None
        signed = timestamp.encode() + request.body
        if not await self._ed25519.verify(self._public_key, signed, raw_signature):
            raise WebhookRejected(HttpResponse.text(401, "invalid Discord signature\n"))

    def parse(self, request: HttpRequest) -> Inbound | HttpResponse:
        payload = parse_json_object(request.body)
        kind = payload.get("type")
        if kind == PING:
            return HttpResponse.json(200, {"type": PONG})
        if kind not in (COMMAND, COMPONENT, MODAL_SUBMIT):
            if kind == AUTOCOMPLETE:
                return HttpResponse.json(200, {"type": 8, "data": {"choices": []}})
            raise _bad("type", "an interaction type (1-5)")
        event = _event(payload)
        if kind == MODAL_SUBMIT:
            # Answered by its handler at once, as a Slack modal's: modal_answer says how it went.
            return Inbound([event], event.id, answered_by_handler=True)
        deferral = DEFERRED_MESSAGE if kind == COMMAND else DEFERRED_UPDATE
        return Inbound(
            [event],
            event.id,
            acknowledgement=json.dumps({"type": deferral}).encode(),
        )

    async def prepare(self, message: Message) -> Message:
        self._remember(message.thread_id, message.raw)
        return message

    async def acknowledge(self, action: Action) -> None:
        # Already acknowledged by the deferral; its replies answer this interaction.
        self._remember(action.thread_id, action.raw)

    def _remember(self, thread_id: str, raw: Any) -> None:
        token = raw.get("token") if isinstance(raw, dict) else None
        if isinstance(token, str) and token:
            self._answering[thread_id] = _Interaction(token, self._clock())

    # --- what the bot says ------------------------------------------------------------------

    async def send(self, thread_id: str, reply: Reply) -> list[Message]:
        channel = _channel_of(thread_id)
        bodies = _bodies(reply)
        sent = []
        for body in bodies:
            interaction = self._interaction(thread_id)
            if interaction is not None and not interaction.answered:
                interaction.answered = True
                answer = await self._call(
                    "PATCH", f"{self._hook(interaction)}/messages/@original", body, "answer"
                )
            elif interaction is not None:
                answer = await self._call(
                    "POST", f"{self._hook(interaction)}?wait=true", body, "follow up"
                )
            else:
                answer = await self._bot_call(
                    "POST", f"/channels/{channel}/messages", body, "create message"
                )
            sent.append(_sent(thread_id, channel, answer, body))
        return sent

    async def edit(self, sent: Message, reply: Reply) -> Message:
        channel, ident = _message_of(sent.id)
        bodies = _bodies(reply)
        if len(bodies) > 1:
            raise ValueError(f"an edit must fit one Discord message ({CONTENT_LIMIT} characters)")
        interaction = self._interaction(sent.thread_id)
        if interaction is not None:
            path = f"{self._hook(interaction)}/messages/{ident}"
            answer = await self._call("PATCH", path, bodies[0], "edit")
        else:
            path = f"/channels/{channel}/messages/{ident}"
            answer = await self._bot_call("PATCH", path, bodies[0], "edit message")
        return _sent(sent.thread_id, channel, answer, bodies[0])

    async def delete(self, sent: Message) -> None:
        channel, ident = _message_of(sent.id)
        interaction = self._interaction(sent.thread_id)
        if interaction is not None:
            await self._call(
                "DELETE", f"{self._hook(interaction)}/messages/{ident}", None, "delete"
            )
        else:
            await self._bot_call(
                "DELETE", f"/channels/{channel}/messages/{ident}", None, "delete message"
            )

    async def react(self, sent: Message, emoji: str, *, add: bool) -> None:
        channel, ident = _message_of(sent.id)
        path = f"/channels/{channel}/messages/{ident}/reactions/{quote(emoji)}/@me"
        await self._bot_call("PUT" if add else "DELETE", path, None, "reaction")

    async def show_typing(self, thread_id: str) -> None:
        return None  # a deferred interaction already shows "thinking..."

    async def send_ephemeral(self, thread_id: str, user_id: str, reply: Reply) -> None:
        interaction = self._interaction(thread_id)
        if interaction is None:
            raise NotSupported("discord shows a message to one person only in an interaction")
        [body] = _bodies(reply)[:1]
        await self._call(
            "POST",
            f"{self._hook(interaction)}?wait=true",
            {**body, "flags": EPHEMERAL},
            "ephemeral",
        )

    async def open_dm(self, user_id: str) -> str:
        if not SNOWFLAKE.fullmatch(user_id):
            raise ValueError(f"a Discord user id is a snowflake of digits, not {user_id!r}")
        answer = await self._bot_call(
            "POST", "/users/@me/channels", {"recipient_id": user_id}, "open dm"
        )
        return f"{DISCORD}:{answer['id']}"

    def streamer(self, thread_id: str, target: StreamTarget) -> Streamer:
        return EditingStreamer(self, thread_id, _split)

    async def open_modal(self, trigger: Event, modal: Modal, metadata: dict[str, str]) -> None:
        raise NotSupported(
            "discord opens a modal only as the immediate answer to an interaction, and "
            "chatstate answers every interaction at once with a deferral"
        )

    def modal_answer(self, errors: dict[str, str] | None) -> HttpResponse:
        """Discord shows no errors under a modal's fields: the submitter alone sees them, or
        that the form was received, in a message (type 4, ephemeral)."""
        if errors:
            content = "\n".join(f"{field}: {error}" for field, error in errors.items())
        else:
            content = "Received."
        data = {"content": content[:CONTENT_LIMIT], "flags": EPHEMERAL}
        return HttpResponse.json(200, {"type": CHANNEL_MESSAGE, "data": data})

    def _interaction(self, thread_id: str) -> _Interaction | None:
        interaction = self._answering.get(thread_id)
        # A minute's margin: a reply must reach Discord before the token lapses.
        lapsed = TOKEN_LIFETIME_MS - 60_000
        if interaction is None or self._clock() - interaction.received_ms > lapsed:
            return None
        return interaction

    def _hook(self, interaction: _Interaction) -> str:
        return f"/webhooks/{self.application_id}/{interaction.token}"

    async def _call(self, verb: str, path: str, payload: dict[str, Any] | None, what: str) -> Any:
        # The interaction webhook needs no authorization: its token is in the path.
        token = path.split("/")[3] if path.startswith("/webhooks/") else ""
        return await call_rest_api(
            self._http,
            verb,
            f"{self._api_base}{path}",
            payload,
            {"user-agent": "DiscordBot (https://github.com/chatstate, 0.2)"},
            platform=self.name,
            method=what,
            sleep=self._sleep,
            retry=self._retry,
            secret=token,
        )

    async def _bot_call(self, verb: str, path: str, payload: Any, what: str) -> Any:
        if not self._bot_token:
            raise NotSupported(
                f"discord: to {what} outside an interaction the bot needs DISCORD_BOT_TOKEN"
            )
        return await call_rest_api(
            self._http,
            verb,
            f"{self._api_base}{path}",
            payload,
            {
                "authorization": f"Bot {self._bot_token}",
                "user-agent": "DiscordBot (https://github.com/chatstate, 0.2)",
            },
            platform=self.name,
            method=what,
            sleep=self._sleep,
            retry=self._retry,
            secret=self._bot_token,
        )

    async def register_commands(self, commands: list[dict[str, str]]) -> list[dict[str, Any]]:
        """Replace the application's global slash commands with these (name, description)."""
        payload = [
            {"name": c["name"], "description": c["description"][:100] or c["name"], "type": 1}
            for c in commands
        ]
        answer = await self._bot_call(
            "PUT", f"/applications/{self.application_id}/commands", payload, "register commands"
        )
        return answer if isinstance(answer, list) else []


# --- parsing ----------------------------------------------------------------------------------


def _bad(field: str, what: str) -> WebhookRejected:
    return WebhookRejected(HttpResponse.text(400, f"{field} must be {what}\n"))


def _snowflake(payload: dict[str, Any], field: str, where: str = "") -> str:
    value = payload.get(field)
    if not isinstance(value, str) or not SNOWFLAKE.fullmatch(value):
        raise _bad(f"{where}{field}", "a snowflake (a string of digits)")
    return value


def _author(payload: dict[str, Any]) -> Author:
    member = payload.get("member")
    user = member.get("user") if isinstance(member, dict) else payload.get("user")
    if not isinstance(user, dict):
        raise _bad("member.user", "an object (or user, in a DM)")
    user_id = _snowflake(user, "id", "user.")
    name = user.get("username")
    full = user.get("global_name")
    return Author(
        user_id=user_id,
        user_name=name if isinstance(name, str) else "",
        full_name=full if isinstance(full, str) else "",
        is_bot=bool(user.get("bot")),
    )


def _options(options: Any) -> list[str]:
    """A command's arguments in order: subcommand names, then option values."""
    words: list[str] = []
    for option in options if isinstance(options, list) else []:
        if not isinstance(option, dict):
            continue
        if option.get("type") in (1, 2):  # a subcommand (group): its name, then its options
            words += [str(option.get("name", "")), *_options(option.get("options"))]
        elif "value" in option:
            words.append(str(option["value"]))
    return words


def _event(payload: dict[str, Any]) -> Event:
    interaction_id = _snowflake(payload, "id")
    channel = _snowflake(payload, "channel_id")
    token = payload.get("token")
    if not isinstance(token, str) or not re.fullmatch(r"[A-Za-z0-9._-]{1,500}", token):
        raise _bad("token", "an interaction token")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise _bad("data", "an object")
    author = _author(payload)
    thread = f"{DISCORD}:{channel}"
    ident = f"{channel}:{interaction_id}"
    kind = payload["type"]
    # What a reply needs later (the token), without the rest of a large payload.
    raw = {"token": token, "guild_id": payload.get("guild_id")}
    if kind == COMMAND:
        name = data.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[\w-]{1,32}", name):
            raise _bad("data.name", "a command name")
        args = " ".join(_options(data.get("options")))
        return Message(
            id=ident,
            thread_id=thread,
            channel_id=thread,
            platform=DISCORD,
            text=f"/{name} {args}".strip(),
            author=author,
            date_ms=time.time_ns() // 1_000_000,
            is_dm=payload.get("guild_id") is None,
            raw=raw,
            command={"name": name.lower(), "args": args},
        )
    custom_id = data.get("custom_id")
    if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= CUSTOM_ID_LIMIT:
        raise _bad("data.custom_id", f"1 to {CUSTOM_ID_LIMIT} characters")
    if kind == MODAL_SUBMIT:
        values: dict[str, str] = {}
        for row in data.get("components") or []:
            for field in (row.get("components") or []) if isinstance(row, dict) else []:
                if isinstance(field, dict) and isinstance(field.get("custom_id"), str):
                    values[field["custom_id"]] = str(field.get("value") or "")
        return ModalSubmission(
            id=ident,
            thread_id=thread,
            channel_id=thread,
            platform=DISCORD,
            callback_id=custom_id,
            user=author,
            values=values,
            raw=raw,
        )
    action_id, _, value = custom_id.partition(":")
    chosen = data.get("values")
    if isinstance(chosen, list) and chosen and isinstance(chosen[0], str):
        action_id, value = custom_id, chosen[0]  # a select: its id, the option chosen
    message = payload.get("message")
    message_id = message.get("id") if isinstance(message, dict) else None
    return Action(
        id=ident,
        action_id=action_id,
        value=value,
        thread_id=thread,
        channel_id=thread,
        platform=DISCORD,
        user=author,
        message_id=f"{channel}:{message_id}" if isinstance(message_id, str) else None,
        raw=raw,
    )


# --- replies ----------------------------------------------------------------------------------


def _channel_of(thread_id: str) -> str:
    platform, _, channel = thread_id.partition(":")
    if platform != DISCORD or not SNOWFLAKE.fullmatch(channel):
        raise ValueError(f"a Discord thread id is discord:<channel_id>, not {thread_id!r}")
    return channel


def _message_of(message_id: str) -> tuple[str, str]:
    channel, _, ident = message_id.partition(":")
    if not SNOWFLAKE.fullmatch(channel) or not SNOWFLAKE.fullmatch(ident):
        raise ValueError(f"not a Discord message id: {message_id!r}")
    return channel, ident


def _escaped(text: str) -> str:
    return re.sub(r"([\\*_~`|>#\[\]])", r"\\\1", text)


def _custom_id(button: Button) -> str:
    data = f"{button.action_id}:{button.value}" if button.value else button.action_id
    if len(data) > CUSTOM_ID_LIMIT:
        raise ValueError(f"a Discord button's action_id and value fit {CUSTOM_ID_LIMIT} chars")
    return data


def _button_rows(buttons: Any) -> list[dict[str, Any]]:
    made = []
    for button in buttons:
        if isinstance(button, LinkButton):
            made.append(
                {"type": 2, "style": 5, "label": button.label[:LABEL_LIMIT], "url": button.url}
            )
        else:
            made.append(
                {
                    "type": 2,
                    "style": 1,
                    "label": button.label[:LABEL_LIMIT],
                    "custom_id": _custom_id(button),
                }
            )
    rows = [made[i : i + MAX_BUTTONS_PER_ROW] for i in range(0, len(made), MAX_BUTTONS_PER_ROW)]
    if len(rows) > MAX_ROWS:
        raise ValueError(
            f"a Discord message holds at most {MAX_ROWS * MAX_BUTTONS_PER_ROW} buttons"
        )
    return [{"type": 1, "components": row} for row in rows]


def _card(card: Card) -> dict[str, Any]:
    embed: dict[str, Any] = {}
    if card.title:
        embed["title"] = card.title[:256]
    if card.text:
        text = card.text
        embed["description"] = (text.text if isinstance(text, Markdown) else _escaped(text))[:4096]
    if card.fields:
        embed["fields"] = [
            {"name": name[:256], "value": value[:1024] or "-", "inline": True}
            for name, value in card.fields[:25]
        ]
    if card.image_url:
        embed["image"] = {"url": card.image_url}
    components = _button_rows(card.buttons) if card.buttons else []
    if card.select is not None:
        options = list(card.select.options)
        if len(options) > MAX_OPTIONS:
            raise ValueError(f"a Discord select holds at most {MAX_OPTIONS} options")
        components.append(
            {
                "type": 1,
                "components": [
                    {
                        "type": 3,
                        "custom_id": card.select.id[:CUSTOM_ID_LIMIT],
                        "placeholder": card.select.placeholder[:150],
                        "options": [
                            {"label": label[:100], "value": value[:100]} for label, value in options
                        ],
                    }
                ],
            }
        )
    return {"embeds": [embed], "components": components}


def _split(text: str) -> list[str]:
    return split_text(text, CONTENT_LIMIT)


def _bodies(reply: Reply) -> list[dict[str, Any]]:
    if reply.file is not None:
        if reply.file.url is None:
            raise NotSupported("discord: send a file by its URL here, File(name, url=...)")
        return [{"content": reply.file.url}]
    if reply.card is not None:
        return [_card(reply.card)]
    text = reply.text if reply.markdown else _escaped(reply.text)
    if not text.strip():
        raise ValueError("a Discord message needs text")
    parts: list[dict[str, Any]] = [{"content": part} for part in _split(text)]
    if reply.buttons:
        parts[-1]["components"] = _button_rows(reply.buttons)
    for part in parts:
        part["allowed_mentions"] = {"parse": []}  # a bot's text never pings @everyone
    return parts


def _sent(thread_id: str, channel: str, answer: Any, body: dict[str, Any]) -> Message:
    if not isinstance(answer, dict) or not isinstance(answer.get("id"), str):
        raise ValueError(f"discord answered a message without an id: {answer!r}")
    return Message(
        id=f"{channel}:{answer['id']}",
        thread_id=thread_id,
        channel_id=thread_id,
        platform=DISCORD,
        text=str(body.get("content", "")),
        author=Author(user_id="bot", user_name="bot", is_bot=True),
        date_ms=0,
        format="markdown",
        raw=None,
    )
