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
import re
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs

from chatstate.chat.events import Action, Author, Button, Event, Inbound, Message
from chatstate.http.client import HttpClient
from chatstate.http.messages import HttpRequest, HttpResponse
from chatstate.platforms.base import (
    DEFAULT_RETRY,
    LockScope,
    RetryPolicy,
    Sleep,
    WebhookRejected,
    call_json_api,
    loads_json,
    parse_json_object,
)

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
    ) -> None:
        if not signing_secret:
            raise ValueError("Slack webhooks need the app's signing secret")
        self._signing_secret = signing_secret
        self._bot_token = bot_token
        self._http = http
        self._api_base = api_base.rstrip("/")
        self._retry = retry
        self._sleep = sleep

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
        message = _message(event, bot_user_ids)
        if message is None:
            return Inbound()
        delivery = envelope.get("event_id")
        return Inbound([message], str(delivery) if delivery else None)

    async def prepare(self, message: Message) -> Message:
        return message

    async def post(self, thread_id: str, text: str, buttons: list[Button] | None) -> Message:
        _, channel, thread_ts = thread_id.split(":", 2)
        payload: dict[str, Any] = {"channel": channel, "text": text}
        if thread_ts:
            payload["thread_ts"] = thread_ts
        if buttons:
            payload["blocks"] = [
                {"type": "section", "text": {"type": "mrkdwn", "text": text}},
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": b.action_id,
                            "text": {"type": "plain_text", "text": b.label},
                            "value": b.value or b.action_id,
                        }
                        for b in buttons
                    ],
                },
            ]
        answer = await call_json_api(
            self._http,
            f"{self._api_base}/chat.postMessage",
            payload,
            {"authorization": f"Bearer {self._bot_token}"},
            platform=self.name,
            method="chat.postMessage",
            sleep=self._sleep,
            retry=self._retry,
            secret=self._bot_token,
        )
        ts = str(answer.get("ts", ""))
        return Message(
            id=f"{channel}:{ts}",
            thread_id=thread_id,
            channel_id=f"slack:{channel}",
            platform="slack",
            text=text,
            author=Author(user_id=str((answer.get("message") or {}).get("user", "")), is_bot=True),
            date_ms=int(float(ts or 0) * 1000),
            raw=None,
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
    )


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


def _interaction(body: bytes) -> Inbound:
    fields = parse_qs(body.decode(errors="replace"))
    try:
        payload = loads_json(fields["payload"][0])
    except (KeyError, IndexError, ValueError) as error:
        raise WebhookRejected(
            HttpResponse.text(400, "interaction has no JSON payload\n")
        ) from error
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
            value=str(a.get("value", "")),
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
