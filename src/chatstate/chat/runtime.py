"""The chat runtime: accepts updates durably, then runs handlers one conversation at a time.

An accepted update is deduped and recorded in its conversation's queue, in one shard call,
before the webhook is answered; it leaves the queue only after its handler has finished. A
crash during a handler therefore runs it again after restart (at least once), and a platform's
retry of an accepted update is recognised by its dedupe key and never runs it twice.

Uncontended, a message costs two shard calls: accept (dedupe, history, enqueue, lock, peek) and
finish (acknowledge, release, look for more). The reference makes six to ten.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from chatstate.chat.concurrency import Concurrency
from chatstate.chat.content import Modal, check_modal
from chatstate.chat.events import (
    Action,
    Event,
    Inbound,
    Membership,
    Message,
    Migration,
    ModalSubmission,
    Reaction,
    Update,
    event_from_json,
)
from chatstate.chat.observers import ChatObserver, HandlerFailure
from chatstate.chat.routing import Command, Context, Handler, Middleware, Router, call_handler
from chatstate.chat.schedule import MemoryWakeups, Wakeups
from chatstate.chat.services import DEFAULT_STREAM_INTERVAL_MS, ThreadServices
from chatstate.chat.thread import THREAD_STATE_TTL_MS, RoundState, Thread, content_from_json
from chatstate.chat.transcripts import Transcripts
from chatstate.chat.work_index import WorkIndex
from chatstate.errors import LockLostError
from chatstate.platforms.base import Platform
from chatstate.state.adapter import Lock, Pending, QueueEntry, StateAdapter, StateBatch, Turn

logger = logging.getLogger("chatstate.chat")

DEFAULT_LOCK_TTL_MS = 30_000
MAX_LOCK_LIFETIME_MS = 600_000
DEDUPE_TTL_MS = 600_000
HISTORY_MAX_MESSAGES = 100
HISTORY_TTL_MS = 7 * 24 * 3600 * 1000

# Called with each background task as it starts: a runtime that must be told about work that
# outlives a request (a Durable Object's waitUntil) hooks in here.
KeepAlive = Callable[["asyncio.Task[None]"], object]
Sleep = Callable[[float], Awaitable[None]]
MessageHandler = Callable[..., Awaitable[None]]
# The conversation API's responder (chatstate.conversations.responder.Responder), kept opaque
# here: the chat runtime stores it for that feature and never calls it.
AgentResponder = Callable[[Any], Any]
# What `chat.respond(thread, message)` asks: the reply's text, or its chunks as they come.
ThreadResponder = Callable[[Thread, Message], "Awaitable[str] | AsyncIterator[str]"]
# What open_modal keeps for the submission, and for how long.
MODAL_CONTEXT_TTL_MS = 3600_000
# A scheduled post is claimed for this long while it is sent; then it may be claimed again.
SEND_LEASE_MS = 60_000


@dataclass
class _Round:
    """What handlers of one round did: replies to record, failures to tell observers."""

    sent: list[Message] = field(default_factory=list)
    failures: list[HandlerFailure] = field(default_factory=list)
    state: RoundState = field(default_factory=RoundState)


@dataclass
class _Held:
    """A lock while a handler runs, renewed by a heartbeat (reference 3.5)."""

    lock: Lock
    held_until: int
    lost: bool = False


class Chat(Router):
    """A bot: its platforms, its handlers, and the state they share.

    ```python
    bot = Chat(platforms=[telegram, slack], state=state, concurrency=Concurrency("burst"))

    @bot.on_mention
    async def hello(thread, message):
        await thread.post(f"hi {message.author.name}")
    ```
    """

    def __init__(
        self,
        *,
        platforms: list[Platform],
        state: StateAdapter,
        work_index: WorkIndex,
        concurrency: Concurrency | None = None,
        user_name: str = "bot",
        lock_ttl_ms: int = DEFAULT_LOCK_TTL_MS,
        dedupe_ttl_ms: int = DEDUPE_TTL_MS,
        keep_alive: KeepAlive | None = None,
        sleep: Sleep = asyncio.sleep,
        observers: Sequence[ChatObserver] = (),
        stream_interval_ms: int = DEFAULT_STREAM_INTERVAL_MS,
        wakeups: Wakeups | None = None,
    ) -> None:
        super().__init__("chat")
        self.platforms = {p.name: p for p in platforms}
        self.state = state
        self.work_index = work_index
        self.concurrency = concurrency or Concurrency()
        self.user_name = user_name
        self.lock_ttl_ms = lock_ttl_ms
        self.dedupe_ttl_ms = dedupe_ttl_ms
        self.transcripts = Transcripts(state)
        self.observers = list(observers)
        self._sleep = sleep
        self._keep_alive = keep_alive
        self._tasks: set[asyncio.Task[None]] = set()
        # Conversations this process is handling now: recovery leaves them to their runner.
        self._running: set[str] = set()
        self._slots = asyncio.Semaphore(self.concurrency.max_concurrent or 2**31)
        # What answers users of the conversation API; None: the default responder.
        self.agent_responder: AgentResponder | None = None
        # What `respond` asks for a chat thread's reply; None: a deterministic echo.
        self.thread_responder: ThreadResponder | None = None
        self.wakeups = wakeups or MemoryWakeups()
        # Timers for scheduled posts, per shard: (when, task).
        self._timers: dict[str, tuple[int, asyncio.Task[None]]] = {}
        self.services = ThreadServices(
            sleep=sleep,
            stream_interval_ms=stream_interval_ms,
            record_now=self._record_now,
            scheduled=self._scheduled,
        )

    # --- registering handlers ----------------------------------------------------------------

    def on_agent_message(self, fn: AgentResponder) -> AgentResponder:
        """The conversation API's responder: `fn(turn)` returns the reply's text or yields it
        in chunks (see chatstate.conversations.responder). One per bot; the last one wins."""
        self.agent_responder = fn
        return fn

    # --- outside handlers ----------------------------------------------------------------------

    def thread(self, thread_id: str) -> Thread:
        """A thread to post to outside any handler (alerts, reminders): `await
        chat.thread("telegram:-100123").post("deploy finished")`. Posts enter its history."""
        platform_name = thread_id.split(":", 1)[0]
        platform = self.platforms.get(platform_name)
        if platform is None:
            configured = ", ".join(sorted(self.platforms)) or "none"
            raise ValueError(
                f"no platform {platform_name!r} for thread {thread_id!r} (configured: {configured})"
            )
        channel_id = ":".join(thread_id.split(":")[:2])
        return Thread(
            self.state,
            platform,
            thread_id,
            channel_id=channel_id,
            is_dm=False,
            lock=None,
            sent=None,
            services=self.services,
        )

    async def open_dm(self, platform: str, user_id: str) -> Thread:
        """The direct conversation with a user, to post to outside any handler."""
        if platform not in self.platforms:
            raise ValueError(f"no platform {platform!r} is configured")
        return self.thread(await self.platforms[platform].open_dm(user_id))

    def respond(self, thread: Thread, message: Message) -> AsyncIterator[str]:
        """The configured responder's answer to `message`, as chunks to `thread.post`: with
        the thread's recent history and memory facts. Without a responder, an echo."""
        responder = self.thread_responder or _echo

        async def chunks() -> AsyncIterator[str]:
            answer = responder(thread, message)
            if inspect.isawaitable(answer):
                yield await answer
            else:
                async for chunk in answer:
                    yield chunk

        return chunks()

    @property
    def has_responder(self) -> bool:
        return self.thread_responder is not None

    async def _record_now(self, platform_name: str, messages: list[Message]) -> None:
        if not self.platforms[platform_name].persist_history:
            return
        batch = self.state.batch()
        self._append_history(batch, messages)
        await batch.run()

    # --- scheduled posts -----------------------------------------------------------------------

    async def _scheduled(self, shard: str, at_ms: int) -> None:
        await self.wakeups.remember(shard, at_ms)
        self._arm(shard, at_ms)

    def _arm(self, shard: str, at_ms: int) -> None:
        if self.wakeups.wakes_itself:
            return
        armed = self._timers.get(shard)
        if armed is not None and armed[0] <= at_ms and not armed[1].done():
            return
        if armed is not None:
            armed[1].cancel()
        timer = asyncio.get_running_loop().create_task(self._fire_at(shard, at_ms))
        self._timers[shard] = (at_ms, timer)

    async def _fire_at(self, shard: str, at_ms: int) -> None:
        await self._sleep(max(0, at_ms - self.state.clock()) / 1000)
        self._timers.pop(shard, None)
        try:
            await self.send_due(shard)
        except Exception:
            logger.exception("scheduled posts of shard %s could not be sent", shard)

    async def send_due(self, shard: str) -> None:
        """Send the posts of `shard` whose time has come, each at least once; re-arm."""
        batch = self.state.batch()
        claimed = batch.on_shard(shard, ["claim_due", SEND_LEASE_MS], _raw)
        await batch.run()
        failed = False
        for post in claimed.value:
            try:
                await self.thread(post["thread_id"]).post(content_from_json(post["content"]))
            except Exception:
                failed = True
                logger.exception("scheduled post %s to %s failed", post["id"], post["thread_id"])
                continue
            batch = self.state.batch()
            batch.on_shard(shard, ["finish_scheduled", post["id"]], _raw)
            await batch.run()
        batch = self.state.batch()
        upcoming = batch.on_shard(shard, ["next_scheduled"], _raw)
        await batch.run()
        if upcoming.value is None:
            await self.wakeups.forget(shard)
            return
        # A post that failed waits for its claim to lapse before it is tried again.
        at = self.state.clock() + SEND_LEASE_MS if failed else int(upcoming.value)
        await self._scheduled(shard, max(at, int(upcoming.value)))

    # --- accepting ---------------------------------------------------------------------------

    def queue_key(self, platform: Platform, event: Event) -> str:
        """The lock and queue key: the channel for channel-scoped platforms, else the thread."""
        return event.channel_id if platform.lock_scope == "channel" else event.thread_id

    async def accept(self, platform_name: str, inbound: Inbound) -> None:
        """Record a verified delivery durably; handlers run after this returns."""
        platform = self.platforms[platform_name]
        for index, event in enumerate(inbound.events):
            await self._accept_event(platform, event, inbound.delivery_id, index)

    async def _accept_event(
        self, platform: Platform, event: Event, delivery_id: str | None, index: int
    ) -> None:
        key = self.queue_key(platform, event)
        chat_part = event.channel_id.split(":", 1)[1]
        now = self.state.clock()
        strategy = self.concurrency.strategy
        before = self.work_index.accepting(key)
        batch = self.state.batch()
        # Every event's id is fixed by its delivery (a message id, a press's id, an update's
        # delivery id and index), so its own key recognises a redelivery: one claim, not two.
        event_key = (
            f"dedupe:{platform.name}:{event.id}"
            if isinstance(event, Message)
            else f"dedupe:{platform.name}:{chat_part}:a{event.id}"
        )
        fresh = batch.set_if_not_exists(event_key, True, self.dedupe_ttl_ms)
        if isinstance(event, Message) and not event.is_edit and platform.persist_history:
            self._append_history(batch, [event], condition=fresh)
        entry = QueueEntry(event.to_json(), now, now + self.concurrency.queue_entry_ttl_ms)
        state_key = f"thread-state:{event.thread_id}"
        lock: Pending[Lock | None] | None = None
        turn: Pending[Turn | None] | None = None
        peeked: Pending[list[tuple[int, QueueEntry]]] | None = None
        if strategy == "concurrent":
            depth = batch.only_if(fresh).enqueue(key, entry, self.concurrency.max_queue_size)
            peeked = batch.only_if(fresh).peek_queue(key)
        elif strategy == "drop" and isinstance(event, Message):
            # Drop: a message that finds the conversation busy is not recorded at all.
            lock = batch.only_if(fresh).acquire_lock(key, self.lock_ttl_ms)
            depth = batch.only_if(lock).enqueue(key, entry, self.concurrency.max_queue_size)
            peeked = batch.only_if(lock).peek_queue(key)
        else:
            drop_newest = self.concurrency.on_queue_full == "drop-newest" and strategy != "debounce"
            depth = batch.only_if(fresh).enqueue(
                key, entry, self.concurrency.max_queue_size, drop_newest=drop_newest
            )
            if self._one_shard(key, event.thread_id, state_key):
                # The handler holds the lock taken here, so nothing else writes this thread's
                # state until it is done: read with the lock, in the same statement, it spares
                # the handler a call of its own.
                turn = batch.only_if(fresh).begin_turn(
                    key, self.lock_ttl_ms, thread_id=event.thread_id, state_key=state_key
                )
            else:
                lock = batch.only_if(fresh).acquire_lock(key, self.lock_ttl_ms)
                peeked = batch.only_if(lock).peek_queue(key)
        subscribed = (
            None if turn is not None else batch.only_if(fresh).is_subscribed(event.thread_id)
        )
        thread_state = None if lock is None else batch.only_if(lock).get(state_key)
        self.work_index.add_to_accept(batch, key, depth)
        await batch.run()
        self.work_index.accepted(key, before, bool(fresh.value and depth.value))
        if not (fresh.value and depth.value):
            if not fresh.value:
                logger.info("duplicate %s delivery ignored: %s", platform.name, event.id)
            else:
                logger.info("%s message %s dropped: %s is busy", platform.name, event.id, key)
            return
        for observer in self.observers:
            self._spawn(observer.event_accepted(event, key))
        taken = None if turn is None else turn.value
        if taken is not None:
            hints: dict[str, Any] = {event.id: taken.subscribed, state_key: taken.state}
            self._spawn(self._run_locked(platform, key, taken.lock, taken.entries, hints))
            return
        hints = {event.id: bool(subscribed is not None and subscribed.value)}
        entries = [] if peeked is None else peeked.value or []
        if strategy == "concurrent":
            self._spawn(self._run_concurrent(platform, key, entries, event.id, hints))
        elif lock is not None and lock.value is not None:
            if thread_state is not None:
                hints[state_key] = thread_state.value
            self._spawn(self._run_locked(platform, key, lock.value, entries, hints))
        # Otherwise the conversation is busy: its lock holder finds this entry before it stops.

    def _one_shard(self, queue_key: str, thread_id: str, state_key: str) -> bool:
        router = self.state.router
        shard = router.for_thread(queue_key)
        return router.for_thread(thread_id) == shard and router.for_key(state_key) == shard

    def _append_history(
        self, batch: Any, messages: list[Message], condition: Pending[Any] | None = None
    ) -> None:
        for message in messages:
            stored = Message(**{**message.__dict__, "raw": None}).to_json()
            keys = {f"msg-history:{message.thread_id}", f"msg-history:{message.channel_id}"}
            for key in sorted(keys):
                target = batch if condition is None else batch.only_if(condition)
                target.append_to_list(
                    key, stored, max_length=HISTORY_MAX_MESSAGES, ttl_ms=HISTORY_TTL_MS
                )

    # --- running handlers --------------------------------------------------------------------

    async def _run_locked(
        self,
        platform: Platform,
        key: str,
        lock: Lock,
        entries: list[tuple[int, QueueEntry]],
        hints: dict[str, Any],
    ) -> None:
        self._running.add(key)
        try:
            await self._run_rounds(platform, key, lock, entries, hints)
        finally:
            self._running.discard(key)

    async def _run_rounds(
        self,
        platform: Platform,
        key: str,
        lock: Lock,
        entries: list[tuple[int, QueueEntry]],
        hints: dict[str, Any],
    ) -> None:
        strategy = self.concurrency.strategy
        first_round = True
        while True:
            async with self._holding(lock) as held:
                if strategy == "burst" and first_round:
                    await self._sleep(self.concurrency.debounce_ms / 1000)
                    entries = await self._peek(key)
                if strategy == "debounce":
                    entries = await self._settle(key, entries, held)
                first_round = False
                if held.lost:
                    return
                known = {k: v for k, v in hints.items() if k.startswith("thread-state:")}
                done = _Round(state=RoundState(known=known))
                try:
                    await self._handle_round(platform, entries, held.lock, hints, done)
                except LockLostError:
                    # A guarded write was refused: another holder has the conversation and
                    # will handle what this round did not acknowledge.
                    logger.warning("lock on %s was lost while its handler ran", key)
                    return
                hints = {}
                before = self.work_index.finishing(key)
                batch = self.state.batch()
                self._record_round(batch, platform, done)
                for write in done.state.writes:
                    operation = batch.set if write.replace else batch.merge
                    operation(write.key, write.values, THREAD_STATE_TTL_MS, guard=write.guard)
                batch.ack_queue(key, [seq for seq, _ in entries], guard=held.lock)
                # The release checks the lock for every guarded write of the batch too.
                idle = batch.release_lock_if_idle(held.lock)
                self.work_index.add_to_finish(batch, key)
                try:
                    await batch.run()
                except LockLostError:
                    logger.warning("lock on %s was lost while its handler ran", key)
                    return
            await self.work_index.finished(key, before, idle=idle.value)
            if idle.value:
                return
            # More arrived while the handler ran, and the lock is still ours: renew it and go
            # on. If it lapsed meanwhile, whoever took it handles what is waiting.
            batch = self.state.batch()
            renewed = batch.extend_lock(held.lock, self.lock_ttl_ms)
            peeked = batch.only_if(renewed).peek_queue(key)
            renewed_at = self.state.clock()
            await batch.run()
            if not renewed.value:
                return
            lock = dataclasses.replace(held.lock, expires_at=renewed_at + self.lock_ttl_ms)
            entries = peeked.value or []

    async def _run_concurrent(
        self,
        platform: Platform,
        key: str,
        entries: list[tuple[int, QueueEntry]],
        event_id: str,
        hints: dict[str, Any],
    ) -> None:
        own = [(seq, e) for seq, e in entries if e.message.get("id") == event_id]
        done = _Round()
        async with self._slots:
            for _, entry in own:
                await self._dispatch(
                    platform, event_from_json(entry.message), Context(), None, hints, done
                )
        before = self.work_index.finishing(key)
        batch = self.state.batch()
        self._record_round(batch, platform, done)
        batch.ack_queue(key, [seq for seq, _ in own])
        more = batch.peek_queue(key)
        self.work_index.add_to_finish(batch, key)
        await batch.run()
        await self.work_index.finished(key, before, idle=not more.value)

    async def _peek(self, key: str) -> list[tuple[int, QueueEntry]]:
        batch = self.state.batch()
        peeked = batch.peek_queue(key)
        await batch.run()
        return peeked.value

    async def _settle(
        self, key: str, entries: list[tuple[int, QueueEntry]], held: _Held
    ) -> list[tuple[int, QueueEntry]]:
        """Debounce: wait until no message has arrived for debounce_ms (reference 3.4)."""
        while not held.lost:
            await self._sleep(self.concurrency.debounce_ms / 1000)
            latest = await self._peek(key)
            if [s for s, _ in latest] == [s for s, _ in entries]:
                return latest
            entries = latest
        return entries

    async def _handle_round(
        self,
        platform: Platform,
        entries: list[tuple[int, QueueEntry]],
        lock: Lock,
        hints: dict[str, Any],
        done: _Round,
    ) -> None:
        """Handle what one lock round took from the queue.

        Actions and edits are handled one by one. New messages are coalesced per thread: the
        latest of each thread runs with that thread's earlier ones in `context.skipped`. One
        lock may cover several threads (a Telegram chat's forum topics), and a message of a
        thread that waited behind another is never lost to that thread's coalescing."""
        now = self.state.clock()
        events = [event_from_json(e.message) for _, e in entries if e.expires_at >= now]
        by_thread: dict[str, list[Message]] = {}
        for event in events:
            if isinstance(event, Message) and not event.is_edit:
                by_thread.setdefault(event.thread_id, []).append(event)
            else:
                await self._dispatch(platform, event, Context(), lock, hints, done)
        latest_last = sorted(by_thread.values(), key=lambda ms: events.index(ms[-1]))
        for messages in latest_last:
            context = Context(messages[:-1], len(messages))
            await self._dispatch(platform, messages[-1], context, lock, hints, done)

    async def _dispatch(
        self,
        platform: Platform,
        event: Event,
        context: Context,
        lock: Lock | None,
        hints: dict[str, Any],
        done: _Round,
    ) -> None:
        thread = Thread(
            self.state,
            platform,
            event.thread_id,
            channel_id=event.channel_id,
            is_dm=isinstance(event, Message) and event.is_dm,
            lock=lock,
            sent=done.sent,
            services=self.services,
            answering=event if isinstance(event, Message) else None,
            round_state=done.state if lock is not None else None,
        )
        try:
            await self._run_handlers(platform, thread, event, context, hints)
            thread._keep_writes()
        except LockLostError:
            raise
        except Exception as error:
            # One failing handler must not stop the conversation's queue; the entry is still
            # acknowledged, so a handler that always fails is not retried forever.
            done.failures.append(
                HandlerFailure(
                    event.thread_id,
                    event.id,
                    f"{type(error).__name__}: {error}",
                    self.state.clock(),
                )
            )
            logger.exception(
                "handler failed for %s event %s in thread %s",
                platform.name,
                event.id,
                event.thread_id,
            )

    async def _run_handlers(
        self,
        platform: Platform,
        thread: Thread,
        event: Event,
        context: Context,
        hints: dict[str, Any],
    ) -> None:
        """Choose the handlers of `event` (chat/routing.py says in which order) and run them."""
        if isinstance(event, Action):
            await self._acknowledge(platform, event)
            object.__setattr__(event, "_open_modal", self._modal_opener(platform, event))
            await self._run(
                self._chosen("action", event, key=event.action_id), thread, event, context
            )
        elif isinstance(event, ModalSubmission):
            restored = await self._with_context(event)
            chosen = self._chosen("modal_close", restored, key=event.callback_id)
            await self._run(chosen, thread, restored, context)
        elif isinstance(event, Reaction):
            chosen = [
                (h, m)
                for h, m in self._chosen("reaction", event)
                if h.emojis is None or event.emoji in h.emojis
            ]
            await self._run(chosen, thread, event, context)
        elif isinstance(event, Membership):
            await self._run(self._chosen(event.kind, event), thread, event, context)
            if event.kind == "bot_removed":
                await thread.unsubscribe()
        elif isinstance(event, Migration):
            await self._migrate(event)
        elif isinstance(event, Update):
            await self._run(self._chosen("update", event, key=event.kind), thread, event, context)
        else:
            message = await platform.prepare(event)
            if message.for_another_bot:
                return
            if message.attachments:
                bound = [a.bound(platform) for a in message.attachments]  # type: ignore[arg-type]
                message = dataclasses.replace(message, attachments=bound)
            await self._run_message(thread, message, context, hints)

    async def _run_message(
        self, thread: Thread, message: Message, context: Context, hints: dict[str, Any]
    ) -> None:
        if message.is_edit:
            await self._run(self._chosen("edited", message), thread, message, context)
            return
        if message.command is not None:
            chosen = self._chosen("command", message, key=message.command["name"])
            if chosen:
                command = Command(message.command["name"], message.command["args"], message)
                object.__setattr__(
                    command, "_open_modal", self._modal_opener(thread._platform, message)
                )
                await self._run(chosen, thread, command, context)
                return
        subscribed = hints.get(message.id)
        if subscribed is None:
            subscribed = await self.state.is_subscribed(message.thread_id)
        for kind in self._message_kinds(message, subscribed):
            chosen = self._chosen(kind, message)
            if kind == "message":
                chosen = [
                    (h, m) for h, m in chosen if h.pattern is None or h.pattern.search(message.text)
                ]
            if chosen or kind in ("mention", "message"):
                await self._run(chosen, thread, message, context)
                return

    def _message_kinds(self, message: Message, subscribed: bool) -> list[str]:
        """The kinds a message may reach, first with handlers wins (chat/routing.py)."""
        kinds = ["subscribed"] if subscribed else []
        if message.is_dm:
            return [*kinds, "direct", "mention"]
        if message.is_mention:
            return [*kinds, "mention"]
        return [*kinds, "message"]

    def _chosen(
        self, kind: str, event: Any, *, key: str | None = None
    ) -> list[tuple[Handler, list[Middleware]]]:
        return [
            (handler, middleware)
            for handler, middleware in self.handlers(kind)
            if handler.key in (None, key) and handler.accepts(event)
        ]

    async def _run(
        self,
        chosen: list[tuple[Handler, list[Middleware]]],
        thread: Thread,
        event: Any,
        context: Context,
    ) -> None:
        for handler, middleware in chosen:

            async def run(event: Any, context: Context, handler: Handler = handler) -> None:
                if handler.wants_context:
                    await handler.fn(thread, event, context)
                else:
                    await handler.fn(thread, event)

            await call_handler(handler, middleware, event, context, run)

    def _modal_opener(self, platform: Platform, trigger: Event) -> Any:
        async def open_modal(modal: Modal, context: Any) -> None:
            check_modal(modal)
            key = f"thread-state:{trigger.thread_id}:modal:{uuid.uuid4().hex}"
            await self.state.set(key, context, MODAL_CONTEXT_TTL_MS)
            await platform.open_modal(trigger, modal, {"thread": trigger.thread_id, "key": key})

        return open_modal

    async def _with_context(self, submission: ModalSubmission) -> ModalSubmission:
        if not submission.context_key.startswith("thread-state:"):
            return submission
        return dataclasses.replace(submission, context=await self.state.get(submission.context_key))

    async def submit(self, platform_name: str, inbound: Inbound) -> dict[str, str] | None:
        """A modal's submission, answered by its handlers at once: the field errors to show
        (by input id), or None once it is accepted (its stored context is then removed)."""
        [event] = inbound.events
        if not isinstance(event, ModalSubmission):
            raise ValueError("only a modal's submission is answered by its handler")
        submission = await self._with_context(event)
        thread = self.thread(submission.thread_id)
        context = Context()
        for handler, middleware in self._chosen("modal_submit", submission, key=event.callback_id):

            async def run(event: Any, context: Context, handler: Handler = handler) -> Any:
                if handler.wants_context:
                    return await handler.fn(thread, event, context)
                return await handler.fn(thread, event)

            try:
                result = await call_handler(handler, middleware, submission, context, run)
            except Exception:
                logger.exception("modal %s submit handler failed", event.callback_id)
                return None
            if isinstance(result, dict) and result:
                return {str(field): str(error) for field, error in result.items()}
        if submission.context_key.startswith("thread-state:"):
            await self.state.delete(submission.context_key)
        return None

    async def _migrate(self, migration: Migration) -> None:
        """A Telegram group became a supergroup: its subscription, state and history move to
        the new chat id, in the new chat's shard; the old ones are removed."""
        old, new = migration.channel_id, migration.to_channel_id
        batch = self.state.batch()
        subscribed = batch.is_subscribed(old)
        thread_state = batch.get(f"thread-state:{old}")
        channel_state = batch.get(f"channel-state:{old}")
        history = batch.get_list(f"msg-history:{old}")
        await batch.run()
        batch = self.state.batch()
        if subscribed.value:
            batch.subscribe(new)
        if thread_state.value is not None:
            batch.set(f"thread-state:{new}", thread_state.value, THREAD_STATE_TTL_MS)
        if channel_state.value is not None:
            batch.set(f"channel-state:{new}", channel_state.value, THREAD_STATE_TTL_MS)
        for item in history.value:
            batch.append_to_list(
                f"msg-history:{new}", item, max_length=HISTORY_MAX_MESSAGES, ttl_ms=HISTORY_TTL_MS
            )
        await batch.run()
        batch = self.state.batch()
        batch.unsubscribe(old)
        batch.delete(f"thread-state:{old}")
        batch.delete(f"channel-state:{old}")
        batch.delete(f"msg-history:{old}")
        await batch.run()
        logger.info("telegram chat %s became %s: its state moved", old, new)

    def _record_round(self, batch: StateBatch, platform: Platform, done: _Round) -> None:
        """Add a round's replies, and what observers write of its failures, to its finishing
        batch."""
        if platform.persist_history:
            self._append_history(batch, done.sent)
        last = list({failure.thread_id: failure for failure in done.failures}.values())
        for observer in self.observers:
            observer.round_finishing(batch, last)
            for failure in last:
                self._spawn(observer.handler_failed(platform.name, failure))

    async def _acknowledge(self, platform: Platform, action: Action) -> None:
        try:
            await platform.acknowledge(action)
        except Exception as error:
            # Telegram refuses to answer a press that waited too long ("query is too old");
            # the press still happened, so its handler still runs.
            logger.warning(
                "could not acknowledge %s action %s (%s); running its handler anyway",
                platform.name,
                action.id,
                error,
            )

    @contextlib.asynccontextmanager
    async def _holding(self, lock: Lock) -> AsyncIterator[_Held]:
        held = _Held(lock, lock.expires_at)
        started = self.state.clock()

        async def renew() -> None:
            while not held.lost:
                await self._sleep(self.lock_ttl_ms / 3 / 1000)
                now = self.state.clock()
                if now - started >= MAX_LOCK_LIFETIME_MS:
                    return  # renewal stops; the lock lapses at its TTL, as the reference
                try:
                    if await self.state.extend_lock(held.lock, self.lock_ttl_ms):
                        held.held_until = now + self.lock_ttl_ms
                    else:
                        held.lost = True
                except Exception:
                    if self.state.clock() >= held.held_until:
                        held.lost = True

        renewal = asyncio.ensure_future(renew())
        try:
            yield held
        except asyncio.CancelledError:
            # Stopped mid-handler: the work stays queued, and the next start need not wait for
            # this lock to lapse (release is token-checked, so a successor's lock is safe).
            with contextlib.suppress(Exception):
                await self.state.release_lock(held.lock)
            raise
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal

    # --- recovery and background work --------------------------------------------------------

    async def recover(self) -> list[asyncio.Task[None]]:
        """Re-drive every conversation with accepted, unhandled work (after a restart).

        Returns the started work, so a caller that must stay alive until it is done (a
        Durable Object's alarm) can await it. Scheduled posts whose time has come are part of
        it; later ones get timers."""
        started = [
            self._spawn(self._resume(key))
            for key in await self.work_index.pending()
            if key not in self._running
        ]
        now = self.state.clock()
        for shard, at_ms in await self.wakeups.shards():
            if at_ms <= now:
                started.append(self._spawn(self.send_due(shard)))
            else:
                self._arm(shard, at_ms)
        return started

    async def _resume(self, key: str) -> None:
        deadline = self.state.clock() + self.concurrency.queue_entry_ttl_ms + self.lock_ttl_ms
        while self.state.clock() < deadline:
            before = self.work_index.finishing(key)
            batch = self.state.batch()
            lock = batch.acquire_lock(key, self.lock_ttl_ms) if self.concurrency.uses_lock else None
            peeked = (batch.only_if(lock) if lock else batch).peek_queue(key)
            await batch.run()
            if lock is not None and lock.value is None:
                # Still held, perhaps by a process that died: wait for its lock to lapse.
                await self._sleep(min(1.0, self.lock_ttl_ms / 1000))
                continue
            entries = peeked.value or []
            if not entries:
                batch = self.state.batch()
                if lock is not None and lock.value is not None:
                    batch.release_lock(lock.value)
                self.work_index.add_to_finish(batch, key)
                await batch.run()
                await self.work_index.finished(key, before, idle=True)
                return
            platform = self.platforms[str(entries[0][1].message["platform"])]
            if lock is not None and lock.value is not None:
                await self._run_locked(platform, key, lock.value, entries, {})
            else:
                for _, entry in entries:
                    await self._run_concurrent(platform, key, entries, entry.message["id"], {})
            return

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        if self._keep_alive is not None:
            self._keep_alive(task)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("background chat work failed", exc_info=task.exception())

    async def stop(self, grace_s: float) -> int:
        """Give running work `grace_s` to finish, then cancel the rest; how many were cancelled.

        Cancelled work is not acknowledged, so it stays queued and is re-driven by recover()."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        while self._tasks and (remaining := deadline - loop.time()) > 0:
            await asyncio.wait(list(self._tasks), timeout=remaining)
        for _, timer in self._timers.values():
            timer.cancel()
        unfinished = list(self._tasks)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        return len(unfinished)

    @property
    def tasks(self) -> frozenset[asyncio.Task[None]]:
        """Handler work started in the background, and timers of scheduled posts, not finished."""
        return frozenset(self._tasks) | {timer for _, timer in self._timers.values()}

    async def idle(self) -> None:
        """Wait until every handler started so far has finished (tests, graceful shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _raw(value: Any) -> Any:
    return value


async def _echo(thread: Thread, message: Message) -> str:
    """The responder without a model: deterministic, so everything works offline."""
    facts = await thread.memory.facts()
    remembered = f" (I remember: {facts[-1].fact})" if facts else ""
    return f"You said: {message.text}{remembered}"
