"""The chat runtime's pipeline and concurrency strategies (reference 3.2-3.5), with our changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import pytest

from chatstate import open_local_state
from chatstate.chat.concurrency import Concurrency
from chatstate.chat.events import Action, Message
from chatstate.chat.routing import Context
from chatstate.chat.runtime import Chat
from chatstate.chat.thread import Thread
from chatstate.chat.work_index import ParentWorkIndex, ShardWorkIndex, WorkIndex
from chatstate.platforms.base import PlatformApiError
from chatstate.state.backends.sqlite_files import LocalStateAdapter
from chatstate.state.backends.sqlite_port import SqlitePort
from support.fake_platform import FakePlatform, ManualSleep, action, as_inbound, message

THREAD = "fake:c1:t1"
DEBOUNCE_S = 1.5


class Bot:
    """A chat over fresh in-memory state, recording every handler call."""

    def __init__(
        self,
        state: LocalStateAdapter,
        concurrency: Concurrency,
        *,
        recording: bool = True,
        **options: Any,
    ) -> None:
        self.platform = FakePlatform()
        self.sleep = ManualSleep()
        self.index_sql = SqlitePort(None)
        self.chat = Chat(
            platforms=[self.platform],
            state=state,
            work_index=ParentWorkIndex(self.index_sql),
            concurrency=concurrency,
            sleep=self.sleep,
            **options,
        )
        self.calls: list[tuple[str, list[str], int]] = []
        self.entered: list[str] = []
        self.started = asyncio.Event()
        self.finish = asyncio.Event()
        self.finish.set()

        if not recording:
            return

        @self.chat.on_mention
        async def record(thread: Thread, message: Message, context: Context) -> None:
            self.started.set()
            self.entered.append(message.text)
            await self.finish.wait()
            self.calls.append(
                (message.text, [m.text for m in context.skipped], context.total_since_last_handler)
            )

    async def send(self, text: str, id: str | None = None, thread: str = THREAD) -> None:
        await self.chat.accept("fake", as_inbound(message(thread, text, id or text)))


@pytest.fixture
async def make_bot(state: LocalStateAdapter) -> AsyncIterator[Callable[..., Bot]]:
    bots: list[Bot] = []

    def make(strategy: str = "queue", recording: bool = True, **options: Any) -> Bot:
        concurrency = Concurrency(strategy=strategy, debounce_ms=1_500, **options)  # type: ignore[arg-type]
        bot = Bot(state, concurrency, recording=recording)
        bots.append(bot)
        return bot

    yield make
    for bot in bots:
        bot.finish.set()
        for _, future in bot.sleep.waiting:
            future.cancel()
        await bot.chat.idle()
        bot.index_sql.close()


async def test_a_mention_runs_its_handler_after_being_accepted(
    make_bot: Callable[..., Bot],
) -> None:
    bot = make_bot("queue")
    await bot.send("hello")
    await bot.chat.idle()
    assert bot.calls == [("hello", [], 1)]


async def test_a_redelivered_update_runs_its_handler_once(make_bot: Callable[..., Bot]) -> None:
    bot = make_bot("queue")
    for _ in range(3):
        await bot.chat.accept("fake", as_inbound(message(THREAD, "once", "m1"), delivery="d1"))
    await bot.chat.idle()
    assert bot.calls == [("once", [], 1)]


async def test_drop_drops_a_message_that_finds_the_conversation_busy(
    make_bot: Callable[..., Bot],
) -> None:
    bot = make_bot("drop")
    bot.finish.clear()
    await bot.send("first")
    await bot.started.wait()
    await bot.send("second")
    bot.finish.set()
    await bot.chat.idle()
    assert [text for text, _, _ in bot.calls] == ["first"]


async def test_queue_handles_the_latest_waiting_message_with_the_others_skipped(
    make_bot: Callable[..., Bot],
) -> None:
    bot = make_bot("queue")
    bot.finish.clear()
    await bot.send("first")
    await bot.started.wait()
    for text in ["a", "b", "c"]:
        await bot.send(text)
    bot.finish.set()
    await bot.chat.idle()
    assert bot.calls == [("first", [], 1), ("c", ["a", "b"], 3)]


async def test_queue_full_drops_the_oldest_waiting_messages(make_bot: Callable[..., Bot]) -> None:
    bot = make_bot("queue", max_queue_size=2)
    bot.finish.clear()
    await bot.send("first")
    await bot.started.wait()
    for text in ["a", "b", "c", "d"]:
        await bot.send(text)
    bot.finish.set()
    await bot.chat.idle()
    assert bot.calls[-1] == ("d", ["c"], 2)


async def test_queue_full_with_drop_newest_keeps_the_earliest_waiting(
    make_bot: Callable[..., Bot],
) -> None:
    bot = make_bot("queue", max_queue_size=2, on_queue_full="drop-newest")
    bot.finish.clear()
    await bot.send("first")
    await bot.started.wait()
    for text in ["a", "b", "c", "d"]:
        await bot.send(text)
    bot.finish.set()
    await bot.chat.idle()
    assert bot.calls[-1] == ("a", [], 1)


async def test_burst_waits_then_handles_the_latest_with_the_burst_skipped(
    make_bot: Callable[..., Bot],
) -> None:
    bot = make_bot("burst")
    for text in ["1", "2", "3", "4", "5"]:
        await bot.send(text)
    assert bot.calls == []
    assert await bot.sleep.release(DEBOUNCE_S) == 1
    await bot.chat.idle()
    assert bot.calls == [("5", ["1", "2", "3", "4"], 5)]


async def test_debounce_waits_for_quiet_before_handling_the_last_message(
    make_bot: Callable[..., Bot],
) -> None:
    bot = make_bot("debounce")
    await bot.send("1")
    await bot.send("2")
    assert await bot.sleep.release(DEBOUNCE_S) == 1
    await bot.send("3")
    assert await bot.sleep.release(DEBOUNCE_S) == 1
    assert bot.calls == []
    assert await bot.sleep.release(DEBOUNCE_S) == 1
    await bot.chat.idle()
    assert bot.calls == [("3", ["1", "2"], 3)]


async def test_concurrent_runs_handlers_of_one_thread_at_the_same_time(
    make_bot: Callable[..., Bot],
) -> None:
    bot = make_bot("concurrent")
    bot.finish.clear()
    for text in ["a", "b", "c"]:
        await bot.send(text)
    await asyncio.sleep(0.05)
    assert sorted(bot.entered) == ["a", "b", "c"]
    assert bot.calls == []
    bot.finish.set()
    await bot.chat.idle()
    assert sorted(t for t, _, _ in bot.calls) == ["a", "b", "c"]


async def test_concurrent_respects_max_concurrent(make_bot: Callable[..., Bot]) -> None:
    bot = make_bot("concurrent", max_concurrent=1)
    bot.finish.clear()
    for text in ["a", "b"]:
        await bot.send(text)
    await asyncio.sleep(0.05)
    assert bot.entered == ["a"]
    bot.finish.set()
    await bot.chat.idle()
    assert sorted(t for t, _, _ in bot.calls) == ["a", "b"]


async def test_two_threads_are_handled_in_parallel(make_bot: Callable[..., Bot]) -> None:
    bot = make_bot("queue")
    bot.finish.clear()
    await bot.send("one", thread="fake:c1:t1")
    await bot.send("two", thread="fake:c2:t1")
    await asyncio.sleep(0.05)
    assert bot.calls == []
    waiting = [t for t in bot.chat._tasks if not t.done()]
    assert len(waiting) == 2
    bot.finish.set()
    await bot.chat.idle()
    assert sorted(t for t, _, _ in bot.calls) == ["one", "two"]


def count_shard_calls(state: LocalStateAdapter) -> list[str]:
    """The shards called from now on, one entry per call."""
    calls: list[str] = []
    real = state.call_shard

    async def counting(shard: str, operations: list[list[Any]]) -> dict[str, Any]:
        calls.append(shard)
        return await real(shard, operations)

    state.call_shard = counting
    return calls


async def test_an_uncontended_message_costs_two_shard_calls(
    make_bot: Callable[..., Bot], state: LocalStateAdapter
) -> None:
    bot = make_bot("queue", recording=False)
    calls = count_shard_calls(state)
    bot.chat.on_mention(_noop)
    await bot.send("hello")
    await bot.chat.idle()
    assert len(calls) == 2


async def _noop(thread: Thread, message: Message) -> None:
    return None


async def test_a_reply_and_a_state_merge_ride_with_the_finishing_call(
    make_bot: Callable[..., Bot], state: LocalStateAdapter
) -> None:
    # The merge happens in the shard (no read first); the reply is recorded in history by
    # the finish call that acknowledges the message.
    bot = make_bot("queue", recording=False)
    calls = count_shard_calls(state)

    async def reply(thread: Thread, message: Message) -> None:
        await thread.set_state({"seen": 1})
        await thread.post("hi")
        assert [m.text for m in await thread.history(2)] == ["hi", "hello"]

    bot.chat.on_mention(reply)
    await bot.send("hello")
    await bot.chat.idle()
    assert len(calls) == 3  # accept, the assertion's history read, finish (with the merge)
    history = await state.get_list(f"msg-history:{THREAD}")
    assert [item["text"] for item in history] == ["hello", "hi"]


async def test_a_failing_handler_does_not_stop_the_queue(
    make_bot: Callable[..., Bot], caplog: pytest.LogCaptureFixture
) -> None:
    bot = make_bot("queue")

    @bot.chat.on_subscribed_message
    async def unused(thread: Thread, message: Message) -> None:
        return None

    @bot.chat.on_mention
    async def fail(thread: Thread, message: Message) -> None:
        if message.text == "boom":
            raise RuntimeError("handler bug")

    await bot.send("boom")
    await bot.chat.idle()
    await bot.send("after")
    await bot.chat.idle()
    assert [t for t, _, _ in bot.calls] == ["boom", "after"]
    assert "handler failed for fake event c1:boom in thread fake:c1:t1" in caplog.text


def work_index_of(kind: str, state: LocalStateAdapter, index_sql: SqlitePort) -> WorkIndex:
    if kind == "parent":
        return ParentWorkIndex(index_sql)
    return ShardWorkIndex(state.shards.pending_work)


@pytest.mark.parametrize("kind", ["parent", "shard"])
async def test_accepted_work_survives_a_restart_and_runs_once(
    state: LocalStateAdapter, kind: str
) -> None:
    index_sql = SqlitePort(None)
    concurrency = Concurrency(strategy="queue")
    crashed = Chat(
        platforms=[FakePlatform()],
        state=state,
        work_index=work_index_of(kind, state, index_sql),
        concurrency=concurrency,
        keep_alive=lambda task: task.cancel(),  # the process dies before any handler runs
    )
    await crashed.accept("fake", as_inbound(message(THREAD, "survivor", "m1"), "d1"))
    await state.force_release_lock("fake:c1:t1")  # its lock would lapse after the crash
    restarted = Chat(
        platforms=[FakePlatform()],
        state=state,
        work_index=work_index_of(kind, state, index_sql),
        concurrency=concurrency,
    )
    handled: list[str] = []

    @restarted.on_mention
    async def record(thread: Thread, message: Message) -> None:
        handled.append(message.text)

    await restarted.accept("fake", as_inbound(message(THREAD, "survivor", "m1"), "d1"))
    await restarted.recover()
    await restarted.idle()
    await restarted.recover()
    await restarted.idle()
    assert handled == ["survivor"]
    assert await restarted.work_index.pending() == []
    index_sql.close()


async def test_history_keeps_inbound_and_sent_messages_newest_first(
    make_bot: Callable[..., Bot],
) -> None:
    bot = make_bot("queue")
    histories: list[list[str]] = []

    @bot.chat.on_mention
    async def reply(thread: Thread, message: Message) -> None:
        await thread.post(f"re: {message.text}")
        histories.append([m.text for m in await thread.history()])

    await bot.send("hello")
    await bot.chat.idle()
    assert histories == [["re: hello", "hello"]]


async def test_thread_state_merges_and_replaces(make_bot: Callable[..., Bot]) -> None:
    bot = make_bot("queue")
    seen: list[Any] = []

    @bot.chat.on_mention
    async def remember(thread: Thread, message: Message) -> None:
        await thread.set_state({"a": 1})
        await thread.set_state({"b": 2})
        seen.append(await thread.state())
        await thread.set_state({"c": 3}, replace=True)
        seen.append(await thread.state())

    await bot.send("hello")
    await bot.chat.idle()
    assert seen == [{"a": 1, "b": 2}, {"c": 3}]


async def test_subscribed_threads_go_to_subscribed_handlers(make_bot: Callable[..., Bot]) -> None:
    bot = make_bot("queue")
    routed: list[str] = []

    @bot.chat.on_subscribed_message
    async def follow(thread: Thread, message: Message) -> None:
        routed.append(f"subscribed:{message.text}")

    await bot.chat.state.subscribe(THREAD)
    await bot.chat.accept("fake", as_inbound(message(THREAD, "plain", "p1", mention=False)))
    await bot.chat.idle()
    assert routed == ["subscribed:plain"]
    assert bot.calls == []


async def test_pattern_handlers_match_unsubscribed_messages(make_bot: Callable[..., Bot]) -> None:
    bot = make_bot("queue")
    matched: list[str] = []

    @bot.chat.on_message(r"^/start")
    async def start(thread: Thread, message: Message) -> None:
        matched.append(message.text)

    for text in ["/start now", "nothing"]:
        await bot.chat.accept("fake", as_inbound(message(THREAD, text, text, mention=False)))
        await bot.chat.idle()
    assert matched == ["/start now"]


async def test_actions_are_acknowledged_and_routed_by_action_id(
    make_bot: Callable[..., Bot],
) -> None:
    bot = make_bot("drop")
    pressed: list[str] = []

    @bot.chat.on_action("ping")
    async def ping(thread: Thread, pressed_action: Action) -> None:
        pressed.append(pressed_action.action_id)

    await bot.chat.accept("fake", as_inbound(action(THREAD, "ping", "cb1"), "d9"))
    await bot.chat.accept("fake", as_inbound(action(THREAD, "other", "cb2"), "d10"))
    await bot.chat.idle()
    assert pressed == ["ping"]
    assert bot.platform.acknowledged == ["cb1", "cb2"]


async def test_a_handler_longer_than_the_lock_ttl_never_overlaps_the_next() -> None:
    state = open_local_state()
    await state.connect()
    index_sql = SqlitePort(None)
    chat = Chat(
        platforms=[FakePlatform()],
        state=state,
        work_index=ParentWorkIndex(index_sql),
        concurrency=Concurrency(strategy="queue"),
        lock_ttl_ms=150,
    )
    active: list[str] = []
    overlaps: list[tuple[str, ...]] = []

    @chat.on_mention
    async def slow(thread: Thread, message: Message) -> None:
        active.append(message.text)
        if len(active) > 1:
            overlaps.append(tuple(active))
        await asyncio.sleep(0.5 if message.text == "slow" else 0)
        active.remove(message.text)

    await chat.accept("fake", as_inbound(message(THREAD, "slow", "m1")))
    await asyncio.sleep(0.3)  # past the lock TTL: only renewal keeps the lock
    await chat.accept("fake", as_inbound(message(THREAD, "next", "m2")))
    await chat.idle()
    assert overlaps == []
    await state.disconnect()
    index_sql.close()


def test_max_concurrent_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_concurrent"):
        Concurrency(strategy="concurrent", max_concurrent=0)


async def test_a_handler_whose_lock_was_taken_over_stops_without_acknowledging(
    make_bot: Callable[..., Bot], state: LocalStateAdapter
) -> None:
    bot = make_bot("queue")

    @bot.chat.on_mention
    async def overtaken(thread: Thread, message: Message) -> None:
        await state.force_release_lock("fake:c1:t1")
        await state.acquire_lock("fake:c1:t1", 30_000)
        await thread.set_state({"stale": True})

    await bot.send("hello")
    await bot.chat.idle()
    assert await state.queue_depth("fake:c1:t1") == 1  # left for the lock's new holder


async def test_a_duplicate_delivery_leaves_no_pending_work(make_bot: Callable[..., Bot]) -> None:
    bot = make_bot("queue")
    await bot.chat.accept("fake", as_inbound(message(THREAD, "once", "m1"), delivery="d1"))
    await bot.chat.idle()
    await bot.chat.accept("fake", as_inbound(message(THREAD, "once", "m1"), delivery="d1"))
    assert await bot.chat.work_index.pending() == []


async def test_each_thread_that_waited_behind_a_shared_lock_gets_its_own_handler_call(
    make_bot: Callable[..., Bot],
) -> None:
    bot = make_bot("queue")
    bot.platform.lock_scope = "channel"  # one lock for the whole chat, as on Telegram
    bot.finish.clear()
    await bot.send("first", thread="fake:c1:t1")
    await bot.started.wait()
    await bot.send("b1", thread="fake:c1:t2")
    await bot.send("a1", thread="fake:c1:t1")
    await bot.send("b2", thread="fake:c1:t2")
    bot.finish.set()
    await bot.chat.idle()
    assert bot.calls == [("first", [], 1), ("a1", [], 1), ("b2", ["b1"], 2)]


async def test_an_edit_goes_to_edit_handlers_only_and_stays_out_of_history(
    make_bot: Callable[..., Bot],
) -> None:
    bot = make_bot("queue")
    edits: list[str] = []

    @bot.chat.on_edited_message
    async def edited(thread: Thread, message: Message) -> None:
        edits.append(message.text)

    edit = replace(message(THREAD, "fixed", "m1:edit:1"), is_edit=True)
    await bot.chat.accept("fake", as_inbound(edit))
    await bot.chat.idle()
    assert (edits, bot.calls) == (["fixed"], [])
    assert await bot.chat.state.get_list(f"msg-history:{THREAD}") == []


async def test_an_action_whose_acknowledgement_fails_still_runs_its_handler(
    make_bot: Callable[..., Bot],
) -> None:
    bot = make_bot("queue")

    async def refuse(action: Action) -> None:
        raise PlatformApiError("fake answerCallbackQuery failed with HTTP 400: query is too old")

    bot.platform.acknowledge = refuse  # type: ignore[method-assign]
    pressed: list[str] = []

    @bot.chat.on_action("ping")
    async def ping(thread: Thread, action: Action) -> None:
        pressed.append(action.id)

    await bot.chat.accept("fake", as_inbound(action(THREAD, "ping", "press-1")))
    await bot.chat.idle()
    assert pressed == ["press-1"]


async def test_stop_leaves_a_handler_past_its_grace_queued_and_its_lock_free(
    make_bot: Callable[..., Bot],
) -> None:
    bot = make_bot("queue")
    bot.finish.clear()
    await bot.send("slow")
    await bot.started.wait()
    assert await bot.chat.stop(grace_s=0.01) == 1
    assert await bot.chat.state.queue_depth(THREAD) == 1
    assert await bot.chat.work_index.pending() == [THREAD]
    assert await bot.chat.state.acquire_lock(THREAD, 1_000) is not None


async def test_stop_waits_for_a_handler_that_finishes_within_its_grace(
    make_bot: Callable[..., Bot],
) -> None:
    bot = make_bot("queue")
    bot.finish.clear()
    await bot.send("quick")
    await bot.started.wait()
    asyncio.get_running_loop().call_later(0.05, bot.finish.set)
    assert await bot.chat.stop(grace_s=5) == 0
    assert bot.calls == [("quick", [], 1)]
    assert await bot.chat.state.queue_depth(THREAD) == 0


# --- state writes in a handler -----------------------------------------------------------------


async def test_a_handler_reads_its_own_state_writes_before_they_are_written(
    make_bot: Callable[..., Bot], state: LocalStateAdapter
) -> None:
    bot = make_bot("queue", recording=False)
    seen: list[Any] = []

    @bot.chat.on_mention
    async def count(thread: Thread, message: Message) -> None:
        await thread.set_state({"a": 1})
        await thread.set_state({"b": 2})
        seen.append(await thread.state())
        seen.append(await state.get(f"thread-state:{THREAD}"))

    await bot.send("hello")
    await bot.chat.idle()
    assert seen == [{"a": 1, "b": 2}, None]
    assert await state.get(f"thread-state:{THREAD}") == {"a": 1, "b": 2}


async def test_a_handler_that_raises_writes_none_of_its_state(
    make_bot: Callable[..., Bot], state: LocalStateAdapter
) -> None:
    bot = make_bot("queue", recording=False)

    @bot.chat.on_mention
    async def fail(thread: Thread, message: Message) -> None:
        await thread.set_state({"half": "done"})
        await thread.channel.set_state({"also": "dropped"})
        raise RuntimeError("midway")

    await bot.send("hello")
    await bot.chat.idle()
    assert await state.get(f"thread-state:{THREAD}") is None
    assert await state.get("channel-state:fake:c1") is None


async def test_flush_writes_at_once_and_survives_a_later_raise(
    make_bot: Callable[..., Bot], state: LocalStateAdapter
) -> None:
    bot = make_bot("queue", recording=False)
    written: list[Any] = []

    @bot.chat.on_mention
    async def flush_then_fail(thread: Thread, message: Message) -> None:
        await thread.set_state({"kept": True})
        await thread.flush()
        written.append(await state.get(f"thread-state:{THREAD}"))
        await thread.set_state({"lost": True})
        raise RuntimeError("after the flush")

    await bot.send("hello")
    await bot.chat.idle()
    assert written == [{"kept": True}]
    assert await state.get(f"thread-state:{THREAD}") == {"kept": True}


async def test_a_handler_whose_lock_was_taken_over_writes_no_state(
    make_bot: Callable[..., Bot], state: LocalStateAdapter
) -> None:
    bot = make_bot("queue", recording=False)

    @bot.chat.on_mention
    async def slow(thread: Thread, message: Message) -> None:
        await thread.set_state({"stale": True})
        # Another holder takes the conversation over meanwhile.
        await state.force_release_lock("fake:c1:t1")
        assert await state.acquire_lock("fake:c1:t1", 30_000) is not None

    await bot.send("hello")
    await bot.chat.idle()
    assert await state.get(f"thread-state:{THREAD}") is None
