"""Webhook payloads built from the Telegram Bot API and Slack Events API field definitions,
signed as the platforms sign them."""

from __future__ import annotations

import json
import time
import uuid
from itertools import count
from typing import Any
from urllib.parse import urlencode

from chatstate.platforms.github import signature as github_signature
from chatstate.platforms.slack import signature
from chatstate.platforms.whatsapp import signature as whatsapp_signature

_update_ids = count(500_000)
_message_ids = count(1)


def telegram_user(
    user_id: int = 1001, first_name: str = "Ann", username: str = "ann"
) -> dict[str, Any]:
    # User: id, is_bot, first_name, last_name?, username?, language_code?
    return {
        "id": user_id,
        "is_bot": False,
        "first_name": first_name,
        "username": username,
        "language_code": "en",
    }


def telegram_message_update(
    chat_id: int,
    text: str,
    *,
    bot_username: str | None = None,
    topic: int | None = None,
    chat_type: str = "supergroup",
    update_id: int | None = None,
    message_id: int | None = None,
    user: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An Update with a `message` (Message: message_id, from, chat, date, text, entities...)."""
    if bot_username:
        text = f"@{bot_username} {text}"
    message: dict[str, Any] = {
        "message_id": message_id if message_id is not None else next(_message_ids),
        "from": user or telegram_user(),
        "chat": {"id": chat_id, "type": chat_type, "title": "Team"}
        if chat_type != "private"
        else {"id": chat_id, "type": "private", "first_name": "Ann"},
        "date": int(time.time()),
        "text": text,
    }
    if bot_username:
        message["entities"] = [{"type": "mention", "offset": 0, "length": len(bot_username) + 1}]
    if topic is not None:
        message["message_thread_id"] = topic
        message["is_topic_message"] = True
    return {
        "update_id": update_id if update_id is not None else next(_update_ids),
        "message": message,
    }


def telegram_edited_update(original: dict[str, Any], text: str) -> dict[str, Any]:
    """An Update with `edited_message`: the same message_id, new text and an edit_date."""
    message = {**original["message"], "text": text, "edit_date": int(time.time()) + 1}
    message.pop("entities", None)
    return {"update_id": next(_update_ids), "edited_message": message}


def telegram_inline_callback_update(data: str, *, query_id: str) -> dict[str, Any]:
    """A callback_query from a button on an inline-mode message: no `message`, only
    `inline_message_id`."""
    return {
        "update_id": next(_update_ids),
        "callback_query": {
            "id": query_id,
            "from": telegram_user(),
            "inline_message_id": "AgAAAN0hAAB-dxEM4CXLcxI2mIY",
            "chat_instance": "-5843628762374",
            "data": data,
        },
    }


def telegram_callback_update(
    chat_id: int,
    data: str,
    *,
    query_id: str = "4382bfdwdsb323b2d9",
    user: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An Update with a `callback_query` (CallbackQuery: id, from, message, chat_instance, data)."""
    return {
        "update_id": next(_update_ids),
        "callback_query": {
            "id": query_id,
            "from": user or telegram_user(),
            "message": {
                "message_id": next(_message_ids),
                "from": {"id": 42, "is_bot": True, "first_name": "Bot", "username": "my_bot"},
                "chat": {"id": chat_id, "type": "supergroup", "title": "Team"},
                "date": int(time.time()),
                "text": "Welcome! Press the button.",
            },
            "chat_instance": "-5843628762374",
            "data": data,
        },
    }


def slack_event(
    event: dict[str, Any], *, event_id: str | None = None, bot_user_id: str = "UBOT"
) -> dict[str, Any]:
    """An event_callback envelope (token, team_id, api_app_id, event, type, event_id, event_time,
    authorizations)."""
    return {
        "token": "XXYYZZ",
        "team_id": "T123ABC456",
        "api_app_id": "A123ABC456",
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_message_ids):08d}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": "T123ABC456",
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }


def slack_app_mention(
    channel: str,
    text: str,
    *,
    ts: str | None = None,
    thread_ts: str | None = None,
    user: str = "U0ANN",
) -> dict[str, Any]:
    ts = ts or f"{time.time():.6f}"
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": user,
        "text": f"<@UBOT> {text}",
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def slack_message(
    channel: str,
    text: str,
    *,
    ts: str | None = None,
    thread_ts: str | None = None,
    user: str = "U0ANN",
) -> dict[str, Any]:
    """A `message` event (message.channels / message.im): no mention of the bot needed."""
    event = slack_app_mention(channel, text, ts=ts, thread_ts=thread_ts, user=user)
    return {
        **event,
        "type": "message",
        "text": text,
        "channel_type": "im" if channel.startswith("D") else "channel",
    }


def slack_block_actions(
    channel: str,
    message_ts: str,
    action_id: str,
    value: str,
    *,
    user_id: str = "U0ANN",
    username: str = "ann",
    trigger_id: str | None = None,
) -> bytes:
    """An interactivity request's form body: `payload` is a block_actions JSON object."""
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": username, "team_id": "T123ABC456"},
        "api_app_id": "A123ABC456",
        "token": "XXYYZZ",
        "trigger_id": trigger_id or f"{next(_message_ids)}.98765.abcdef",
        "team": {"id": "T123ABC456", "domain": "team"},
        "channel": {"id": channel, "name": "general"},
        "message": {"type": "message", "ts": message_ts, "text": "", "user": "UBOT"},
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "actions",
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def slack_signed_headers(
    signing_secret: str, body: bytes, timestamp: int | None = None, *, form: bool = False
) -> dict[str, str]:
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    return {
        "content-type": "application/x-www-form-urlencoded" if form else "application/json",
        "x-slack-request-timestamp": stamp,
        "x-slack-signature": signature(signing_secret, stamp, body),
    }


def body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def telegram_command_update(
    chat_id: int,
    command: str,
    args: str = "",
    *,
    addressed_to: str | None = None,
    chat_type: str = "supergroup",
    user: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A message that starts with a bot_command entity: `/command[@addressed_to] args`."""
    word = f"/{command}" + (f"@{addressed_to}" if addressed_to else "")
    update = telegram_message_update(
        chat_id, f"{word} {args}".strip(), chat_type=chat_type, user=user
    )
    update["message"]["entities"] = [{"type": "bot_command", "offset": 0, "length": len(word)}]
    return update


def telegram_reaction_update(
    chat_id: int,
    message_id: int,
    *,
    old: list[str],
    new: list[str],
    user: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """message_reaction (MessageReactionUpdated: chat, message_id, user, date, old_reaction,
    new_reaction of ReactionTypeEmoji)."""
    return {
        "update_id": next(_update_ids),
        "message_reaction": {
            "chat": {"id": chat_id, "type": "supergroup", "title": "Team"},
            "message_id": message_id,
            "user": user or telegram_user(),
            "date": int(time.time()),
            "old_reaction": [{"type": "emoji", "emoji": e} for e in old],
            "new_reaction": [{"type": "emoji", "emoji": e} for e in new],
        },
    }


def telegram_member_update(
    chat_id: int,
    field: str,
    *,
    old_status: str,
    new_status: str,
    user: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """my_chat_member (the bot's own status) or chat_member (another member's): a
    ChatMemberUpdated with old_chat_member and new_chat_member."""
    member = user or telegram_user()
    return {
        "update_id": next(_update_ids),
        field: {
            "chat": {"id": chat_id, "type": "supergroup", "title": "Team"},
            "from": telegram_user(),
            "date": int(time.time()),
            "old_chat_member": {"status": old_status, "user": member},
            "new_chat_member": {"status": new_status, "user": member},
        },
    }


def telegram_migration_update(old_chat_id: int, new_chat_id: int) -> dict[str, Any]:
    """The service message in the old group: migrate_to_chat_id names the supergroup."""
    return {
        "update_id": next(_update_ids),
        "message": {
            "message_id": next(_message_ids),
            "from": telegram_user(),
            "chat": {"id": old_chat_id, "type": "group", "title": "Team"},
            "date": int(time.time()),
            "migrate_to_chat_id": new_chat_id,
        },
    }


def slack_slash_command(
    command: str, text: str, channel: str, *, user: str = "U0ANN", trigger_id: str | None = None
) -> bytes:
    """A slash command's form body, with the fields Slack documents."""
    fields = {
        "token": "XXYYZZ",
        "team_id": "T123ABC456",
        "team_domain": "team",
        "channel_id": channel,
        "channel_name": "general",
        "user_id": user,
        "user_name": "ann",
        "command": f"/{command}",
        "text": text,
        "api_app_id": "A123ABC456",
        "response_url": "https://hooks.slack.com/commands/T123ABC456/1/abc",
        "trigger_id": trigger_id or f"{next(_message_ids)}.98765.cmd",
    }
    return urlencode(fields).encode()


def slack_reaction(
    channel: str, ts: str, emoji: str, *, added: bool = True, user: str = "U0ANN"
) -> dict[str, Any]:
    return {
        "type": "reaction_added" if added else "reaction_removed",
        "user": user,
        "reaction": emoji,
        "item_user": "UBOT",
        "item": {"type": "message", "channel": channel, "ts": ts},
        "event_ts": f"{time.time():.6f}",
    }


def slack_member_event(
    channel: str, user: str, kind: str = "member_joined_channel"
) -> dict[str, Any]:
    return {
        "type": kind,
        "user": user,
        "channel": channel,
        "channel_type": "C",
        "team": "T123ABC456",
        "event_ts": f"{time.time():.6f}",
    }


# --- GitHub: webhook payloads in the documented shapes (docs.github.com, "Webhook events and
# payloads"), trimmed to the fields a bot reads ------------------------------------------------


def github_user(
    login: str = "octocat", user_id: int = 583231, kind: str = "User"
) -> dict[str, Any]:
    return {"login": login, "id": user_id, "type": kind, "site_admin": False}


def github_repository(full_name: str = "octo-org/hello-world") -> dict[str, Any]:
    owner, name = full_name.split("/", 1)
    return {
        "id": 1296269,
        "name": name,
        "full_name": full_name,
        "private": False,
        "owner": github_user(owner, 9919, "Organization"),
        "html_url": f"https://github.com/{full_name}",
    }


def github_issue(number: int, title: str = "Found a bug", body: str = "") -> dict[str, Any]:
    return {
        "id": 1000000 + number,
        "number": number,
        "title": title,
        "body": body,
        "state": "open",
        "user": github_user(),
        "labels": [],
        "created_at": "2026-12-01T10:00:00Z",
        "updated_at": "2026-12-01T10:00:00Z",
    }


def github_issue_comment(
    number: int,
    text: str,
    *,
    comment_id: int = 8001,
    repository: str = "octo-org/hello-world",
    author: str = "octocat",
    action: str = "created",
) -> dict[str, Any]:
    """An `issue_comment` delivery: someone commented on an issue (or a pull request)."""
    return {
        "action": action,
        "issue": github_issue(number),
        "comment": {
            "id": comment_id,
            "node_id": f"IC_{comment_id}",
            "user": github_user(author),
            "body": text,
            "created_at": "2026-12-01T10:05:00Z",
            "updated_at": "2026-12-01T10:06:00Z" if action == "edited" else "2026-12-01T10:05:00Z",
            "html_url": f"https://github.com/{repository}/issues/{number}#issuecomment-{comment_id}",
            "author_association": "CONTRIBUTOR",
        },
        "repository": github_repository(repository),
        "sender": github_user(author),
    }


def github_review_comment(
    number: int, text: str, *, comment_id: int = 9001, repository: str = "octo-org/hello-world"
) -> dict[str, Any]:
    """A `pull_request_review_comment` delivery: a comment on a line of a pull request's diff."""
    return {
        "action": "created",
        "pull_request": {**github_issue(number, "Add a feature"), "head": {"ref": "feature"}},
        "comment": {
            "id": comment_id,
            "user": github_user(),
            "body": text,
            "path": "README.md",
            "line": 3,
            "created_at": "2026-12-01T11:00:00Z",
            "updated_at": "2026-12-01T11:00:00Z",
        },
        "repository": github_repository(repository),
        "sender": github_user(),
    }


def github_issue_event(
    number: int,
    action: str = "opened",
    *,
    title: str = "Found a bug",
    text: str = "",
    repository: str = "octo-org/hello-world",
    kind: str = "issues",
) -> dict[str, Any]:
    """An `issues` (or, with kind="pull_request", a `pull_request`) delivery."""
    return {
        "action": action,
        kind if kind == "pull_request" else "issue": github_issue(number, title, text),
        "repository": github_repository(repository),
        "sender": github_user(),
    }


def github_signed_headers(
    secret: str, body: bytes, event: str, delivery: str | None = None
) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "x-github-event": event,
        "x-github-delivery": delivery or str(uuid.uuid4()),
        "x-hub-signature-256": github_signature(secret, body),
        "user-agent": "GitHub-Hookshot/abc123",
    }


# --- WhatsApp Cloud API: webhook payloads in the documented shapes (developers.facebook.com,
# "Webhooks: messages") ----------------------------------------------------------------------

WHATSAPP_PHONE_NUMBER_ID = "106540352242922"
_wamids = count(1)


def whatsapp_delivery(
    messages: list[dict[str, Any]] | None = None,
    *,
    statuses: list[dict[str, Any]] | None = None,
    user: str = "16315551181",
    name: str = "Ann",
    phone_number_id: str = WHATSAPP_PHONE_NUMBER_ID,
) -> dict[str, Any]:
    """A `messages` webhook: what users sent, or the statuses of what the bot sent."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
    }
    if messages is not None:
        value["contacts"] = [{"profile": {"name": name}, "wa_id": user}]
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }


def whatsapp_message(
    kind: str, body: dict[str, Any], *, user: str = "16315551181", wamid: str | None = None
) -> dict[str, Any]:
    return {
        "from": user,
        "id": wamid or f"wamid.HBgLMTYzMTU1NTExODEVAgASGBQz{next(_wamids):06d}",
        "timestamp": str(int(time.time())),
        "type": kind,
        kind: body,
    }


def whatsapp_text(text: str, **fields: Any) -> dict[str, Any]:
    return whatsapp_message("text", {"body": text}, **fields)


def whatsapp_button_reply(
    button_id: str, title: str, *, replied_to: str, **fields: Any
) -> dict[str, Any]:
    message = whatsapp_message(
        "interactive",
        {"type": "button_reply", "button_reply": {"id": button_id, "title": title}},
        **fields,
    )
    message["context"] = {"from": "15550783881", "id": replied_to}
    return message


def whatsapp_list_reply(row_id: str, title: str, **fields: Any) -> dict[str, Any]:
    return whatsapp_message(
        "interactive",
        {"type": "list_reply", "list_reply": {"id": row_id, "title": title, "description": ""}},
        **fields,
    )


def whatsapp_reaction(message_id: str, emoji: str, **fields: Any) -> dict[str, Any]:
    return whatsapp_message("reaction", {"message_id": message_id, "emoji": emoji}, **fields)


def whatsapp_image(media_id: str, caption: str = "", **fields: Any) -> dict[str, Any]:
    body = {"id": media_id, "mime_type": "image/jpeg", "sha256": "abc", "caption": caption}
    return whatsapp_message("image", body, **fields)


def whatsapp_status(
    wamid: str, status: str = "delivered", user: str = "16315551181"
) -> dict[str, Any]:
    return {
        "id": wamid,
        "status": status,
        "timestamp": str(int(time.time())),
        "recipient_id": user,
    }


def whatsapp_signed_headers(app_secret: str, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "x-hub-signature-256": whatsapp_signature(app_secret, body),
    }


# --- Discord: interaction payloads in the documented shapes (discord.com/developers/docs,
# "Interactions: Receiving and Responding") ---------------------------------------------------

_interaction_ids = count(1_200_000_000_000_000_000)


def discord_user(user_id: str = "53908232506183680", name: str = "mason") -> dict[str, Any]:
    return {"id": user_id, "username": name, "global_name": name.title(), "discriminator": "0"}


def discord_interaction(
    kind: int,
    data: dict[str, Any] | None,
    *,
    channel_id: str = "645027906669510667",
    guild_id: str | None = "290926798626357999",
    application_id: str = "1150000000000000001",
    token: str | None = None,
    user: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An interaction of `kind` (1 ping, 2 command, 3 component, 5 modal submit)."""
    ident = str(next(_interaction_ids))
    payload: dict[str, Any] = {
        "id": ident,
        "application_id": application_id,
        "type": kind,
        "token": token or f"aW50ZXJhY3Rpb246{ident}",
        "version": 1,
        "channel_id": channel_id,
        "app_permissions": "442368",
        "locale": "en-US",
    }
    if data is not None:
        payload["data"] = data
    who = user or discord_user()
    if guild_id is not None:
        payload["guild_id"] = guild_id
        payload["member"] = {"user": who, "roles": [], "permissions": "2147483647"}
    else:
        payload["user"] = who
    return payload


def discord_command(name: str, *values: str, **fields: Any) -> dict[str, Any]:
    options = [{"type": 3, "name": f"arg{n}", "value": v} for n, v in enumerate(values)]
    data = {"id": "771825006014889984", "name": name, "type": 1, "options": options}
    return discord_interaction(2, data, **fields)


def discord_button(
    custom_id: str, message_id: str = "1150000000000000100", **fields: Any
) -> dict[str, Any]:
    payload = discord_interaction(3, {"custom_id": custom_id, "component_type": 2}, **fields)
    payload["message"] = {"id": message_id, "channel_id": payload["channel_id"], "content": ""}
    return payload


def discord_select(custom_id: str, value: str, **fields: Any) -> dict[str, Any]:
    data = {"custom_id": custom_id, "component_type": 3, "values": [value]}
    return discord_interaction(3, data, **fields)


def discord_modal_submit(custom_id: str, values: dict[str, str], **fields: Any) -> dict[str, Any]:
    rows = [
        {"type": 1, "components": [{"type": 4, "custom_id": key, "value": value}]}
        for key, value in values.items()
    ]
    return discord_interaction(5, {"custom_id": custom_id, "components": rows}, **fields)


def discord_signed_headers(
    private_key_hex: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """Signed as Discord signs: Ed25519 over the timestamp then the body (needs the
    `cryptography` package, as the local runtime does)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    stamp = str(timestamp if timestamp is not None else int(time.time()))
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(private_key_hex))
    return {
        "content-type": "application/json",
        "x-signature-ed25519": key.sign(stamp.encode() + body).hex(),
        "x-signature-timestamp": stamp,
        "user-agent": "Discord-Interactions/1.0 (+https://discord.com)",
    }
