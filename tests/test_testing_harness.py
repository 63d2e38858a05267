"""chatstate.testing: a bot's setup driven in process through every platform, with virtual
time. The example bot (src/bot.py) is the bot under test."""

from __future__ import annotations

import asyncio

import pytest

from bot import setup
from chatstate import Chat, Concurrency, Context, Message, Thread
from chatstate.testing import BotTester, harness

DAY_S = 24 * 3600


async def test_a_telegram_mention_is_answered_and_subscribes_the_thread() -> None:
    async with BotTester(setup) as bot:
        chat = bot.telegram.group(-100123)
        await chat.send("hello", mention=True)
        assert bot.replies[-1].text == (
            "hi Ann! I'm listening here. (1 message(s)) You said: @my_bot hello"
        )
        assert bot.replies[-1].thread_id == chat.thread_id
        assert await bot.is_subscribed(chat.thread_id)


async def test_a_follow_up_reads_and_writes_the_thread_state() -> None:
    async with BotTester(setup) as bot:
        chat = bot.telegram.group(-100123)
        await chat.send("hello", mention=True)
        await chat.send("more")
        assert bot.replies[-1].text == "got 1 message(s), latest: more (2 in this thread)"
        assert await bot.thread_state(chat.thread_id) == {"seen": 2}


async def test_history_holds_what_was_said_and_answered() -> None:
    async with BotTester(setup) as bot:
        chat = bot.telegram.group(-100123)
        await chat.send("hello", mention=True)
        texts = [m.text for m in await bot.history(chat.thread_id)]
        assert texts == ["@my_bot hello", bot.replies[-1].text]


async def test_an_edit_reaches_the_edit_handler() -> None:
    async with BotTester(setup) as bot:
        chat = bot.telegram.group(-100123)
        sent = await chat.send("hello", mention=True)
        await chat.edit(sent, "hello again")
        assert bot.replies[-1].text == "you edited a message to: hello again"


async def test_a_button_offered_on_telegram_is_pressed() -> None:
    async with BotTester(setup) as bot:
        chat = bot.telegram.private()
        await chat.send("/start")
        assert bot.replies[-1].buttons == ["Ping"]
        await chat.press("ping")
        assert bot.replies[-1].text == "pong for Ann"
        assert [c.method for c in bot.calls].count("answerCallbackQuery") == 1


async def test_slack_mentions_and_button_presses_are_answered_in_the_thread() -> None:
    async with BotTester(setup) as bot:
        channel = bot.slack.channel("C0123")
        await channel.send("hello", mention=True)
        assert bot.replies[-1].platform == "slack"
        assert bot.replies[-1].thread_id == channel.thread_id
        await channel.press("ping")
        assert bot.replies[-1].text == "pong for ann"


async def test_the_console_chat_box_is_answered() -> None:
    async with BotTester(setup) as bot:
        session = bot.web.session()
        await session.send("hello")
        replies = await session.replies()
        assert replies[-1].text.startswith("hi Console user! I'm listening here.")


async def test_thread_state_expires_after_its_ttl_in_virtual_time() -> None:
    async with BotTester(setup) as bot:
        chat = bot.telegram.group(-100123)
        await chat.send("hello", mention=True)
        await bot.advance(29 * DAY_S)
        assert await bot.thread_state(chat.thread_id) == {"seen": 1}
        await bot.advance(2 * DAY_S)
        assert await bot.thread_state(chat.thread_id) is None


async def test_debounce_waits_in_virtual_time_and_coalesces_a_burst() -> None:
    seen: list[tuple[str, int]] = []

    def counting(chat: Chat) -> None:
        @chat.on_mention
        async def record(thread: Thread, message: Message, context: Context) -> None:
            seen.append((message.text, context.total_since_last_handler))

    debounce = Concurrency(strategy="debounce", debounce_ms=1500)
    async with BotTester(counting, concurrency=debounce) as bot:
        chat = bot.telegram.private()
        for text in ("one", "two", "three"):
            await chat.send(text)
            await bot.advance(0.5)
        assert seen == []
        await bot.advance(1.5)
        assert seen == [("three", 3)]


async def test_a_handler_that_never_finishes_fails_the_test_with_a_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def stuck(chat: Chat) -> None:
        @chat.on_mention
        async def forever(thread: Thread, message: Message) -> None:
            await asyncio.Event().wait()

    monkeypatch.setattr(harness, "SETTLE_TIMEOUT_S", 0.2)
    async with BotTester(stuck) as bot:
        with pytest.raises(AssertionError, match="does a handler wait"):
            await bot.telegram.private().send("hi")


async def test_the_example_bots_remind_command_posts_later() -> None:
    async with BotTester(setup) as bot:
        chat = bot.telegram.group(-100123)
        await chat.send("/remind 10s stretch")
        assert bot.replies[-1].text == "I'll remind you in 10s."
        await bot.advance(10)
        assert bot.replies[-1].text == "⏰ stretch"
