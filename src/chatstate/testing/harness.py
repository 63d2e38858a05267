"""BotTester: a bot's `setup` driven in process, as Telegram, Slack and the console drive it.

Updates go through the real webhook routes (signed as the platforms sign them), the real
platform adapters and the real chat runtime, over state in in-memory SQLite; the platforms'
APIs answer in process (chatstate.testing.platform_apis). Time is virtual: a handler's sleeps,
debounce windows, lock TTLs and state TTLs move only when the test calls `advance`.

    async with BotTester(setup) as bot:
        chat = bot.telegram.group(-100123)
        await chat.send("hello", mention=True)
        assert bot.replies[-1].text == "hi Ann!"
"""

from __future__ import annotations

import asyncio
import base64
import heapq
import itertools
import json
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

from chatstate.chat.attachments import Attachment
from chatstate.chat.concurrency import Concurrency
from chatstate.chat.content import Card, File
from chatstate.chat.content import Reply as ContentReply
from chatstate.chat.events import Button, Message
from chatstate.chat.history import latest_versions
from chatstate.chat.runtime import Chat
from chatstate.chat.work_index import ShardWorkIndex
from chatstate.compose import BotSetup
from chatstate.http.messages import HttpRequest, HttpResponse
from chatstate.local.signing import CryptographyEd25519
from chatstate.platforms.base import StreamTarget
from chatstate.platforms.discord import DiscordPlatform
from chatstate.platforms.github import GitHubPlatform
from chatstate.platforms.pacing import Pacer
from chatstate.platforms.slack import SlackPlatform
from chatstate.platforms.telegram import SECRET_HEADER, TelegramPlatform
from chatstate.platforms.web import WebPlatform, web_message, web_press, web_thread
from chatstate.platforms.whatsapp import WhatsAppPlatform
from chatstate.routes.webhooks import Ingress
from chatstate.state.backends.sqlite_files import LocalStateAdapter, open_local_state
from chatstate.state.sharding import ShardRouter
from chatstate.testing import payloads
from chatstate.testing.platform_apis import (
    DISCORD_PATH,
    GITHUB_PATH,
    GRAPH_PATH,
    ApiCall,
    InProcessHttp,
    PlatformApis,
)

API_BASE = "http://platform-apis.test"
TELEGRAM_TOKEN = "123456:TEST-telegram-token"
TELEGRAM_SECRET = "test-webhook-secret"
SLACK_SECRET = "test-slack-signing-secret"
SLACK_TOKEN = "xoxb-test-slack-token"
GITHUB_SECRET = "test-github-webhook-secret"
GITHUB_TOKEN = "ghp_test-github-token"
GITHUB_LOGIN = "my-bot"
WHATSAPP_VERIFY_TOKEN = "test-whatsapp-verify-token"
WHATSAPP_APP_SECRET = "test-whatsapp-app-secret"
WHATSAPP_TOKEN = "test-whatsapp-access-token"
# RFC 8032's first test key pair: the private half signs the driver's interactions.
DISCORD_PRIVATE_KEY = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
DISCORD_PUBLIC_KEY = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
DISCORD_APPLICATION_ID = "1150000000000000001"
DISCORD_BOT_TOKEN = "test-discord-bot-token"


class _Ed25519WhenUsed:
    """The local Ed25519 check, loaded at the first Discord delivery: a bot's tests that never
    drive Discord need no `cryptography` package."""

    async def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        return await CryptographyEd25519().verify(public_key, message, signature)


# How long `settle` lets a handler run in real time before it calls the test stuck.
SETTLE_TIMEOUT_S = 10.0


class VirtualTime:
    """A clock (epoch ms) and a sleep that move together, only when `advance` moves them."""

    def __init__(self, start_ms: int) -> None:
        self.now_ms = start_ms
        self._sleepers: list[tuple[int, int, asyncio.Future[None], asyncio.Task[Any]]] = []
        self._order = itertools.count()
        # Tasks waiting in `sleep`: settled, as far as the test is concerned.
        self.parked: set[asyncio.Task[Any]] = set()
        # Tasks woken and not yet parked again or done (typing, lock renewal): running.
        self.woken: set[asyncio.Task[Any]] = set()

    def __call__(self) -> int:
        return self.now_ms

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future = asyncio.get_running_loop().create_future()
        wake_at = self.now_ms + max(1, round(seconds * 1000))
        task = asyncio.current_task()
        assert task is not None
        heapq.heappush(self._sleepers, (wake_at, next(self._order), future, task))
        self.parked.add(task)
        self.woken.discard(task)
        try:
            await future
        finally:
            self.parked.discard(task)

    async def elapse(self, seconds: float) -> None:
        """A sleep during which virtual time passes at once (the platforms' pacing delays):
        the test sees the delay on the clock without advancing time by hand."""
        self.now_ms += max(1, round(seconds * 1000))
        self.wake_due()
        await asyncio.sleep(0)

    def next_wake(self) -> int | None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)  # a sleeper that was cancelled
        return self._sleepers[0][0] if self._sleepers else None

    def wake_due(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self.now_ms:
            _, _, future, task = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
                # Running again from now on, though it resumes only at the loop's next turn.
                self.parked.discard(task)
                self.woken.add(task)


@dataclass
class Reply:
    """A message the bot posted, as it asked for it, with what happened to it since."""

    platform: str
    thread_id: str
    text: str
    # "text", "markdown", "card", "file" or "stream"
    kind: str = "text"
    buttons: list[str] = field(default_factory=list)
    card: Card | None = None
    file: File | None = None
    message_ids: list[str] = field(default_factory=list)
    edits: list[Reply] = field(default_factory=list)
    reactions: list[str] = field(default_factory=list)
    deleted: bool = False


def _reply_record(
    platform: str, thread_id: str, reply: ContentReply, kind: str | None = None
) -> Reply:
    if reply.card is not None:
        labels = [b.label for b in reply.card.buttons]
        return Reply(platform, thread_id, reply.card.title, "card", labels, card=reply.card)
    if reply.file is not None:
        return Reply(platform, thread_id, reply.file.name, "file", file=reply.file)
    labels = [b.label for b in reply.buttons]
    return Reply(
        platform, thread_id, reply.text, kind or ("markdown" if reply.markdown else "text"), labels
    )


class _Recorded:
    """A platform whose outbound calls are also recorded as the bot meant them."""

    def __init__(self, platform: Any, outbox: list[Reply]) -> None:
        self._platform = platform
        self._outbox = outbox

    def __getattr__(self, name: str) -> Any:
        return getattr(self._platform, name)

    def _find(self, message: Message) -> Reply | None:
        return next((r for r in reversed(self._outbox) if message.id in r.message_ids), None)

    async def send(self, thread_id: str, reply: ContentReply) -> list[Message]:
        sent: list[Message] = await self._platform.send(thread_id, reply)
        record = _reply_record(self._platform.name, thread_id, reply)
        record.message_ids = [m.id for m in sent]
        self._outbox.append(record)
        return sent

    async def edit(self, sent: Message, reply: ContentReply) -> Message:
        edited: Message = await self._platform.edit(sent, reply)
        record = self._find(sent)
        if record is not None:
            record.edits.append(_reply_record(self._platform.name, sent.thread_id, reply))
        return edited

    async def delete(self, sent: Message) -> None:
        await self._platform.delete(sent)
        record = self._find(sent)
        if record is not None:
            record.deleted = True

    async def react(self, sent: Message, emoji: str, *, add: bool) -> None:
        await self._platform.react(sent, emoji, add=add)
        record = self._find(sent)
        if record is not None:
            record.reactions = (
                [*record.reactions, emoji] if add else [r for r in record.reactions if r != emoji]
            )

    def streamer(self, thread_id: str, target: StreamTarget) -> Any:
        inner = self._platform.streamer(thread_id, target)
        outbox, name = self._outbox, self._platform.name

        class Stream:
            async def update(self, text: str) -> None:
                await inner.update(text)

            async def finish(self, text: str) -> list[Message]:
                sent: list[Message] = await inner.finish(text)
                # A stream that posted through send() is already recorded: mark it a stream.
                known = [r for r in outbox if set(r.message_ids) & {m.id for m in sent}]
                for record in known:
                    outbox.remove(record)
                outbox.append(
                    Reply(name, thread_id, text, "stream", message_ids=[m.id for m in sent])
                )
                return sent

        return Stream()


class BotTester:
    """Drive a bot's `setup(chat)` in process; read back its replies and state."""

    def __init__(
        self,
        setup: BotSetup,
        *,
        concurrency: Concurrency | None = None,
        router: ShardRouter | None = None,
        bot_username: str = "my_bot",
        start_ms: int | None = None,
    ) -> None:
        self.setup = setup
        self.time = VirtualTime(start_ms if start_ms is not None else time.time_ns() // 10**6)
        self.apis = PlatformApis(
            TELEGRAM_TOKEN,
            SLACK_TOKEN,
            bot_username,
            upload_base=API_BASE,
            github_token=GITHUB_TOKEN,
            github_login=GITHUB_LOGIN,
            whatsapp_token=WHATSAPP_TOKEN,
            whatsapp_phone_number_id=payloads.WHATSAPP_PHONE_NUMBER_ID,
            discord_application_id=DISCORD_APPLICATION_ID,
            discord_bot_token=DISCORD_BOT_TOKEN,
        )
        self.bot_username = bot_username
        self._outbox: list[Reply] = []
        self._concurrency = concurrency or Concurrency()
        self._router = router or ShardRouter()
        self._state: LocalStateAdapter | None = None
        self._chat: Chat | None = None
        self._ingress: Ingress | None = None
        self.telegram = TelegramDriver(self)
        self.slack = SlackDriver(self)
        self.web = WebDriver(self)
        self.github = GitHubDriver(self)
        self.whatsapp = WhatsAppDriver(self)
        self.discord = DiscordDriver(self)

    async def __aenter__(self) -> BotTester:
        state = open_local_state(
            None,
            clock=self.time,
            name=self._router.name,
            shard_key=self._router.shard_key,
            key_shard=self._router.key_shard,
        )
        await state.connect()
        http = InProcessHttp(self.apis, API_BASE)
        pacer = Pacer(self.time, self.time.elapse)
        telegram = TelegramPlatform(
            bot_token=TELEGRAM_TOKEN,
            secret_token=TELEGRAM_SECRET,
            http=http,
            api_base=API_BASE,
            sleep=self.time.elapse,
            pacer=pacer,
        )
        slack = SlackPlatform(
            signing_secret=SLACK_SECRET,
            bot_token=SLACK_TOKEN,
            http=http,
            api_base=f"{API_BASE}/api",
            sleep=self.time.elapse,
            pacer=pacer,
        )
        github = GitHubPlatform(
            webhook_secret=GITHUB_SECRET,
            token=GITHUB_TOKEN,
            bot_login=GITHUB_LOGIN,
            http=http,
            api_base=f"{API_BASE}{GITHUB_PATH}",
            sleep=self.time.elapse,
        )
        whatsapp = WhatsAppPlatform(
            verify_token=WHATSAPP_VERIFY_TOKEN,
            app_secret=WHATSAPP_APP_SECRET,
            access_token=WHATSAPP_TOKEN,
            phone_number_id=payloads.WHATSAPP_PHONE_NUMBER_ID,
            http=http,
            api_base=f"{API_BASE}{GRAPH_PATH}",
            sleep=self.time.elapse,
        )
        discord = DiscordPlatform(
            public_key=DISCORD_PUBLIC_KEY,
            application_id=DISCORD_APPLICATION_ID,
            bot_token=DISCORD_BOT_TOKEN,
            http=http,
            ed25519=_Ed25519WhenUsed(),
            api_base=f"{API_BASE}{DISCORD_PATH}",
            sleep=self.time.elapse,
            clock=self.time,
        )
        self._chat = Chat(
            platforms=[
                _Recorded(platform, self._outbox)
                for platform in (telegram, slack, github, whatsapp, discord, WebPlatform(state))
            ],
            state=state,
            work_index=ShardWorkIndex(state.shards.pending_work),
            concurrency=self._concurrency,
            sleep=self.time.sleep,
        )
        self.setup(self._chat)
        self._ingress = Ingress(
            {
                "telegram": telegram,
                "slack": slack,
                "github": github,
                "whatsapp": whatsapp,
                "discord": discord,
            },
            self._chat.accept,
            self.time,
            self._chat.submit,
        )
        self._state = state
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._chat is not None:
            await self._chat.stop(0)
        if self._state is not None:
            await self._state.disconnect()

    @property
    def chat(self) -> Chat:
        if self._chat is None:
            raise RuntimeError("use the tester as `async with BotTester(setup) as bot:`")
        return self._chat

    @property
    def state(self) -> LocalStateAdapter:
        if self._state is None:
            raise RuntimeError("use the tester as `async with BotTester(setup) as bot:`")
        return self._state

    # --- what the bot did ----------------------------------------------------------------------

    @property
    def calls(self) -> list[ApiCall]:
        """Every call the bot made to a platform's API, in order (getMe included)."""
        return list(self.apis.calls)

    @property
    def replies(self) -> list[Reply]:
        """Every message the bot posted, in order, on every platform: what it asked for (text,
        Markdown, a card, a file, a stream), and its edits, reactions and deletion since."""
        return list(self._outbox)

    async def thread_state(self, thread_id: str) -> Any:
        return await self.state.get(f"thread-state:{thread_id}")

    async def channel_state(self, channel_id: str) -> Any:
        return await self.state.get(f"channel-state:{channel_id}")

    async def history(self, thread_id: str) -> list[Message]:
        """The thread's message history, oldest first (platforms that keep one: Telegram, web)."""
        items = await self.state.get_list(f"msg-history:{thread_id}")
        stored = [item for item in items if isinstance(item, dict)]
        return [Message.from_json(item) for item in latest_versions(stored)]

    async def is_subscribed(self, thread_id: str) -> bool:
        return await self.state.is_subscribed(thread_id)

    # --- time ----------------------------------------------------------------------------------

    async def advance(self, seconds: float) -> None:
        """Move virtual time on, waking each sleeper at its time and letting handlers run."""
        target = self.time.now_ms + round(seconds * 1000)
        while (wake := self.time.next_wake()) is not None and wake <= target:
            self.time.now_ms = max(self.time.now_ms, wake)
            self.time.wake_due()
            await self.settle()
        self.time.now_ms = target
        await self.state.shards.fire_due_alarms()
        await self.settle()

    async def settle(self) -> None:
        """Wait until every handler has finished or sleeps in virtual time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_TIMEOUT_S
        while True:
            self.time.woken = {t for t in self.time.woken if not t.done()}
            running = self.chat.tasks | self.time.woken
            busy = [t for t in running if not t.done() and t not in self.time.parked]
            if not busy:
                return
            if loop.time() > deadline:
                raise AssertionError(
                    f"{len(busy)} handler task(s) still running after {SETTLE_TIMEOUT_S:g} s "
                    "of real time: does a handler wait for something that never happens?"
                )
            await asyncio.wait(busy, timeout=0.01)

    # --- delivering ----------------------------------------------------------------------------

    async def deliver(self, path: str, body: bytes, headers: dict[str, str]) -> HttpResponse:
        """POST a webhook through the routes, then let handlers run; fails unless it is 200."""
        if self._ingress is None:
            raise RuntimeError("use the tester as `async with BotTester(setup) as bot:`")
        request = HttpRequest("POST", path, {k.lower(): v for k, v in headers.items()}, body)
        response = await self._ingress.handle(request)
        if response.status != 200:
            raise AssertionError(
                f"{path} answered {response.status}: {response.body.decode(errors='replace')}"
            )
        await self.settle()
        return response


class TelegramDriver:
    """Updates from Telegram: `bot.telegram.group(-100123)`, `bot.telegram.private(1001)`."""

    def __init__(self, tester: BotTester) -> None:
        self._tester = tester

    def group(self, chat_id: int, *, topic: int | None = None) -> TelegramChat:
        return TelegramChat(self._tester, chat_id, "supergroup", topic)

    def private(self, user_id: int = 1001) -> TelegramChat:
        return TelegramChat(self._tester, user_id, "private", None)


@dataclass
class TelegramChat:
    tester: BotTester
    chat_id: int
    chat_type: str
    topic: int | None
    user: dict[str, Any] = field(default_factory=payloads.telegram_user)

    @property
    def thread_id(self) -> str:
        suffix = f":{self.topic}" if self.topic is not None else ""
        return f"telegram:{self.chat_id}{suffix}"

    async def send(self, text: str, *, mention: bool = False) -> dict[str, Any]:
        """A user's message (with `@bot_username ` before it when `mention`); the update sent."""
        update = payloads.telegram_message_update(
            self.chat_id,
            text,
            bot_username=self.tester.bot_username if mention else None,
            topic=self.topic,
            chat_type=self.chat_type,
            user=self.user,
        )
        await self._post(update)
        return update

    async def edit(self, update: dict[str, Any], text: str) -> None:
        """The user edits the message `send` returned."""
        await self._post(payloads.telegram_edited_update(update, text))

    async def press(self, action_id: str, value: str = "") -> None:
        """The user presses a button the bot offered (its callback data)."""
        data = f"{action_id}:{value}" if value else action_id
        update = payloads.telegram_callback_update(
            self.chat_id, data, query_id=f"q{next(_ids)}", user=self.user
        )
        await self._post(update)

    async def send_file(
        self, name: str, data: bytes, *, kind: str = "document", mime: str = "", caption: str = ""
    ) -> dict[str, Any]:
        """A user sends a file ("document", "photo", "voice" or "video"); the update sent."""
        file_id = f"f{next(_ids)}"
        self.tester.apis.telegram_files[file_id] = data
        item: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": len(data),
        }
        if kind == "photo":
            body: Any = [{**item, "width": 90, "height": 90}]
        else:
            body = {**item, "file_name": name, "mime_type": mime or "application/octet-stream"}
        update = payloads.telegram_message_update(
            self.chat_id, caption, topic=self.topic, chat_type=self.chat_type, user=self.user
        )
        update["message"][kind] = body
        if caption:
            update["message"]["caption"] = update["message"].pop("text")
        else:
            update["message"].pop("text")
        await self._post(update)
        return update

    async def command(self, name: str, args: str = "", *, to: str | None = None) -> None:
        """`/name args`, addressed `@to` a bot when given (in a group, as users write it)."""
        await self._post(
            payloads.telegram_command_update(
                self.chat_id, name, args, addressed_to=to, chat_type=self.chat_type, user=self.user
            )
        )

    async def react(self, message_id: int, emoji: str, *, old: list[str] | None = None) -> None:
        """The user's reactions to a message become [emoji] (from `old`); "" removes them."""
        await self._post(
            payloads.telegram_reaction_update(
                self.chat_id,
                message_id,
                old=old or [],
                new=[emoji] if emoji else [],
                user=self.user,
            )
        )

    async def bot_added(self) -> None:
        await self._post(
            payloads.telegram_member_update(
                self.chat_id, "my_chat_member", old_status="left", new_status="member"
            )
        )

    async def bot_removed(self) -> None:
        await self._post(
            payloads.telegram_member_update(
                self.chat_id, "my_chat_member", old_status="member", new_status="kicked"
            )
        )

    async def member_joined(self, user: dict[str, Any]) -> None:
        await self._post(
            payloads.telegram_member_update(
                self.chat_id, "chat_member", old_status="left", new_status="member", user=user
            )
        )

    async def migrate_to(self, new_chat_id: int) -> TelegramChat:
        """The group becomes a supergroup; the chat to talk to from now on."""
        await self._post(payloads.telegram_migration_update(self.chat_id, new_chat_id))
        return TelegramChat(self.tester, new_chat_id, "supergroup", None, self.user)

    async def update(self, kind: str, body: dict[str, Any]) -> None:
        """Any other update field (a poll, a sticker's message...), as Telegram sends it."""
        await self._post({"update_id": next(_ids) + 900_000, kind: body})

    async def _post(self, update: dict[str, Any]) -> None:
        await self.tester.deliver(
            "/webhooks/telegram",
            json.dumps(update).encode(),
            {"content-type": "application/json", SECRET_HEADER: TELEGRAM_SECRET},
        )


class GitHubDriver:
    """Deliveries from GitHub: `bot.github.issue(7)`, `bot.github.pull_request(12)`."""

    def __init__(self, tester: BotTester) -> None:
        self._tester = tester
        self.login = GITHUB_LOGIN

    def issue(self, number: int, *, repository: str = "octo-org/hello-world") -> GitHubIssue:
        return GitHubIssue(self._tester, number, repository)

    def pull_request(self, number: int, *, repository: str = "octo-org/hello-world") -> GitHubIssue:
        return GitHubIssue(self._tester, number, repository)


@dataclass
class GitHubIssue:
    tester: BotTester
    number: int
    repository: str
    author: str = "octocat"
    _comment_ids: Any = field(default_factory=lambda: itertools.count(70_000))

    @property
    def thread_id(self) -> str:
        return f"github:{self.repository}:{self.number}"

    async def comment(self, text: str, *, mention: bool = False) -> dict[str, Any]:
        """A user's comment (`@my-bot text` when `mention`); the payload sent."""
        said = f"@{GITHUB_LOGIN} {text}" if mention else text
        payload = payloads.github_issue_comment(
            self.number,
            said,
            comment_id=next(self._comment_ids),
            repository=self.repository,
            author=self.author,
        )
        await self._post("issue_comment", payload)
        return payload

    async def edit(self, payload: dict[str, Any], text: str) -> None:
        """The user edits an earlier comment."""
        edited = {**payload, "action": "edited", "comment": {**payload["comment"], "body": text}}
        edited["comment"]["updated_at"] = "2026-12-01T10:09:00Z"
        await self._post("issue_comment", edited)

    async def review_comment(self, text: str) -> None:
        """A comment on a line of the pull request's diff."""
        payload = payloads.github_review_comment(
            self.number, text, comment_id=next(self._comment_ids), repository=self.repository
        )
        await self._post("pull_request_review_comment", payload)

    async def event(self, kind: str, action: str, *, title: str = "", text: str = "") -> None:
        """An `issues` or `pull_request` delivery: opened, closed, labeled..."""
        payload = payloads.github_issue_event(
            self.number, action, title=title, text=text, repository=self.repository, kind=kind
        )
        await self._post(kind, payload)

    async def _post(self, event: str, payload: dict[str, Any]) -> None:
        raw = json.dumps(payload).encode()
        headers = payloads.github_signed_headers(GITHUB_SECRET, raw, event)
        await self.tester.deliver("/webhooks/github", raw, headers)


class DiscordDriver:
    """Interactions from Discord: `bot.discord.channel("645027906669510667")`."""

    def __init__(self, tester: BotTester) -> None:
        self._tester = tester

    def channel(
        self, channel_id: str = "645027906669510667", *, guild_id: str | None = "290926798626357999"
    ) -> DiscordChannel:
        return DiscordChannel(self._tester, channel_id, guild_id)


@dataclass
class DiscordChannel:
    tester: BotTester
    channel_id: str
    guild_id: str | None

    @property
    def thread_id(self) -> str:
        return f"discord:{self.channel_id}"

    async def command(self, name: str, *values: str) -> dict[str, Any]:
        """A user runs the slash command `/name values...`; the interaction sent."""
        return await self._post(payloads.discord_command(name, *values, **self._where()))

    async def press(self, custom_id: str) -> dict[str, Any]:
        """A user presses a button (its custom id is `action_id` or `action_id:value`)."""
        return await self._post(payloads.discord_button(custom_id, **self._where()))

    async def choose(self, select_id: str, value: str) -> dict[str, Any]:
        return await self._post(payloads.discord_select(select_id, value, **self._where()))

    async def submit_modal(self, custom_id: str, values: dict[str, str]) -> dict[str, Any]:
        return await self._post(payloads.discord_modal_submit(custom_id, values, **self._where()))

    def _where(self) -> dict[str, Any]:
        return {
            "channel_id": self.channel_id,
            "guild_id": self.guild_id,
            "application_id": DISCORD_APPLICATION_ID,
        }

    async def _post(self, interaction: dict[str, Any]) -> dict[str, Any]:
        self.tester.apis.discord.tokens.add(interaction["token"])
        raw = json.dumps(interaction).encode()
        headers = payloads.discord_signed_headers(
            DISCORD_PRIVATE_KEY, raw, self.tester.time() // 1000
        )
        await self.tester.deliver("/webhooks/discord", raw, headers)
        return interaction


class WhatsAppDriver:
    """Deliveries from WhatsApp users: `bot.whatsapp.user("16315551181")`."""

    def __init__(self, tester: BotTester) -> None:
        self._tester = tester

    def user(self, wa_id: str = "16315551181", *, name: str = "Ann") -> WhatsAppUser:
        return WhatsAppUser(self._tester, wa_id, name)


@dataclass
class WhatsAppUser:
    tester: BotTester
    wa_id: str
    name: str

    @property
    def thread_id(self) -> str:
        return f"whatsapp:{self.wa_id}"

    async def send(self, text: str) -> dict[str, Any]:
        """A text message from the user; the message sent."""
        message = payloads.whatsapp_text(text, user=self.wa_id)
        await self._post(message)
        return message

    async def press(self, button_id: str, title: str = "") -> None:
        """The user taps a reply button (its id is `action_id` or `action_id:value`) on the
        bot's latest message."""
        sent = self.tester.apis.whatsapp_last_sent(self.wa_id)
        await self._post(
            payloads.whatsapp_button_reply(
                button_id, title or button_id, replied_to=sent, user=self.wa_id
            )
        )

    async def choose(self, row_id: str, title: str = "") -> None:
        """The user picks a row of the bot's list message."""
        await self._post(payloads.whatsapp_list_reply(row_id, title or row_id, user=self.wa_id))

    async def react(self, message_id: str, emoji: str) -> None:
        """The user reacts to a message (by its wamid); an empty emoji takes it back."""
        await self._post(payloads.whatsapp_reaction(message_id, emoji, user=self.wa_id))

    async def send_image(self, data: bytes, caption: str = "") -> None:
        media_id = self.tester.apis.add_whatsapp_media(data)
        await self._post(payloads.whatsapp_image(media_id, caption, user=self.wa_id))

    async def _post(self, message: dict[str, Any]) -> None:
        delivery = payloads.whatsapp_delivery([message], user=self.wa_id, name=self.name)
        raw = json.dumps(delivery).encode()
        headers = payloads.whatsapp_signed_headers(WHATSAPP_APP_SECRET, raw)
        await self.tester.deliver("/webhooks/whatsapp", raw, headers)


class SlackDriver:
    """Events from Slack: `bot.slack.channel("C0123")`, `bot.slack.dm("D0123")`."""

    def __init__(self, tester: BotTester) -> None:
        self._tester = tester

    def channel(self, channel_id: str, *, thread_ts: str | None = None) -> SlackChannel:
        return SlackChannel(self._tester, channel_id, thread_ts)

    def dm(self, channel_id: str = "D0ANN") -> SlackChannel:
        return SlackChannel(self._tester, channel_id, None)


@dataclass
class SlackChannel:
    tester: BotTester
    channel_id: str
    thread_ts: str | None
    user_id: str = "U0ANN"
    username: str = "ann"
    # The ts of the last message the bot posted here: what `press` presses a button of.
    last_ts: str | None = None

    async def send(self, text: str, *, mention: bool = False) -> dict[str, Any]:
        """A user's message (an `app_mention` event when `mention`); the event sent. The first
        one starts the thread later messages go to, as a reply in Slack would."""
        ts = self._next_ts()
        build = payloads.slack_app_mention if mention else payloads.slack_message
        event = build(self.channel_id, text, ts=ts, thread_ts=self.thread_ts, user=self.user_id)
        if self.thread_ts is None and not self.channel_id.startswith("D"):
            self.thread_ts = ts
        await self._post(json.dumps(payloads.slack_event(event)).encode(), form=False)
        return event

    async def press(self, action_id: str, value: str = "") -> None:
        """The user presses a button on the bot's latest message in this thread."""
        ts = self.thread_ts or self._next_ts()
        body = payloads.slack_block_actions(
            self.channel_id,
            ts,
            action_id,
            value,
            user_id=self.user_id,
            username=self.username,
        )
        await self._post(body, form=True)

    async def send_file(
        self, name: str, data: bytes, *, mime: str = "text/plain", text: str = ""
    ) -> None:
        """A user shares a file here (a message with subtype file_share)."""
        url = self.tester.apis.add_slack_file(name, data)
        ts = self._next_ts()
        event = payloads.slack_message(
            self.channel_id, text, ts=ts, thread_ts=self.thread_ts, user=self.user_id
        )
        event |= {
            "subtype": "file_share",
            "files": [
                {"id": "F1", "name": name, "mimetype": mime, "size": len(data), "url_private": url}
            ],
        }
        await self._post(json.dumps(payloads.slack_event(event)).encode(), form=False)

    async def submit_modal(self, values: dict[str, str], *, close: bool = False) -> HttpResponse:
        """Send (or, with close, dismiss) the modal the bot opened last, as Slack posts it;
        the webhook's answer (a view_submission's is the handler's field errors)."""
        opened = self.tester.apis.sent("views.open")
        if not opened:
            raise AssertionError("the bot opened no modal")
        view = opened[-1]["view"]
        state = {
            "values": {
                block["block_id"]: {
                    block["block_id"]: {
                        "type": block["element"]["type"],
                        "value": values.get(block["block_id"]),
                    }
                    if block["element"]["type"] == "plain_text_input"
                    else {
                        "type": "static_select",
                        "selected_option": {"value": values.get(block["block_id"])},
                    }
                }
                for block in view["blocks"]
            }
        }
        payload = {
            "type": "view_closed" if close else "view_submission",
            "user": {"id": self.user_id, "username": self.username},
            "view": {**view, "id": f"V{next(_ids)}", "state": state},
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        headers = payloads.slack_signed_headers(
            SLACK_SECRET, body, self.tester.time.now_ms // 1000, form=True
        )
        return await self.tester.deliver("/webhooks/slack", body, headers)

    async def slash(self, command: str, text: str = "") -> None:
        """A slash command typed in this channel."""
        await self._post(
            payloads.slack_slash_command(command, text, self.channel_id, user=self.user_id),
            form=True,
        )

    async def react(self, ts: str, emoji: str, *, added: bool = True) -> None:
        event = payloads.slack_reaction(self.channel_id, ts, emoji, added=added, user=self.user_id)
        await self._post(json.dumps(payloads.slack_event(event)).encode(), form=False)

    async def member_event(self, user: str, kind: str = "member_joined_channel") -> None:
        """member_joined_channel, member_left_channel (the bot's user "UBOT" for the bot)."""
        event = payloads.slack_member_event(self.channel_id, user, kind)
        await self._post(json.dumps(payloads.slack_event(event)).encode(), form=False)

    async def event(self, kind: str, **fields: Any) -> None:
        """Any other event type, as the Events API delivers it."""
        event = {"type": kind, "channel": self.channel_id, "event_ts": self._next_ts(), **fields}
        await self._post(json.dumps(payloads.slack_event(event)).encode(), form=False)

    @property
    def thread_id(self) -> str:
        if self.channel_id.startswith("D") and self.thread_ts is None:
            return f"slack:{self.channel_id}:"
        return f"slack:{self.channel_id}:{self.thread_ts or ''}"

    def _next_ts(self) -> str:
        return f"{self.tester.time.now_ms / 1000 + next(_ids) / 10**6:.6f}"

    async def _post(self, body: bytes, *, form: bool) -> None:
        stamp = self.tester.time.now_ms // 1000
        headers = payloads.slack_signed_headers(SLACK_SECRET, body, stamp, form=form)
        await self.tester.deliver("/webhooks/slack", body, headers)


class WebDriver:
    """The console's chat box: `bot.web.session("s1")`."""

    def __init__(self, tester: BotTester) -> None:
        self._tester = tester

    def session(self, session_id: str = "tester") -> WebSession:
        return WebSession(self._tester, session_id)


@dataclass
class WebSession:
    tester: BotTester
    session_id: str

    @property
    def thread_id(self) -> str:
        return web_thread(self.session_id)

    async def send(self, text: str, *, file: tuple[str, bytes] | None = None) -> None:
        """Say something in the chat box, with a file (name, bytes) as the console uploads it."""
        clock = self.tester.time
        client_id = f"c{next(_ids)}"
        attachments = []
        if file is not None:
            key = f"thread-state:{self.thread_id}:upload:{client_id}"
            await self.tester.state.set(key, base64.b64encode(file[1]).decode())
            attachments.append(
                Attachment(
                    "document", file[0], len(file[1]), "application/octet-stream", key, "web"
                )
            )
        inbound = web_message(self.session_id, client_id, text, clock(), attachments)
        await self.tester.chat.accept("web", inbound)
        await self.tester.settle()

    async def press(self, message_id: str, action_id: str, value: str = "") -> None:
        inbound = web_press(
            self.session_id, f"c{next(_ids)}", Button(action_id, action_id, value), message_id
        )
        await self.tester.chat.accept("web", inbound)
        await self.tester.settle()

    async def replies(self) -> list[Message]:
        """The bot's messages in this session's thread, oldest first."""
        return [m for m in await self.tester.history(self.thread_id) if m.author.is_bot]


_ids = itertools.count(1)
