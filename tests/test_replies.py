"""What a bot can say, on Telegram, Slack and the console's chat box, through chatstate.testing:
the API calls each reply makes (checked by fakes that refuse what the platforms refuse), its
history, and the counts of streaming, typing, pacing and scheduling in virtual time."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chatstate import Button, Chat, Message, Thread
from chatstate.chat.content import Card, File, LinkButton, Markdown, NotSupported, Select
from chatstate.chat.thread import CUT_SHORT
from chatstate.platforms.pacing import Pacer, Rate
from chatstate.testing import BotTester

Handler = Callable[[Thread, Message], Awaitable[Any]]


def bot_with(handler: Handler) -> Callable[[Chat], None]:
    """A bot whose every mention (and DM) runs `handler`; errors are what the test sees."""

    def setup(chat: Chat) -> None:
        chat.on_mention(handler)

    return setup


def raising(handler: Handler, seen: list[BaseException]) -> Handler:
    async def wrapped(thread: Thread, message: Message) -> None:
        try:
            await handler(thread, message)
        except Exception as error:
            seen.append(error)
            raise

    return wrapped


async def words(*pieces: str) -> AsyncIterator[str]:
    for piece in pieces:
        yield piece


# --- 1. formatting ---------------------------------------------------------------------------


async def test_markdown_goes_to_telegram_as_escaped_html() -> None:
    async def reply(thread: Thread, message: Message) -> None:
        await thread.post(Markdown("**hi** <b>not a tag</b> & `x<y`"))

    async with BotTester(bot_with(reply)) as bot:
        await bot.telegram.private().send("go")
        [sent] = bot.apis.sent("sendMessage")
        assert sent["parse_mode"] == "HTML"
        assert sent["text"] == "<b>hi</b> &lt;b&gt;not a tag&lt;/b&gt; &amp; <code>x&lt;y</code>"


async def test_markdown_goes_to_slack_as_mrkdwn() -> None:
    async def reply(thread: Thread, message: Message) -> None:
        await thread.post(Markdown("**hi** _there_ [docs](https://e.com)"))

    async with BotTester(bot_with(reply)) as bot:
        await bot.slack.channel("C0123").send("go", mention=True)
        [sent] = bot.apis.sent("chat.postMessage")
        assert sent["text"] == "*hi* _there_ <https://e.com|docs>"
        assert sent["mrkdwn"] is True


async def test_a_plain_str_is_literal_everywhere() -> None:
    text = "a <b> & *c* _d_"

    async def reply(thread: Thread, message: Message) -> None:
        await thread.post(text)

    async with BotTester(bot_with(reply)) as bot:
        await bot.telegram.private().send("go")
        await bot.slack.channel("C0123").send("go", mention=True)
        [telegram] = bot.apis.sent("sendMessage")
        assert telegram["text"] == text and "parse_mode" not in telegram
        [slack] = bot.apis.sent("chat.postMessage")
        assert slack["text"] == "a &lt;b&gt; &amp; *c* _d_" and slack["mrkdwn"] is False


async def test_the_console_gets_sanitised_html_for_markdown() -> None:
    async def reply(thread: Thread, message: Message) -> None:
        await thread.post(Markdown("**hi** <script>x</script>"))

    async with BotTester(bot_with(reply)) as bot:
        session = bot.web.session()
        await session.send("go")
        [answer] = await session.replies()
        assert answer.format == "markdown"
        assert bot.replies[-1].kind == "markdown"


# --- 2. long messages --------------------------------------------------------------------------


async def test_a_long_telegram_message_splits_at_paragraphs_in_order() -> None:
    paragraphs = [f"part {n}: " + "word " * 300 for n in range(10)]

    async def reply(thread: Thread, message: Message) -> None:
        await thread.post(Markdown("\n\n".join(f"**{p.strip()}**" for p in paragraphs)))

    async with BotTester(bot_with(reply)) as bot:
        await bot.telegram.private().send("go")
        sent = bot.apis.sent("sendMessage")
        assert len(sent) > 1
        shown = "".join(sent_part["text"] for sent_part in sent)
        assert [int(n) for n in re.findall(r"part (\d+)", shown)] == list(range(10))
        assert all(s["text"].startswith("<b>part") for s in sent)


async def test_a_long_slack_message_splits_under_its_limit() -> None:
    async def reply(thread: Thread, message: Message) -> None:
        await thread.post("line\n" * 2000)

    async with BotTester(bot_with(reply)) as bot:
        await bot.slack.channel("C0123").send("go", mention=True)
        sent = bot.apis.sent("chat.postMessage")
        assert len(sent) == 3
        assert all(len(s["text"]) <= 4000 for s in sent)
        assert sum(s["text"].count("line") for s in sent) == 2000


# --- 3. cards ----------------------------------------------------------------------------------

CARD = Card(
    title="Order 42",
    text=Markdown("Ready for **pickup**"),
    fields=[("Total", "€12"), ("Items", "3")],
    buttons=[Button("confirm", "Confirm"), LinkButton("Track", "https://e.com/42")],
    select=Select("rating", [("Good", "good"), ("Bad", "bad")]),
)


async def test_a_card_on_telegram_is_html_with_an_inline_keyboard() -> None:
    async def reply(thread: Thread, message: Message) -> None:
        await thread.post(CARD)

    async with BotTester(bot_with(reply)) as bot:
        await bot.telegram.private().send("go")
        [sent] = bot.apis.sent("sendMessage")
        assert sent["text"].startswith("<b>Order 42</b>\n\nReady for <b>pickup</b>")
        assert "<b>Total</b>: €12" in sent["text"]
        rows = sent["reply_markup"]["inline_keyboard"]
        assert rows[0] == [
            {"text": "Confirm", "callback_data": "confirm"},
            {"text": "Track", "url": "https://e.com/42"},
        ]
        assert rows[1:] == [
            [{"text": "Good", "callback_data": "rating:good"}],
            [{"text": "Bad", "callback_data": "rating:bad"}],
        ]
        assert bot.replies[-1].kind == "card" and bot.replies[-1].buttons == ["Confirm", "Track"]


async def test_a_card_with_an_image_on_telegram_is_a_photo_with_a_caption() -> None:
    async def reply(thread: Thread, message: Message) -> None:
        await thread.post(Card(title="Look", image_url="https://e.com/a.png"))

    async with BotTester(bot_with(reply)) as bot:
        await bot.telegram.private().send("go")
        [sent] = bot.apis.sent("sendPhoto")
        assert sent["photo"] == "https://e.com/a.png" and sent["caption"] == "<b>Look</b>"


async def test_a_card_on_slack_is_block_kit() -> None:
    async def reply(thread: Thread, message: Message) -> None:
        await thread.post(CARD)

    async with BotTester(bot_with(reply)) as bot:
        await bot.slack.channel("C0123").send("go", mention=True)
        [sent] = bot.apis.sent("chat.postMessage")
        kinds = [block["type"] for block in sent["blocks"]]
        assert kinds == ["header", "section", "section", "actions"]
        elements = sent["blocks"][-1]["elements"]
        assert [e["type"] for e in elements] == ["button", "button", "static_select"]
        assert elements[2]["options"][0] == {
            "text": {"type": "plain_text", "text": "Good"},
            "value": "good",
        }


async def test_a_select_choice_arrives_as_an_action_with_its_value() -> None:
    chosen: list[tuple[str, str]] = []

    def setup(chat: Chat) -> None:
        @chat.on_mention
        async def ask(thread: Thread, message: Message) -> None:
            await thread.post(CARD)

        @chat.on_action("rating")
        async def rated(thread: Thread, action: Any) -> None:
            chosen.append((action.platform, action.value))

    async with BotTester(setup) as bot:
        telegram = bot.telegram.private()
        await telegram.send("go")
        await telegram.press("rating", "good")
        slack = bot.slack.channel("C0123")
        await slack.send("go", mention=True)
        await slack.press("rating", "bad")
        assert chosen == [("telegram", "good"), ("slack", "bad")]


async def test_a_card_over_slacks_limits_is_refused_before_any_call() -> None:
    seen: list[BaseException] = []

    async def reply(thread: Thread, message: Message) -> None:
        await thread.post(Card(title="x", fields=[(str(n), "v") for n in range(11)]))

    async with BotTester(bot_with(raising(reply, seen))) as bot:
        await bot.slack.channel("C0123").send("go", mention=True)
        assert "at most 10 fields" in str(seen[0])
        assert bot.apis.sent("chat.postMessage") == []


async def test_more_than_100_telegram_buttons_are_refused_before_any_call() -> None:
    seen: list[BaseException] = []

    async def reply(thread: Thread, message: Message) -> None:
        await thread.post("pick", buttons=[Button(f"b{n}", str(n)) for n in range(101)])

    async with BotTester(bot_with(raising(reply, seen))) as bot:
        await bot.telegram.private().send("go")
        assert "at most 100 buttons" in str(seen[0])
        assert bot.apis.sent("sendMessage") == []


# --- 4. files ----------------------------------------------------------------------------------


async def test_a_file_goes_to_telegram_as_a_multipart_document() -> None:
    async def reply(thread: Thread, message: Message) -> None:
        await thread.post(File("report.csv", data=b"a,b\n1,2\n", mime="text/csv"))

    async with BotTester(bot_with(reply)) as bot:
        await bot.telegram.private().send("go")
        [sent] = bot.apis.sent("sendDocument")
        assert sent["document"] == b"a,b\n1,2\n" and sent["chat_id"] == 1001


async def test_an_image_file_goes_to_telegram_as_a_photo() -> None:
    async def reply(thread: Thread, message: Message) -> None:
        await thread.post(File("a.png", data=b"\x89PNG....", mime="image/png"))

    async with BotTester(bot_with(reply)) as bot:
        await bot.telegram.private().send("go")
        assert bot.apis.sent("sendPhoto")[0]["photo"] == b"\x89PNG...."


async def test_a_file_goes_to_slack_through_the_external_upload_flow() -> None:
    async def reply(thread: Thread, message: Message) -> None:
        await thread.post(File("notes.txt", data=b"hello", mime="text/plain"))

    async with BotTester(bot_with(reply)) as bot:
        await bot.slack.channel("C0123").send("go", mention=True)
        methods = [c.method for c in bot.calls if c.platform == "slack"]
        assert methods == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
        [ticket] = bot.apis.sent("files.getUploadURLExternal")
        assert ticket == {"filename": "notes.txt", "length": 5}
        [complete] = bot.apis.sent("files.completeUploadExternal")
        assert complete["channel_id"] == "C0123" and complete["files"][0]["title"] == "notes.txt"


async def test_a_file_over_telegrams_limit_is_refused_before_any_call() -> None:
    seen: list[BaseException] = []

    async def reply(thread: Thread, message: Message) -> None:
        await thread.post(File("big.bin", data=b"x" * (50 * 1024 * 1024 + 1)))

    async with BotTester(bot_with(raising(reply, seen))) as bot:
        await bot.telegram.private().send("go")
        assert "at most 52428800 bytes" in str(seen[0])
        assert not [c for c in bot.calls if c.method.startswith("send")]


async def test_the_console_keeps_a_file_to_download() -> None:
    async def reply(thread: Thread, message: Message) -> None:
        await thread.post(File("a.txt", data=b"hi"))

    async with BotTester(bot_with(reply)) as bot:
        session = bot.web.session()
        await session.send("go")
        [answer] = await session.replies()
        assert answer.file == {"name": "a.txt", "mime": "application/octet-stream", "size": 2}


# --- 5. streaming ------------------------------------------------------------------------------


async def test_a_stream_in_a_private_telegram_chat_is_a_draft_then_one_message() -> None:
    async def reply(thread: Thread, message: Message) -> None:
        await thread.post(words("Hello", ", world"))

    async with BotTester(bot_with(reply)) as bot:
        await bot.telegram.private().send("go")
        assert [c.method for c in bot.calls if c.method != "getMe"] == [
            "sendMessageDraft",
            "sendMessage",
        ]
        assert bot.apis.sent("sendMessage")[0]["text"] == "Hello, world"
        assert bot.replies[-1].kind == "stream"


async def test_a_stream_in_a_group_edits_one_message_at_most_every_interval() -> None:
    async def slow_words() -> AsyncIterator[str]:
        for n in range(10):
            yield f"w{n} "
            await bot.time.sleep(0.3)

    async def reply(thread: Thread, message: Message) -> None:
        await thread.post(slow_words())

    async with BotTester(bot_with(reply)) as bot:
        await bot.telegram.group(-100123).send("go", mention=True)
        await bot.advance(5)
        # 10 chunks 0.3 s apart, edits at most every 1 s: a post, then about one edit a second.
        assert len(bot.apis.sent("sendMessage")) == 1
        assert 2 <= len(bot.apis.sent("editMessageText")) <= 4
        assert bot.apis.sent("editMessageText")[-1]["text"] == "".join(f"w{n} " for n in range(10))


async def test_a_stream_on_slack_uses_its_streaming_methods() -> None:
    async def reply(thread: Thread, message: Message) -> None:
        await thread.post(words("one ", "two"))

    async with BotTester(bot_with(reply)) as bot:
        await bot.slack.channel("C0123").send("go", mention=True)
        methods = [c.method for c in bot.calls]
        assert methods == ["chat.startStream", "chat.stopStream"]
        [start] = bot.apis.sent("chat.startStream")
        assert start["markdown_text"] == "one " and start["recipient_user_id"] == "U0ANN"
        assert bot.apis.sent("chat.stopStream")[0]["markdown_text"] == "two"


async def test_a_stream_that_fails_keeps_what_came_marked_cut_short() -> None:
    async def broken() -> AsyncIterator[str]:
        yield "partial answer"
        raise RuntimeError("model went away")

    seen: list[BaseException] = []

    async def reply(thread: Thread, message: Message) -> None:
        await thread.post(broken())

    async with BotTester(bot_with(raising(reply, seen))) as bot:
        await bot.telegram.private().send("go")
        assert bot.apis.sent("sendMessage")[-1]["text"] == "partial answer" + CUT_SHORT
        assert str(seen[0]) == "model went away"


# --- 6. AI replies -----------------------------------------------------------------------------


async def test_respond_without_a_model_echoes_with_the_latest_fact() -> None:
    async def reply(thread: Thread, message: Message) -> None:
        await thread.memory.add("likes tea")
        await thread.post(chat_ref[0].respond(thread, message))

    chat_ref: list[Chat] = []

    def setup(chat: Chat) -> None:
        chat_ref.append(chat)
        chat.on_mention(reply)

    async with BotTester(setup) as bot:
        await bot.telegram.private().send("hello")
        assert bot.replies[-1].text == "You said: hello (I remember: likes tea)"


# --- 7. sent messages --------------------------------------------------------------------------


async def test_a_sent_card_is_edited_reacted_to_and_deleted() -> None:
    async def reply(thread: Thread, message: Message) -> None:
        sent = await thread.post(Card(title="v1", buttons=[Button("a", "A"), Button("b", "B")]))
        await sent.edit(Card(title="v2", buttons=[Button("a", "A")]))
        await sent.react("🎉")

    async with BotTester(bot_with(reply)) as bot:
        await bot.telegram.private().send("go")
        posted = bot.replies[-1]
        assert posted.kind == "card" and posted.buttons == ["A", "B"]
        assert posted.edits[-1].card is not None and posted.edits[-1].buttons == ["A"]
        assert posted.reactions == ["🎉"]
        [reaction] = bot.apis.sent("setMessageReaction")
        assert reaction["reaction"] == [{"type": "emoji", "emoji": "🎉"}]


async def test_slack_edits_deletes_and_reactions_use_its_methods() -> None:
    async def reply(thread: Thread, message: Message) -> None:
        sent = await thread.post("first")
        await sent.edit(Markdown("**second**"))
        await sent.react("eyes")
        await sent.unreact("eyes")
        await sent.delete()

    async with BotTester(bot_with(reply)) as bot:
        await bot.slack.channel("C0123").send("go", mention=True)
        assert [c.method for c in bot.calls] == [
            "chat.postMessage",
            "chat.update",
            "reactions.add",
            "reactions.remove",
            "chat.delete",
        ]
        assert bot.apis.sent("chat.update")[0]["text"] == "*second*"
        assert bot.apis.sent("reactions.add")[0]["name"] == "eyes"


async def test_history_reflects_an_edit_and_a_delete() -> None:
    async def reply(thread: Thread, message: Message) -> None:
        kept = await thread.post("draft")
        gone = await thread.post("oops")
        await kept.edit("final")
        await gone.delete()

    async with BotTester(bot_with(reply)) as bot:
        chat = bot.telegram.private()
        await chat.send("go")
        texts = [m.text for m in await bot.history(chat.thread_id)]
        assert texts == ["go", "final"]


# --- 8. typing ---------------------------------------------------------------------------------


async def test_typing_is_renewed_every_four_seconds_while_the_block_runs() -> None:
    async def reply(thread: Thread, message: Message) -> None:
        async with thread.typing():
            await bot.time.sleep(10)
        await thread.post("done")

    async with BotTester(bot_with(reply)) as bot:
        await bot.telegram.private().send("go")
        await bot.advance(11)
        # At 0, 4 and 8 seconds, then no more once the block ended.
        assert len(bot.apis.sent("sendChatAction")) == 3
        await bot.advance(10)
        assert len(bot.apis.sent("sendChatAction")) == 3


# --- 9. ephemeral ------------------------------------------------------------------------------


async def test_an_ephemeral_message_on_slack_goes_to_one_user() -> None:
    async def reply(thread: Thread, message: Message) -> None:
        await thread.post_ephemeral(message.author, "only you")

    async with BotTester(bot_with(reply)) as bot:
        await bot.slack.channel("C0123").send("go", mention=True)
        [sent] = bot.apis.sent("chat.postEphemeral")
        assert sent["user"] == "U0ANN" and sent["text"] == "only you"


async def test_an_ephemeral_message_on_telegram_is_not_supported_naming_it() -> None:
    seen: list[BaseException] = []

    async def reply(thread: Thread, message: Message) -> None:
        await thread.post_ephemeral(message.author, "only you")

    async with BotTester(bot_with(raising(reply, seen))) as bot:
        await bot.telegram.private().send("go")
        assert isinstance(seen[0], NotSupported) and "telegram" in str(seen[0])


# --- 10. proactive posts -----------------------------------------------------------------------


async def test_a_post_outside_any_handler_enters_history() -> None:
    async with BotTester(bot_with(lambda thread, message: thread.post("hi"))) as bot:
        await bot.chat.thread("telegram:-100777").post("deploy finished")
        assert bot.apis.sent("sendMessage")[0] == {"chat_id": -100777, "text": "deploy finished"}
        assert [m.text for m in await bot.history("telegram:-100777")] == ["deploy finished"]


async def test_open_dm_on_slack_opens_the_conversation_first() -> None:
    async with BotTester(bot_with(lambda thread, message: thread.post("hi"))) as bot:
        thread = await bot.chat.open_dm("slack", "U0ANN")
        await thread.post("hello there")
        assert thread.id == "slack:D0ANN:"
        assert bot.apis.sent("chat.postMessage")[0]["channel"] == "D0ANN"


async def test_a_thread_of_an_unconfigured_platform_is_refused() -> None:
    async with BotTester(bot_with(lambda thread, message: thread.post("hi"))) as bot:
        with pytest.raises(ValueError, match="no platform 'teams'"):
            bot.chat.thread("teams:1:2")


# --- 11. scheduled posts -----------------------------------------------------------------------


async def test_a_scheduled_post_is_sent_once_at_its_time() -> None:
    async def reply(thread: Thread, message: Message) -> None:
        await thread.schedule(Markdown("**time!**"), after=timedelta(seconds=10))

    async with BotTester(bot_with(reply)) as bot:
        await bot.telegram.private().send("go")
        await bot.advance(9)
        assert bot.apis.sent("sendMessage") == []
        await bot.advance(2)
        assert [s["text"] for s in bot.apis.sent("sendMessage")] == ["<b>time!</b>"]
        await bot.advance(3600)
        assert len(bot.apis.sent("sendMessage")) == 1


async def test_a_cancelled_scheduled_post_is_never_sent() -> None:
    async def reply(thread: Thread, message: Message) -> None:
        later = await thread.schedule("never", after=timedelta(minutes=5))
        assert await later.cancel() is True
        assert await later.cancel() is False

    async with BotTester(bot_with(reply)) as bot:
        await bot.telegram.private().send("go")
        await bot.advance(600)
        assert bot.apis.sent("sendMessage") == []


@pytest.mark.parametrize(
    ("when", "problem"),
    [
        ({"after": timedelta(seconds=-1)}, "must be in the future"),
        ({"after": timedelta(days=366)}, "at most a year ahead"),
        ({"at": datetime(2000, 1, 1, tzinfo=UTC)}, "must be in the future"),
        ({}, "at= .* or after="),
    ],
)
async def test_a_schedule_in_the_past_or_too_far_ahead_is_refused(
    when: dict[str, Any], problem: str
) -> None:
    seen: list[BaseException] = []

    async def reply(thread: Thread, message: Message) -> None:
        await thread.schedule("x", **when)

    async with BotTester(bot_with(raising(reply, seen))) as bot:
        await bot.telegram.private().send("go")
        assert re.search(problem, str(seen[0]))


# --- 12. pacing --------------------------------------------------------------------------------


async def test_replies_in_one_chat_are_paced_a_second_apart() -> None:
    async def reply(thread: Thread, message: Message) -> None:
        for n in range(3):
            await thread.post(f"reply {n}")

    async with BotTester(bot_with(reply)) as bot:
        start = bot.time.now_ms
        await bot.telegram.private().send("go")
        assert len(bot.apis.sent("sendMessage")) == 3
        assert bot.time.now_ms - start >= 2000


async def test_the_pacer_delays_a_burst_within_each_rate() -> None:
    now = [0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += int(seconds * 1000)

    pacer = Pacer(lambda: now[0], sleep)
    for _ in range(25):
        await pacer.wait([("group", Rate(20, 60_000)), ("bot", Rate(30, 1000))])
    # 20 at once, then the 21st waits for the first minute to end; the bot's rate never binds.
    assert len(waits) == 1 and waits[0] == 60.0


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "error", "problem"),
    [
        (42, TypeError, "not int"),
        ("   ", ValueError, "empty"),
        (Markdown(""), ValueError, "empty"),
        (Card(), ValueError, "needs a title"),
        (File("x.txt"), ValueError, "either data= or url="),
        (File("x.txt", data=b"1", url="https://e.com/x"), ValueError, "not both"),
        (Card(title="x", image_url="ftp://e.com/a.png"), ValueError, "http"),
    ],
)
async def test_bad_content_is_refused_before_any_call(
    content: Any, error: type[Exception], problem: str
) -> None:
    seen: list[BaseException] = []

    async def reply(thread: Thread, message: Message) -> None:
        await thread.post(content)

    async with BotTester(bot_with(raising(reply, seen))) as bot:
        await bot.telegram.private().send("go")
        assert isinstance(seen[0], error) and problem in str(seen[0])
        assert [c.method for c in bot.calls] == ["getMe"]
