"""GitHub: webhook signatures, issue and pull request events, replies as comments (REST API).

A thread is an issue or a pull request: `github:<owner>/<repo>:<number>`, its channel the
repository, `github:<owner>/<repo>` (the shard: one per repository). Message ids are
`<owner>/<repo>:c<id>` for an issue or pull request comment, `<owner>/<repo>:r<id>` for a
review comment on a diff line, `<owner>/<repo>:i<number>` for the opening post; the dedupe key
`dedupe:github:<owner>/<repo>:...` so lives with its repository. A redelivery (GitHub's
"Redeliver", same `X-GitHub-Delivery`) carries the same comment, so it is handled once.

What GitHub has no API for: buttons and menus that reach the bot, modals, ephemeral messages,
direct messages, typing, and file uploads into comments; those raise NotSupported. Link
buttons and images by URL become Markdown. GitHub sends no webhook for reactions, so none
reach `on_reaction`; the bot's own `react` adds and removes reactions on comments.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from chatstate.chat.content import Card, Modal, NotSupported, Reply
from chatstate.chat.events import Action, Author, Button, Event, Inbound, Message, Update
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
from chatstate.platforms.emoji import as_emoji
from chatstate.platforms.github_app import GitHubAppAuth, GitHubAppTokens
from chatstate.ports import Clock

GITHUB = "github"
COMMENT_LIMIT = 65_536  # GitHub refuses a longer comment body (422)
# Owner and repository names as GitHub allows them; they become state keys.
REPOSITORY = re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}")
COMMAND = re.compile(r"/([A-Za-z0-9_-]{1,32})(?:\s+(.*))?", re.DOTALL)
# GitHub's eight reactions, by the emoji a handler passes to `react`.
REACTIONS = {
    "👍": "+1",
    "👎": "-1",
    "😄": "laugh",
    "😕": "confused",
    "❤": "heart",
    "🎉": "hooray",
    "🚀": "rocket",
    "👀": "eyes",
}
HANDLED_EVENTS = ("issue_comment", "pull_request_review_comment", "issues", "pull_request")
API_VERSION = "2022-11-28"


def signature(secret: str, body: bytes) -> str:
    """`X-Hub-Signature-256`: HMAC-SHA256 of the raw body with the webhook's secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class GitHubPlatform:
    name = GITHUB
    lock_scope: LockScope = "thread"
    persist_history = True

    def __init__(
        self,
        *,
        webhook_secret: str,
        token: str | None,
        bot_login: str,
        http: HttpRequester,
        api_base: str = "https://api.github.com",
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Sleep = asyncio.sleep,
        app: GitHubAppAuth | None = None,
        clock: Clock = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        if not webhook_secret:
            raise ValueError("GitHub webhooks need the webhook's secret")
        self._secret = webhook_secret
        self._token = token
        self.bot_login = bot_login
        self._http = http
        self._api_base = api_base.rstrip("/")
        self._retry = retry
        self._sleep = sleep
        self._app = None if app is None else GitHubAppTokens(app, self._call_with, clock)

    # --- what reaches the bot -----------------------------------------------------------------

    def verify(self, request: HttpRequest, now_ms: int) -> None:
        given = request.header("x-hub-signature-256") or ""
        if not given:
            raise WebhookRejected(HttpResponse.text(401, "missing X-Hub-Signature-256\n"))
        if not hmac.compare_digest(signature(self._secret, request.body).encode(), given.encode()):
            raise WebhookRejected(HttpResponse.text(401, "invalid GitHub signature\n"))

    def parse(self, request: HttpRequest) -> Inbound | HttpResponse:
        kind = request.header("x-github-event") or ""
        delivery = request.header("x-github-delivery") or ""
        if not kind:
            raise WebhookRejected(HttpResponse.text(400, "missing X-GitHub-Event\n"))
        if not re.fullmatch(r"[0-9A-Fa-f-]{1,64}", delivery):
            raise WebhookRejected(HttpResponse.text(400, "X-GitHub-Delivery must be a GUID\n"))
        payload = parse_json_object(request.body)
        if kind == "ping":
            return HttpResponse.text(200, "pong\n")
        if kind not in HANDLED_EVENTS:
            return Inbound()
        event = _event(kind, payload, delivery, self.bot_login)
        return Inbound([] if event is None else [event], delivery)

    async def prepare(self, message: Message) -> Message:
        """`/word rest` at the start of a comment is the command `word`."""
        if self._app is not None and isinstance(message.raw, dict):
            installation = message.raw.get("installation")
            if isinstance(installation, dict) and isinstance(installation.get("id"), int):
                self._app.remember(message.channel_id.split(":", 1)[1], installation["id"])
        matched = COMMAND.fullmatch(message.text.strip())
        if matched is None:
            return message
        command = {"name": matched[1].lower(), "args": (matched[2] or "").strip()}
        return replace(message, command=command)

    async def acknowledge(self, action: Action) -> None:
        return None

    # --- what the bot says ------------------------------------------------------------------

    async def send(self, thread_id: str, reply: Reply) -> list[Message]:
        repository, number = _issue_of(thread_id)
        sent = []
        for body in _bodies(reply):
            comment = await self._call(
                "POST",
                f"/repos/{repository}/issues/{number}/comments",
                {"body": body},
                "create comment",
            )
            sent.append(_sent(thread_id, repository, comment, body, reply))
        return sent

    async def edit(self, sent: Message, reply: Reply) -> Message:
        repository, kind, ident = _comment_of(sent.id)
        bodies = _bodies(reply)
        if len(bodies) > 1:
            raise ValueError(f"an edit must fit one GitHub comment ({COMMENT_LIMIT} characters)")
        comment = await self._call(
            "PATCH", _comment_path(repository, kind, ident), {"body": bodies[0]}, "edit comment"
        )
        return _sent(sent.thread_id, repository, comment, bodies[0], reply)

    async def delete(self, sent: Message) -> None:
        repository, kind, ident = _comment_of(sent.id)
        await self._call("DELETE", _comment_path(repository, kind, ident), None, "delete comment")

    async def react(self, sent: Message, emoji: str, *, add: bool) -> None:
        repository, kind, ident = _comment_of(sent.id)
        content = _reaction(emoji)
        path = f"{_comment_path(repository, kind, ident)}/reactions"
        if add:
            await self._call("POST", path, {"content": content}, "add reaction")
            return
        # A reaction is removed by its id: find the bot's own among the comment's.
        query = urlencode({"content": content, "per_page": 100})
        listed = await self._call("GET", f"{path}?{query}", None, "list reactions")
        for reaction in listed if isinstance(listed, list) else []:
            user = reaction.get("user") if isinstance(reaction, dict) else None
            if isinstance(user, dict) and user.get("login") == self.bot_login:
                await self._call("DELETE", f"{path}/{reaction['id']}", None, "remove reaction")

    async def show_typing(self, thread_id: str) -> None:
        return None  # GitHub shows no typing

    async def send_ephemeral(self, thread_id: str, user_id: str, reply: Reply) -> None:
        raise NotSupported("github has no messages only one person sees")

    async def open_dm(self, user_id: str) -> str:
        raise NotSupported("github has no direct messages")

    def streamer(self, thread_id: str, target: StreamTarget) -> Streamer:
        return EditingStreamer(self, thread_id, _split)

    async def open_modal(self, trigger: Event, modal: Modal, metadata: dict[str, str]) -> None:
        raise NotSupported("github has no modals")

    def modal_answer(self, errors: dict[str, str] | None) -> HttpResponse:
        raise NotSupported("github has no modals")

    async def _call(self, verb: str, path: str, payload: dict[str, Any] | None, what: str) -> Any:
        token = self._token
        if not token:
            if self._app is None:
                raise NotSupported("github: set GITHUB_TOKEN, or a GitHub App, to reply")
            repository = "/".join(path.split("/")[2:4])  # /repos/{owner}/{repo}/...
            token = await self._app.token_for(repository)
        return await self._call_with(verb, path, payload, token, what)

    async def _call_with(
        self, verb: str, path: str, payload: dict[str, Any] | None, token: str, what: str
    ) -> Any:
        return await call_rest_api(
            self._http,
            verb,
            f"{self._api_base}{path}",
            payload,
            {
                "authorization": f"Bearer {token}",
                "accept": "application/vnd.github+json",
                "x-github-api-version": API_VERSION,
                "user-agent": "chatstate",
            },
            platform=self.name,
            method=what,
            sleep=self._sleep,
            retry=self._retry,
            secret=token,
        )


# --- parsing ----------------------------------------------------------------------------------


def _bad(field: str, what: str) -> WebhookRejected:
    return WebhookRejected(HttpResponse.text(400, f"{field} must be {what}\n"))


def _object(payload: dict[str, Any], field: str) -> dict[str, Any]:
    value = payload.get(field)
    if not isinstance(value, dict):
        raise _bad(field, "an object")
    return value


def _integer(payload: dict[str, Any], field: str, where: str) -> int:
    value = payload.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _bad(f"{where}.{field}", "a positive integer")
    return value


def _text(payload: dict[str, Any], field: str, where: str) -> str:
    value = payload.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _bad(f"{where}.{field}", "a string")
    return value


def _millis(stamp: Any) -> int:
    try:
        return int(datetime.fromisoformat(str(stamp)).timestamp() * 1000)
    except ValueError:
        return 0


def _author(payload: dict[str, Any], where: str) -> Author:
    user = _object(payload, "user") if "user" in payload else {}
    login = user.get("login")
    if not isinstance(login, str) or not login:
        raise _bad(f"{where}.user.login", "a string")
    return Author(
        user_id=str(user.get("id") or login),
        user_name=login,
        is_bot=user.get("type") == "Bot",
    )


def _mentions(text: str, bot_login: str) -> bool:
    pattern = rf"(?<![\w-])@{re.escape(bot_login)}(?![\w-])"
    return bool(bot_login) and re.search(pattern, text, re.IGNORECASE) is not None


def _event(kind: str, payload: dict[str, Any], delivery: str, bot_login: str) -> Event | None:
    repository = _object(payload, "repository").get("full_name")
    if not isinstance(repository, str) or not REPOSITORY.fullmatch(repository):
        raise _bad("repository.full_name", "owner/name")
    action = payload.get("action")
    if not isinstance(action, str):
        raise _bad("action", "a string")
    if kind == "issue_comment":
        issue = _object(payload, "issue")
        return _comment(payload, repository, _integer(issue, "number", "issue"), "c", bot_login)
    if kind == "pull_request_review_comment":
        pull = _object(payload, "pull_request")
        number = _integer(pull, "number", "pull_request")
        return _comment(payload, repository, number, "r", bot_login)
    subject = _object(payload, "issue" if kind == "issues" else "pull_request")
    number = _integer(subject, "number", kind)
    thread_id = f"{GITHUB}:{repository}:{number}"
    if action in ("opened", "edited"):
        text = f"{_text(subject, 'title', kind)}\n\n{_text(subject, 'body', kind)}".strip()
        posted = _Posted(f"i{number}", _author(subject, kind), text, subject)
        return _message(payload, repository, number, posted, bot_login)
    return Update(
        id=delivery,
        thread_id=thread_id,
        channel_id=f"{GITHUB}:{repository}",
        platform=GITHUB,
        kind=f"{kind}.{action}",
        raw=payload,
    )


@dataclass(frozen=True)
class _Posted:
    """What a message was made of: its id's last part, who wrote it, its text, and the object
    holding its created_at and updated_at (a comment, an issue, a pull request)."""

    ident: str
    author: Author
    text: str
    stamps: dict[str, Any]


def _comment(
    payload: dict[str, Any], repository: str, number: int, prefix: str, bot_login: str
) -> Message | None:
    if payload["action"] not in ("created", "edited"):
        return None  # a deleted comment asks nothing of the bot
    comment = _object(payload, "comment")
    ident = _integer(comment, "id", "comment")
    posted = _Posted(
        f"{prefix}{ident}",
        _author(comment, "comment"),
        _text(comment, "body", "comment"),
        comment,
    )
    return _message(payload, repository, number, posted, bot_login)


def _message(
    payload: dict[str, Any], repository: str, number: int, posted: _Posted, bot_login: str
) -> Message | None:
    if posted.author.user_name == bot_login:
        return None  # the bot's own words: answering them would loop
    message = Message(
        id=f"{repository}:{posted.ident}",
        thread_id=f"{GITHUB}:{repository}:{number}",
        channel_id=f"{GITHUB}:{repository}",
        platform=GITHUB,
        text=posted.text,
        author=posted.author,
        date_ms=_millis(posted.stamps.get("created_at")),
        is_mention=_mentions(posted.text, bot_login),
        raw=payload,
    )
    if payload["action"] == "edited":
        stamp = _millis(posted.stamps.get("updated_at"))
        return replace(message, id=f"{message.id}:edit:{stamp}", is_edit=True)
    return message


# --- replies ----------------------------------------------------------------------------------


def _issue_of(thread_id: str) -> tuple[str, int]:
    platform, repository, number = [*thread_id.split(":"), "", ""][:3]
    if platform != GITHUB or not REPOSITORY.fullmatch(repository) or not number.isdigit():
        raise ValueError(f"a GitHub thread id is github:<owner>/<repo>:<number>, not {thread_id!r}")
    return repository, int(number)


def _comment_of(message_id: str) -> tuple[str, str, int]:
    repository, _, rest = message_id.partition(":")
    ident = rest.split(":", 1)[0]
    if not REPOSITORY.fullmatch(repository) or ident[:1] not in "cri" or not ident[1:].isdigit():
        raise ValueError(f"not a GitHub comment id: {message_id!r}")
    return repository, ident[0], int(ident[1:])


def _comment_path(repository: str, kind: str, ident: int) -> str:
    if kind == "r":
        return f"/repos/{repository}/pulls/comments/{ident}"
    if kind == "i":
        return f"/repos/{repository}/issues/{ident}"
    return f"/repos/{repository}/issues/comments/{ident}"


def _reaction(emoji: str) -> str:
    if emoji in REACTIONS.values():
        return emoji
    try:
        bare = as_emoji(emoji)
    except ValueError:
        bare = emoji.removesuffix("\ufe0f")
    if bare in REACTIONS:
        return REACTIONS[bare]
    raise NotSupported(
        f"github reacts only with {' '.join(REACTIONS)} ({', '.join(REACTIONS.values())})"
    )


def _escaped(text: str) -> str:
    """Literal text in GitHub Markdown: its punctuation shown, not read as formatting."""
    return re.sub(r"([\\`*_\[\]<>#~|])", r"\\\1", text)


def _markdown(reply: Reply) -> str:
    if reply.file is not None:
        file = reply.file
        if file.url is None:
            raise NotSupported("github has no file uploads into comments: send File(url=...)")
        link = f"[{_escaped(file.name)}]({file.url})"
        return f"!{link}" if file.is_image else link
    parts = []
    if reply.card is not None:
        parts.append(_card(reply.card))
    if reply.text:
        parts.append(reply.text if reply.markdown else _escaped(reply.text))
    parts.extend(_links(reply.buttons))
    return "\n\n".join(part for part in parts if part)


def _card(card: Card) -> str:
    if card.select is not None:
        raise NotSupported("github comments have no menus that reach the bot")
    lines = []
    if card.title:
        lines.append(f"### {_escaped(card.title)}")
    if card.text:
        text = card.text
        lines.append(_escaped(text) if isinstance(text, str) else text.text)
    if card.fields:
        lines.append("\n".join(f"**{_escaped(k)}**: {_escaped(v)}" for k, v in card.fields))
    if card.image_url:
        lines.append(f"![]({card.image_url})")
    lines.extend(_links(card.buttons))
    return "\n\n".join(lines)


def _links(buttons: Any) -> list[str]:
    if any(isinstance(button, Button) for button in buttons):
        raise NotSupported(
            "github comments have no buttons that reach the bot: use LinkButton(label, url)"
        )
    return [" · ".join(f"[{_escaped(b.label)}]({b.url})" for b in buttons)] if buttons else []


def _split(text: str) -> list[str]:
    return split_text(text, COMMENT_LIMIT)


def _bodies(reply: Reply) -> list[str]:
    body = _markdown(reply)
    if not body.strip():
        raise ValueError("a GitHub comment needs text")
    return _split(body)


def _sent(thread_id: str, repository: str, comment: Any, body: str, reply: Reply) -> Message:
    if not isinstance(comment, dict) or not isinstance(comment.get("id"), int):
        raise ValueError(f"github answered a comment without an id: {comment!r}")
    return Message(
        id=f"{repository}:c{comment['id']}",
        thread_id=thread_id,
        channel_id=f"{GITHUB}:{repository}",
        platform=GITHUB,
        text=body,
        author=Author(user_id="bot", user_name="bot", is_bot=True),
        date_ms=_millis(comment.get("created_at")),
        format="markdown",
        raw=comment,
    )
