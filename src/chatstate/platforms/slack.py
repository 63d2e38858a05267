"""Slack: request signatures, Events API and interactivity payloads, Web API calls.

Thread ids follow the reference (section 3.7): `slack:<channel>:<thread_ts or ts>`, and
`slack:<channel>:` for a top-level direct message. Message ids are `<channel>:<ts>` (the
reference uses the bare ts) so the dedupe key `dedupe:slack:<channel>:<ts>` lives in the chat's
shard. Locks and queues are per thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from chatstate.chat.attachments import Attachment, AttachmentError
from chatstate.chat.content import (
    Card,
    File,
    LinkButton,
    Markdown,
    Modal,
    NotSupported,
    Reply,
    Select,
    TextInput,
)
from chatstate.chat.events import (
    Action,
    Author,
    Button,
    Event,
    Inbound,
    Membership,
    Message,
    ModalSubmission,
    Reaction,
    Update,
)
from chatstate.chat.markdown import Block, parse, plain_blocks, slack_mrkdwn, split, visible
from chatstate.http.client import HttpClient
from chatstate.http.messages import HttpRequest, HttpResponse
from chatstate.platforms.base import (
    DEFAULT_RETRY,
    EditingStreamer,
    LockScope,
    PlatformApiError,
    RetryPolicy,
    Sleep,
    Streamer,
    StreamTarget,
    WebhookRejected,
    call_api,
    call_json_api,
    loads_json,
    parse_json_object,
    read_file,
)
from chatstate.platforms.emoji import as_name
from chatstate.platforms.pacing import Pacer, Rate

MAX_SKEW_SECONDS = 300
# Message subtypes that are a person saying something; the rest (edits, joins, bot posts) are not.
HANDLED_SUBTYPES = {None, "file_share", "thread_broadcast"}
# Ids and timestamps become state keys: only Slack's own shapes are accepted.
SLACK_ID = re.compile(r"[A-Z0-9]{1,32}")
SLACK_TS = re.compile(r"\d{1,12}\.\d{1,9}")


def signature(signing_secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


class SlackPlatform:
    name = "slack"
    lock_scope: LockScope = "thread"
    persist_history = False

    def __init__(
        self,
        *,
        signing_secret: str,
        bot_token: str,
        http: HttpClient,
        api_base: str = "https://slack.com/api",
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Sleep = asyncio.sleep,
        pacer: Pacer | None = None,
    ) -> None:
        if not signing_secret:
            raise ValueError("Slack webhooks need the app's signing secret")
        self._signing_secret = signing_secret
        self._bot_token = bot_token
        self._http = http
        self._api_base = api_base.rstrip("/")
        self._retry = retry
        self._sleep = sleep
        self._pacer = pacer or Pacer(lambda: time.monotonic_ns() // 1_000_000, sleep)

    def verify(self, request: HttpRequest, now_ms: int) -> None:
        timestamp = request.header("x-slack-request-timestamp") or ""
        given = request.header("x-slack-signature") or ""
        if not timestamp.isdigit() or not given:
            raise WebhookRejected(HttpResponse.text(401, "missing Slack signature headers\n"))
        if abs(now_ms // 1000 - int(timestamp)) > MAX_SKEW_SECONDS:
            raise WebhookRejected(HttpResponse.text(401, "Slack request timestamp is too old\n"))
        expected = signature(self._signing_secret, timestamp, request.body)
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise WebhookRejected(HttpResponse.text(401, "invalid Slack signature\n"))

    def parse(self, request: HttpRequest) -> Inbound | HttpResponse:
        content_type = request.header("content-type") or ""
        if content_type.startswith("application/x-www-form-urlencoded"):
            fields = parse_qs(request.body.decode(errors="replace"))
            if "command" in fields and "payload" not in fields:
                return _slash_command(fields)
            return _interaction(request.body)
        envelope = parse_json_object(request.body)
        kind = envelope.get("type")
        if kind == "url_verification":
            return HttpResponse.json(200, {"challenge": str(envelope.get("challenge", ""))})
        if kind != "event_callback" or not isinstance(envelope.get("event"), dict):
            return Inbound()
        event = envelope["event"]
        authorizations = envelope.get("authorizations")
        bot_user_ids = {
            a["user_id"]
            for a in (authorizations if isinstance(authorizations, list) else [])
            if isinstance(a, dict) and isinstance(a.get("user_id"), str)
        }
        delivery = str(envelope.get("event_id") or "") or None
        parsed = _event(event, bot_user_ids, delivery or "")
        if parsed is None:
            return Inbound()
        return Inbound([parsed], delivery)

    async def prepare(self, message: Message) -> Message:
        return message

    async def read_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        """A file's url_private, with the bot token: only ever sent to Slack's own hosts."""
        host = urlsplit(attachment.ref)
        own = urlsplit(self._api_base)
        if (host.scheme, host.netloc) not in {
            ("https", "files.slack.com"),
            (own.scheme, own.netloc),
        }:
            raise AttachmentError(f"slack file {attachment.name} is not on files.slack.com")
        return await read_file(
            self._http,
            attachment.ref,
            {"authorization": f"Bearer {self._bot_token}"},
            attachment,
            max_bytes,
        )

    # --- what the bot says ------------------------------------------------------------------

    async def send(self, thread_id: str, reply: Reply) -> list[Message]:
        channel, thread_ts = _channel_and_ts(thread_id)
        where = {"channel": channel, **({"thread_ts": thread_ts} if thread_ts else {})}
        if reply.file is not None:
            return [await self._upload(thread_id, channel, thread_ts, reply.file)]
        sent = []
        for payload in _payloads(reply):
            await self._pacer.wait([(f"channel:{channel}", PER_CHANNEL)])
            answer = await self._call("chat.postMessage", {**where, **payload})
            sent.append(
                _sent_message(thread_id, channel, str(answer.get("ts", "")), payload, answer)
            )
        return sent

    async def edit(self, sent: Message, reply: Reply) -> Message:
        channel, ts = sent.id.split(":", 1)
        if reply.file is not None:
            raise NotSupported("slack cannot turn a message into a file: delete it, post anew")
        payloads = _payloads(reply)
        if len(payloads) > 1:
            raise ValueError(f"an edit must fit one Slack message ({TEXT_LIMIT} characters)")
        payload = {"blocks": [], **payloads[0]}  # no blocks given: the old ones go
        answer = await self._call("chat.update", {"channel": channel, "ts": ts, **payload})
        return _sent_message(sent.thread_id, channel, ts, payload, answer)

    async def delete(self, sent: Message) -> None:
        channel, ts = sent.id.split(":", 1)
        await self._call("chat.delete", {"channel": channel, "ts": ts})

    async def react(self, sent: Message, emoji: str, *, add: bool) -> None:
        channel, ts = sent.id.split(":", 1)
        method = "reactions.add" if add else "reactions.remove"
        await self._call(method, {"channel": channel, "timestamp": ts, "name": as_name(emoji)})

    async def show_typing(self, thread_id: str) -> None:
        # Slack shows a status only in assistant threads (assistant.threads.setStatus), which
        # this adapter does not open; elsewhere there is no typing signal for bots.
        return None

    async def send_ephemeral(self, thread_id: str, user_id: str, reply: Reply) -> None:
        channel, thread_ts = _channel_and_ts(thread_id)
        if reply.file is not None:
            raise NotSupported("slack has no ephemeral files")
        [payload] = _payloads(reply, parts=1)
        where = {
            "channel": channel,
            "user": user_id,
            **({"thread_ts": thread_ts} if thread_ts else {}),
        }
        await self._call("chat.postEphemeral", {**where, **payload})

    async def send_response(self, response_url: str, reply: Reply) -> list[Message]:
        """A slash command's reply where the bot is not a member: through the command's
        response_url, shown in the channel."""
        if not response_url.startswith("https://hooks.slack.com/") and not response_url.startswith(
            self._api_base.rsplit("/api", 1)[0]
        ):
            raise ValueError("a response_url is Slack's own hooks.slack.com URL")
        [payload] = _payloads(reply, parts=1)
        answer = await self._http.post(
            response_url,
            json.dumps({**payload, "response_type": "in_channel"}).encode(),
            {"content-type": "application/json"},
        )
        if answer.status != 200:
            raise PlatformApiError(f"slack response_url answered HTTP {answer.status}")
        return []

    async def open_modal(self, trigger: Event, modal: Modal, metadata: dict[str, str]) -> None:
        """views.open with the trigger of a button press or a slash command (valid 3 s)."""
        if isinstance(trigger, Action):
            trigger_id = trigger.id.split(":", 1)[0]
        else:
            raw = trigger.raw if isinstance(trigger.raw, dict) else {}
            trigger_id = str(raw.get("trigger_id") or "")
        if not trigger_id:
            raise NotSupported("slack opens a modal only for a button press or a slash command")
        if len(modal.title) > MODAL_TITLE_LIMIT:
            raise ValueError(f"a Slack modal's title is at most {MODAL_TITLE_LIMIT} characters")
        view = {
            "type": "modal",
            "callback_id": modal.callback_id,
            "title": {"type": "plain_text", "text": modal.title},
            "submit": {"type": "plain_text", "text": modal.submit_label[:MODAL_TITLE_LIMIT]},
            "close": {"type": "plain_text", "text": "Cancel"},
            "notify_on_close": True,
            "private_metadata": json.dumps(metadata),
            "blocks": [_input_block(field) for field in modal.inputs],
        }
        await self._call("views.open", {"trigger_id": trigger_id, "view": view})

    def modal_answer(self, errors: dict[str, str] | None) -> HttpResponse:
        # Errors are shown under their inputs (block ids are the inputs' ids); an empty 200
        # closes the modal.
        if errors:
            return HttpResponse.json(200, {"response_action": "errors", "errors": errors})
        return HttpResponse(200, b"", {"content-type": "text/plain"})

    async def open_dm(self, user_id: str) -> str:
        if not SLACK_ID.fullmatch(user_id):
            raise ValueError(f"a Slack user id looks like U0123ABCD, not {user_id!r}")
        answer = await self._call("conversations.open", {"users": user_id})
        return f"slack:{answer['channel']['id']}:"

    def streamer(self, thread_id: str, target: StreamTarget) -> Streamer:
        channel, thread_ts = _channel_and_ts(thread_id)
        if thread_ts and target.user_id:
            return _NativeStreamer(self, channel, thread_ts, target)
        return EditingStreamer(self, thread_id, _plain_parts)

    async def _call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await call_json_api(
            self._http,
            f"{self._api_base}/{method}",
            payload,
            {"authorization": f"Bearer {self._bot_token}"},
            platform=self.name,
            method=method,
            sleep=self._sleep,
            retry=self._retry,
            secret=self._bot_token,
        )

    async def _upload(
        self, thread_id: str, channel: str, thread_ts: str | None, file: File
    ) -> Message:
        """Slack's external upload: get an upload URL, send the bytes there, complete it."""
        if file.data is None:
            raise NotSupported(
                f"slack uploads need the file's bytes: File({file.name!r}, data=...), not a URL"
            )
        if len(file.data) > FILE_LIMIT_BYTES:
            raise ValueError(
                f"file {file.name!r} is {len(file.data)} bytes; Slack takes at most "
                f"{FILE_LIMIT_BYTES} bytes"
            )
        auth = {"authorization": f"Bearer {self._bot_token}"}
        form = urlencode({"filename": file.name, "length": len(file.data)}).encode()
        ticket = await call_api(
            self._http,
            f"{self._api_base}/files.getUploadURLExternal",
            form,
            {"content-type": "application/x-www-form-urlencoded", **auth},
            platform=self.name,
            method="files.getUploadURLExternal",
            sleep=self._sleep,
            retry=self._retry,
            secret=self._bot_token,
        )
        uploaded = await self._http.post(
            str(ticket["upload_url"]), file.data, {"content-type": file.mime}
        )
        if uploaded.status != 200:
            raise PlatformApiError(f"slack file upload failed with HTTP {uploaded.status}")
        complete: dict[str, Any] = {
            "files": [{"id": ticket["file_id"], "title": file.name}],
            "channel_id": channel,
        }
        if thread_ts:
            complete["thread_ts"] = thread_ts
        await self._pacer.wait([(f"channel:{channel}", PER_CHANNEL)])
        await self._call("files.completeUploadExternal", complete)
        return Message(
            id=f"{channel}:file:{ticket['file_id']}",
            thread_id=thread_id,
            channel_id=f"slack:{channel}",
            platform="slack",
            text=file.name,
            author=Author(user_id="", is_bot=True),
            date_ms=0,
            file={"name": file.name, "mime": file.mime, "size": len(file.data)},
        )

    async def acknowledge(self, action: Action) -> None:
        # Slack needs nothing beyond the 200 the webhook already got.
        return None


def _checked_ids(channel: Any, ts: Any, thread_ts: Any) -> tuple[str, str, str | None]:
    """A channel id and timestamps as Slack writes them; they become keys, so nothing else."""
    if not isinstance(channel, str) or not SLACK_ID.fullmatch(channel):
        raise WebhookRejected(HttpResponse.text(400, "channel must be a Slack channel id\n"))
    for field, value in (("ts", ts), ("thread_ts", thread_ts)):
        if value is not None and not (isinstance(value, str) and SLACK_TS.fullmatch(value)):
            raise WebhookRejected(HttpResponse.text(400, f"{field} must be a Slack timestamp\n"))
    return channel, ts, thread_ts


def _thread_id(channel: str, ts: str, thread_ts: str | None) -> str:
    if channel.startswith("D") and not thread_ts:
        return f"slack:{channel}:"
    return f"slack:{channel}:{thread_ts or ts}"


def _message(event: dict[str, Any], bot_user_ids: set[Any]) -> Message | None:
    if event.get("type") not in ("message", "app_mention"):
        return None
    if event.get("subtype") == "message_changed":
        return _edit(event, bot_user_ids)
    subtype = event.get("subtype")
    if not (subtype is None or isinstance(subtype, str)) or subtype not in HANDLED_SUBTYPES:
        return None
    user = event.get("user")
    if event.get("bot_id") or not isinstance(user, str):
        return None
    channel, ts, thread_ts = _checked_ids(
        event.get("channel"), event.get("ts"), event.get("thread_ts")
    )
    if ts is None:
        raise WebhookRejected(HttpResponse.text(400, "ts must be a Slack timestamp\n"))
    if user in bot_user_ids:
        return None  # the bot's own message: answering it would loop
    text = event.get("text") or ""
    if not isinstance(text, str):
        raise WebhookRejected(HttpResponse.text(400, "text must be a string\n"))
    mentioned = event.get("type") == "app_mention" or any(
        f"<@{b}>" in text for b in bot_user_ids if b
    )
    return Message(
        id=f"{channel}:{ts}",
        thread_id=_thread_id(channel, ts, thread_ts),
        channel_id=f"slack:{channel}",
        platform="slack",
        text=text,
        author=Author(user_id=user),
        date_ms=int(float(ts) * 1000),
        is_dm=channel.startswith("D"),
        is_mention=mentioned,
        raw=event,
        attachments=_files(event.get("files")),
    )


def _files(files: Any) -> list[Attachment]:
    found = []
    for item in files if isinstance(files, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("url_private"), str):
            continue  # a file the bot cannot see (hidden by a retention policy, say)
        mime = str(item.get("mimetype") or "application/octet-stream")
        kind = (
            "photo"
            if mime.startswith("image/")
            else "video"
            if mime.startswith("video/")
            else "voice"
            if mime.startswith("audio/")
            else "document"
        )
        size = item.get("size")
        found.append(
            Attachment(
                kind=kind,
                name=str(item.get("name") or "file"),
                size=size if isinstance(size, int) and not isinstance(size, bool) else None,
                mime=mime,
                ref=item["url_private"],
                platform="slack",
            )
        )
    return found


def _event(event: dict[str, Any], bot_user_ids: set[Any], delivery: str) -> Event | None:
    """A message, a reaction, a membership change, or any other event as an Update; None
    for what is nobody's business (the bot's own messages, unfurls)."""
    kind = event.get("type")
    if kind in ("message", "app_mention"):
        return _message(event, bot_user_ids)
    if kind in ("reaction_added", "reaction_removed"):
        return _reaction(event, kind == "reaction_added", delivery)
    if kind in ("member_joined_channel", "member_left_channel", "channel_left", "group_left"):
        return _membership(event, bot_user_ids, delivery)
    if not isinstance(kind, str) or not kind:
        raise WebhookRejected(HttpResponse.text(400, "event.type must be a string\n"))
    channel = event.get("channel")
    channel_id = channel if isinstance(channel, str) and SLACK_ID.fullmatch(channel) else None
    where = f"slack:{channel_id}" if channel_id else f"slack:{kind}"
    return Update(
        delivery or f"{kind}:{event.get('event_ts', '')}", f"{where}:", where, "slack", kind, event
    )


def _reaction(event: dict[str, Any], added: bool, delivery: str) -> Reaction | None:
    item = event.get("item")
    if not isinstance(item, dict) or item.get("type") != "message":
        return None  # a reaction to a file or a file comment: not to a message
    channel, ts, _ = _checked_ids(item.get("channel"), item.get("ts"), None)
    user, emoji = event.get("user"), event.get("reaction")
    if not isinstance(user, str) or not isinstance(emoji, str) or ts is None:
        raise WebhookRejected(
            HttpResponse.text(400, "a reaction needs user, reaction and item.ts\n")
        )
    return Reaction(
        id=delivery or f"{channel}:{ts}:{emoji}:{user}:{added}",
        thread_id=f"slack:{channel}:{ts}",
        channel_id=f"slack:{channel}",
        platform="slack",
        user=Author(user_id=user),
        emoji=emoji,
        added=added,
        message_id=f"{channel}:{ts}",
        raw=event,
    )


def _membership(event: dict[str, Any], bot_user_ids: set[Any], delivery: str) -> Membership | None:
    channel, _, _ = _checked_ids(event.get("channel"), None, None)
    user = event.get("user")
    if event.get("type") in ("channel_left", "group_left"):
        kind, user = "bot_removed", next(iter(bot_user_ids), "")
    elif event.get("type") == "member_left_channel":
        if user not in bot_user_ids:
            return None
        kind = "bot_removed"
    else:
        kind = "bot_added" if user in bot_user_ids else "member_joined"
    if not isinstance(user, str):
        raise WebhookRejected(HttpResponse.text(400, "a membership event needs a user\n"))
    return Membership(
        id=delivery or f"{channel}:{kind}:{user}:{event.get('event_ts', '')}",
        thread_id=f"slack:{channel}:",
        channel_id=f"slack:{channel}",
        platform="slack",
        kind=kind,
        user=Author(user_id=user),
        raw=event,
    )


def _slash_command(fields: dict[str, list[str]]) -> Inbound:
    """A slash command's form POST: a message that is a command, answered at once with an
    empty 200 (Slack shows nothing), its handler's replies going to the channel."""

    def field(name: str) -> str:
        return fields.get(name, [""])[0]

    name = field("command").lstrip("/").lower()
    if not re.fullmatch(r"[a-z0-9_-]{1,32}", name):
        raise WebhookRejected(HttpResponse.text(400, "command must be a slash command's name\n"))
    channel, _, _ = _checked_ids(field("channel_id"), None, None)
    user = field("user_id")
    if not SLACK_ID.fullmatch(user):
        raise WebhookRejected(HttpResponse.text(400, "user_id must be a Slack user id\n"))
    trigger = field("trigger_id")[:64]
    if not trigger:
        raise WebhookRejected(HttpResponse.text(400, "trigger_id is required\n"))
    text = field("text")
    message = Message(
        id=f"{channel}:command:{trigger}",
        thread_id=f"slack:{channel}:",
        channel_id=f"slack:{channel}",
        platform="slack",
        text=f"/{name} {text}".strip(),
        author=Author(user_id=user, user_name=field("user_name")),
        date_ms=0,
        is_dm=channel.startswith("D"),
        command={"name": name.replace("-", "_"), "args": text.strip()},
        raw={k: v[0] for k, v in fields.items() if k != "token"},
    )
    return Inbound([message], trigger, acknowledgement=b"")


def _edit(event: dict[str, Any], bot_user_ids: set[Any]) -> Message | None:
    inner = event.get("message")
    # Unfurls also arrive as message_changed; only a person's edit carries "edited".
    if not isinstance(inner, dict) or not isinstance(inner.get("edited"), dict):
        return None
    edited = _message({**inner, "type": "message", "channel": event.get("channel")}, bot_user_ids)
    if edited is None:
        return None
    edit_ts = inner["edited"].get("ts", "")
    return replace(edited, id=f"{edited.id}:edit:{edit_ts}", is_edit=True)


MODAL_TITLE_LIMIT = 24


def _input_block(field: TextInput | Select) -> dict[str, Any]:
    if isinstance(field, Select):
        element: dict[str, Any] = {
            "type": "static_select",
            "action_id": field.id,
            "options": [
                {"text": {"type": "plain_text", "text": label[:OPTION_TEXT_LIMIT]}, "value": value}
                for label, value in field.options
            ],
        }
        return {
            "type": "input",
            "block_id": field.id,
            "label": {"type": "plain_text", "text": field.placeholder[:2000]},
            "element": element,
        }
    element = {"type": "plain_text_input", "action_id": field.id, "multiline": field.multiline}
    if field.placeholder:
        element["placeholder"] = {"type": "plain_text", "text": field.placeholder[:150]}
    return {
        "type": "input",
        "block_id": field.id,
        "label": {"type": "plain_text", "text": field.label[:2000]},
        "optional": field.optional,
        "element": element,
    }


def _submission(payload: dict[str, Any], closed: bool) -> Inbound:
    """view_submission (answered by its handler at once) or view_closed (queued)."""
    view = payload.get("view")
    if not isinstance(view, dict):
        raise WebhookRejected(HttpResponse.text(400, "view must be an object\n"))
    try:
        metadata = loads_json(view.get("private_metadata") or "{}")
    except ValueError:
        metadata = {}
    thread = metadata.get("thread") if isinstance(metadata, dict) else None
    if not isinstance(thread, str) or not thread.startswith("slack:"):
        return Inbound()  # not a modal this bot opened
    channel, _, _ = _checked_ids(thread.split(":")[1], None, None)
    values: dict[str, str] = {}
    blocks = ((view.get("state") or {}).get("values")) or {}
    for block in blocks.values() if isinstance(blocks, dict) else []:
        for action_id, element in block.items() if isinstance(block, dict) else []:
            if isinstance(element, dict):
                chosen = element.get("selected_option") or {}
                value = element.get("value") if "value" in element else chosen.get("value")
                values[str(action_id)] = "" if value is None else str(value)
    user = payload["user"] if isinstance(payload.get("user"), dict) else {}
    view_id = str(view.get("id") or "")[:64]
    event = ModalSubmission(
        id=f"{view_id}:{'closed' if closed else 'submitted'}",
        thread_id=thread,
        channel_id=f"slack:{channel}",
        platform="slack",
        callback_id=str(view.get("callback_id") or ""),
        user=Author(user_id=str(user.get("id", "")), user_name=str(user.get("username", ""))),
        values=values,
        closed=closed,
        context_key=str(metadata.get("key") or ""),
    )
    return Inbound([event], view_id or None, answered_by_handler=not closed)


def _interaction(body: bytes) -> Inbound:
    fields = parse_qs(body.decode(errors="replace"))
    try:
        payload = loads_json(fields["payload"][0])
    except (KeyError, IndexError, ValueError) as error:
        raise WebhookRejected(
            HttpResponse.text(400, "interaction has no JSON payload\n")
        ) from error
    if isinstance(payload, dict) and payload.get("type") in ("view_submission", "view_closed"):
        return _submission(payload, closed=payload["type"] == "view_closed")
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return Inbound()
    channel_field, message, user = (payload.get(f) for f in ("channel", "message", "user"))
    if not isinstance(channel_field, dict) or not isinstance(message, dict):
        return Inbound()
    channel, ts, thread_ts = _checked_ids(
        channel_field.get("id"), message.get("ts"), message.get("thread_ts")
    )
    if ts is None:
        return Inbound()
    user = user if isinstance(user, dict) else {}
    actions = payload.get("actions")
    thread_id = _thread_id(channel, ts, thread_ts)
    trigger = str(payload.get("trigger_id") or "")[:64]
    events: list[Event] = [
        Action(
            id=f"{trigger}:{a.get('action_id', '')}",
            action_id=str(a.get("action_id", "")),
            # A button carries its value; a menu its selected option's.
            value=str(a.get("value") or (a.get("selected_option") or {}).get("value", "")),
            thread_id=thread_id,
            channel_id=f"slack:{channel}",
            platform="slack",
            user=Author(user_id=str(user.get("id", "")), user_name=str(user.get("username", ""))),
            message_id=f"{channel}:{ts}",
            raw=a,
        )
        for a in (actions if isinstance(actions, list) else [])
        if isinstance(a, dict)
    ]
    return Inbound(events, trigger or None)


TEXT_LIMIT = 4000  # Slack truncates longer texts and recommends staying under 4,000
SECTION_LIMIT = 3000
HEADER_LIMIT = 150
MAX_BLOCKS = 50
MAX_FIELDS = 10
FIELD_LIMIT = 2000
MAX_ACTION_ELEMENTS = 25
MAX_OPTIONS = 100
OPTION_TEXT_LIMIT = 75
FILE_LIMIT_BYTES = 1024 * 1024 * 1024
# Slack's documented pace for posting: about one message a second in a channel.
PER_CHANNEL = Rate(1, 1000)


def _channel_and_ts(thread_id: str) -> tuple[str, str | None]:
    platform, channel, thread_ts = thread_id.split(":", 2)
    if platform != "slack" or not SLACK_ID.fullmatch(channel):
        raise ValueError(f"not a Slack thread id: {thread_id!r}")
    return channel, thread_ts or None


def _plain_parts(text: str) -> list[str]:
    if len(text) <= TEXT_LIMIT:
        return [text]
    return [visible(part) for part in split(plain_blocks(text), TEXT_LIMIT)]


def _payloads(reply: Reply, parts: int | None = None) -> list[dict[str, Any]]:
    """chat.postMessage arguments per message: mrkdwn for Markdown, literal text otherwise
    (escaped, with formatting off), Block Kit for buttons and cards."""
    if reply.card is not None:
        return [_card_payload(reply.card)]
    limit = SECTION_LIMIT if reply.buttons else TEXT_LIMIT
    blocks = parse(reply.text) if reply.markdown else plain_blocks(reply.text)
    if not reply.markdown and len(reply.text) <= limit:
        pieces = [_slack_literal(reply.text)]
    else:
        render = slack_mrkdwn if reply.markdown else _literal_blocks
        pieces = [render(part) for part in split(blocks, limit)]
    if parts is not None and len(pieces) > parts:
        raise ValueError(f"this must fit one Slack message ({limit} characters)")
    payloads: list[dict[str, Any]] = [{"text": piece, "mrkdwn": reply.markdown} for piece in pieces]
    if reply.buttons:
        payloads[-1]["blocks"] = [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn" if reply.markdown else "plain_text",
                    "text": pieces[-1] if reply.markdown else _unescape(pieces[-1]),
                },
            },
            {"type": "actions", "elements": _elements(reply.buttons, None)},
        ]
    return payloads


def _slack_literal(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _unescape(text: str) -> str:
    # plain_text objects are not read for markup: they take the text as it is.
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _literal_blocks(blocks: list[Block]) -> str:
    return _slack_literal(visible(blocks))


def _elements(
    buttons: Sequence[Button | LinkButton], select: Select | None
) -> list[dict[str, Any]]:
    elements: list[dict[str, Any]] = []
    for button in buttons:
        element: dict[str, Any] = {
            "type": "button",
            "text": {"type": "plain_text", "text": button.label[:75]},
        }
        if isinstance(button, LinkButton):
            element |= {"url": button.url, "action_id": f"link-{len(elements)}"}
        else:
            element |= {"action_id": button.action_id, "value": button.value or button.action_id}
        elements.append(element)
    if select is not None:
        if len(select.options) > MAX_OPTIONS:
            raise ValueError(f"a Slack select holds at most {MAX_OPTIONS} options")
        elements.append(
            {
                "type": "static_select",
                "action_id": select.id,
                "placeholder": {"type": "plain_text", "text": select.placeholder[:150]},
                "options": [
                    {
                        "text": {"type": "plain_text", "text": label[:OPTION_TEXT_LIMIT]},
                        "value": value,
                    }
                    for label, value in select.options
                ],
            }
        )
    if len(elements) > MAX_ACTION_ELEMENTS:
        raise ValueError(f"Slack shows at most {MAX_ACTION_ELEMENTS} buttons and menus in a row")
    return elements


def _card_payload(card: Card) -> dict[str, Any]:
    """Block Kit: header, section, fields, image, actions; checked against Slack's limits."""
    blocks: list[dict[str, Any]] = []
    if card.title:
        if len(card.title) > HEADER_LIMIT:
            raise ValueError(f"a Slack card's title is at most {HEADER_LIMIT} characters")
        blocks.append({"type": "header", "text": {"type": "plain_text", "text": card.title}})
    markdown = isinstance(card.text, Markdown)
    text = card.text.text if isinstance(card.text, Markdown) else card.text
    if text:
        for part in split(parse(text) if markdown else plain_blocks(text), SECTION_LIMIT):
            rendered = slack_mrkdwn(part) if markdown else _literal_blocks(part)
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": rendered}})
    if card.fields:
        if len(card.fields) > MAX_FIELDS:
            raise ValueError(f"a Slack card shows at most {MAX_FIELDS} fields")
        fields = []
        for label, value in card.fields:
            field = f"*{_slack_literal(label)}*\n{_slack_literal(value)}"
            if len(field) > FIELD_LIMIT:
                raise ValueError(f"a Slack card's field is at most {FIELD_LIMIT} characters")
            fields.append({"type": "mrkdwn", "text": field})
        blocks.append({"type": "section", "fields": fields})
    if card.image_url:
        blocks.append(
            {"type": "image", "image_url": card.image_url, "alt_text": card.title or "image"}
        )
    if card.buttons or card.select:
        blocks.append({"type": "actions", "elements": _elements(card.buttons, card.select)})
    if len(blocks) > MAX_BLOCKS:
        raise ValueError(f"a Slack message holds at most {MAX_BLOCKS} blocks, not {len(blocks)}")
    fallback = " ".join(part for part in (card.title, text) if part) or "card"
    return {"text": _slack_literal(fallback[:TEXT_LIMIT]), "blocks": blocks}


def _sent_message(
    thread_id: str, channel: str, ts: str, payload: dict[str, Any], answer: dict[str, Any]
) -> Message:
    return Message(
        id=f"{channel}:{ts}",
        thread_id=thread_id,
        channel_id=f"slack:{channel}",
        platform="slack",
        text=str(payload.get("text", "")),
        author=Author(user_id=str((answer.get("message") or {}).get("user", "")), is_bot=True),
        date_ms=int(float(ts or 0) * 1000),
    )


class _NativeStreamer:
    """Slack's streaming: chat.startStream, chat.appendStream with what is new, chat.stopStream.
    Streams are replies in a thread, to the user who asked."""

    def __init__(
        self, platform: SlackPlatform, channel: str, thread_ts: str, target: StreamTarget
    ) -> None:
        self._platform = platform
        self._channel = channel
        self._thread_ts = thread_ts
        self._target = target
        self._ts: str | None = None
        self._shown = ""

    async def update(self, text: str) -> None:
        await self._append(text)

    async def finish(self, text: str) -> list[Message]:
        if self._ts is None:
            await self._append(text)
            rest = ""
        else:
            rest = self._new(text)
        assert self._ts is not None
        stop: dict[str, Any] = {"channel": self._channel, "ts": self._ts}
        if rest:
            stop["markdown_text"] = rest  # the last words ride with the stop: one call fewer
        await self._platform._call("chat.stopStream", stop)
        return [
            Message(
                id=f"{self._channel}:{self._ts}",
                thread_id=f"slack:{self._channel}:{self._thread_ts}",
                channel_id=f"slack:{self._channel}",
                platform="slack",
                text=text,
                author=Author(user_id="", is_bot=True),
                date_ms=int(float(self._ts) * 1000),
            )
        ]

    def _new(self, text: str) -> str:
        if not text.startswith(self._shown):
            raise ValueError("a Slack stream only grows: the text so far must not change")
        new = text[len(self._shown) :]
        self._shown = text
        return new

    async def _append(self, text: str) -> None:
        new = self._new(text)
        if self._ts is None:
            start: dict[str, Any] = {
                "channel": self._channel,
                "thread_ts": self._thread_ts,
                "recipient_user_id": self._target.user_id,
                "markdown_text": new,
            }
            if self._target.team_id:
                start["recipient_team_id"] = self._target.team_id
            answer = await self._platform._call("chat.startStream", start)
            self._ts = str(answer["ts"])
        elif new:
            await self._platform._call(
                "chat.appendStream",
                {"channel": self._channel, "ts": self._ts, "markdown_text": new},
            )
        self._shown = text
