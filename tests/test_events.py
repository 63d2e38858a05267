"""What a bot can hear, through chatstate.testing: commands, reactions, membership, a group's
migration, every other update harmlessly; routers, filters and middleware choosing handlers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chatstate import (
    Chat,
    Command,
    Context,
    Message,
    Router,
    Thread,
    from_users,
    is_dm,
    text_matches,
)
from chatstate.chat.events import Membership, Reaction, Update
from chatstate.config import BotConfig
from chatstate.http.messages import HttpRequest
from chatstate.project.commands import set_telegram_commands
from chatstate.testing import BotTester
from chatstate.testing.harness import SLACK_SECRET, TELEGRAM_TOKEN
from chatstate.testing.payloads import (
    slack_signed_headers,
    slack_slash_command,
    telegram_message_update,
)
from chatstate.testing.platform_apis import InProcessHttp, PlatformApis

Seen = list[tuple[str, Any]]


def recording(seen: Seen) -> Any:
    def setup(chat: Chat) -> None:
        @chat.on_command("remind", description="Remind me later")
        async def remind(thread: Thread, command: Command) -> None:
            seen.append(("command", (command.name, command.args, command.message.platform)))

        @chat.on_mention
        async def mention(thread: Thread, message: Message) -> None:
            seen.append(("mention", message.text))

        @chat.on_message()
        async def message(thread: Thread, message: Message) -> None:
            seen.append(("message", message.text))

        @chat.on_reaction()
        async def reaction(thread: Thread, reaction: Reaction) -> None:
            seen.append(("reaction", (reaction.emoji, reaction.added, reaction.message_id)))

        @chat.on_member_joined
        async def joined(thread: Thread, event: Membership) -> None:
            seen.append(("member_joined", event.user.user_id))

        @chat.on_bot_added
        async def added(thread: Thread, event: Membership) -> None:
            seen.append(("bot_added", thread.id))
            await thread.subscribe()

        @chat.on_bot_removed
        async def removed(thread: Thread, event: Membership) -> None:
            seen.append(("bot_removed", thread.id))

        @chat.on_update()
        async def other(thread: Thread, update: Update) -> None:
            seen.append(("update", update.kind))

    return setup


# --- 1. commands -------------------------------------------------------------------------------


async def test_a_telegram_command_reaches_its_handler_with_its_args() -> None:
    seen: Seen = []
    async with BotTester(recording(seen)) as bot:
        chat = bot.telegram.group(-100123)
        await chat.command("remind", "10s stretch")
        await chat.command("remind", "in 5", to="my_bot")
        assert seen == [
            ("command", ("remind", "10s stretch", "telegram")),
            ("command", ("remind", "in 5", "telegram")),
        ]


async def test_a_command_for_another_bot_reaches_no_handler() -> None:
    seen: Seen = []
    async with BotTester(recording(seen)) as bot:
        await bot.telegram.group(-100123).command("remind", "x", to="other_bot")
        assert seen == []


async def test_an_unregistered_command_is_a_message_like_any_other() -> None:
    seen: Seen = []
    async with BotTester(recording(seen)) as bot:
        await bot.telegram.group(-100123).command("weather")
        assert seen == [("message", "/weather")]


async def test_a_slack_slash_command_is_answered_empty_and_handled() -> None:
    seen: Seen = []
    async with BotTester(recording(seen)) as bot:
        body = slack_slash_command("remind", "tomorrow", "C0123")
        headers = slack_signed_headers(SLACK_SECRET, body, bot.time.now_ms // 1000, form=True)
        request = HttpRequest("POST", "/webhooks/slack", headers, body)
        response = await bot._ingress.handle(request)  # type: ignore[union-attr]
        assert (response.status, response.body) == (200, b"")
        await bot.settle()
        assert seen == [("command", ("remind", "tomorrow", "slack"))]


async def test_the_console_chat_box_takes_commands() -> None:
    seen: Seen = []
    async with BotTester(recording(seen)) as bot:
        await bot.web.session().send("/remind at noon")
        assert seen == [("command", ("remind", "at noon", "web"))]


async def test_commands_are_pushed_to_telegrams_menu_with_their_descriptions() -> None:
    seen: Seen = []
    apis = PlatformApis(TELEGRAM_TOKEN, "", "my_bot")
    config = BotConfig.from_env(
        {
            "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
            "TELEGRAM_WEBHOOK_SECRET": "s3cret",
            "TELEGRAM_API_BASE": "http://fake",
        }
    )
    assert (
        await set_telegram_commands(recording(seen), config, InProcessHttp(apis, "http://fake"))
        == 1
    )
    assert apis.sent("setMyCommands") == [
        {"commands": [{"command": "remind", "description": "Remind me later"}]}
    ]


def test_a_command_name_telegram_would_refuse_is_refused_at_registration() -> None:
    with pytest.raises(ValueError, match="a command name is 1-32"):
        Router().on_command("Remind-Me")


# --- 2. reactions ------------------------------------------------------------------------------


async def test_telegram_reactions_added_and_removed() -> None:
    seen: Seen = []
    async with BotTester(recording(seen)) as bot:
        chat = bot.telegram.group(-100123)
        await chat.react(77, "👍")
        await chat.react(77, "🔥", old=["👍"])
        assert seen == [
            ("reaction", ("👍", True, "-100123:77")),
            ("reaction", ("🔥", True, "-100123:77")),
            ("reaction", ("👍", False, "-100123:77")),
        ]


async def test_slack_reactions_added_and_removed() -> None:
    seen: Seen = []
    async with BotTester(recording(seen)) as bot:
        channel = bot.slack.channel("C0123")
        await channel.react("1700000000.000100", "tada")
        await channel.react("1700000000.000100", "tada", added=False)
        assert seen == [
            ("reaction", ("tada", True, "C0123:1700000000.000100")),
            ("reaction", ("tada", False, "C0123:1700000000.000100")),
        ]


async def test_a_reaction_handler_may_take_only_some_emoji() -> None:
    seen: list[str] = []

    def setup(chat: Chat) -> None:
        @chat.on_reaction(emojis=["👀"])
        async def eyes(thread: Thread, reaction: Reaction) -> None:
            seen.append(reaction.emoji)

    async with BotTester(setup) as bot:
        chat = bot.telegram.group(-100123)
        await chat.react(1, "👍")
        await chat.react(2, "👀")
        assert seen == ["👀"]


# --- 6. membership and lifecycle ---------------------------------------------------------------


async def test_telegram_membership_changes_reach_their_handlers() -> None:
    seen: Seen = []
    async with BotTester(recording(seen)) as bot:
        chat = bot.telegram.group(-100123)
        await chat.bot_added()
        await chat.member_joined({"id": 7, "is_bot": False, "first_name": "Bo"})
        assert seen == [("bot_added", "telegram:-100123"), ("member_joined", "7")]
        assert await bot.is_subscribed("telegram:-100123")


async def test_removing_the_bot_ends_its_subscription() -> None:
    seen: Seen = []
    async with BotTester(recording(seen)) as bot:
        chat = bot.telegram.group(-100123)
        await chat.bot_added()
        await chat.bot_removed()
        assert seen[-1] == ("bot_removed", "telegram:-100123")
        assert not await bot.is_subscribed("telegram:-100123")


async def test_slack_membership_events() -> None:
    seen: Seen = []
    async with BotTester(recording(seen)) as bot:
        channel = bot.slack.channel("C0123")
        await channel.member_event("UBOT")
        await channel.member_event("U0BO")
        await channel.member_event("UBOT", "member_left_channel")
        assert seen == [
            ("bot_added", "slack:C0123:"),
            ("member_joined", "U0BO"),
            ("bot_removed", "slack:C0123:"),
        ]


async def test_a_group_that_becomes_a_supergroup_keeps_its_state() -> None:
    def setup(chat: Chat) -> None:
        @chat.on_mention
        async def remember(thread: Thread, message: Message) -> None:
            await thread.subscribe()
            await thread.set_state({"plan": "tea"})
            await thread.post("noted")

    async with BotTester(setup) as bot:
        group = bot.telegram.group(-4001)
        await group.send("hello", mention=True)
        supergroup = await group.migrate_to(-1004001)
        assert await bot.thread_state(supergroup.thread_id) == {"plan": "tea"}
        assert await bot.is_subscribed(supergroup.thread_id)
        assert [m.text for m in await bot.history(supergroup.thread_id)] == [
            "@my_bot hello",
            "noted",
        ]
        assert await bot.thread_state(group.thread_id) is None
        assert not await bot.is_subscribed(group.thread_id)


# --- 7. every other update ---------------------------------------------------------------------


async def test_other_telegram_updates_are_harmless_and_reach_on_update() -> None:
    seen: Seen = []
    async with BotTester(recording(seen)) as bot:
        chat = bot.telegram.group(-100123)
        await chat.update("poll", {"id": "p1", "question": "Tea?", "options": []})
        await chat.update("chat_join_request", {"chat": {"id": -100123, "type": "supergroup"}})
        sticker = {
            "message_id": 5,
            "chat": {"id": -100123, "type": "supergroup"},
            "date": 1,
            "sticker": {"file_id": "x", "emoji": "🐱"},
        }
        await chat.update("message", sticker)
        assert ("update", "poll") in seen and ("update", "chat_join_request") in seen
        assert ("message", "") in seen


async def test_other_slack_events_are_harmless_and_reach_on_update() -> None:
    seen: Seen = []
    async with BotTester(recording(seen)) as bot:
        channel = bot.slack.channel("C0123")
        await channel.event("channel_rename", name="renamed")
        await channel.event("app_home_opened", user="U0ANN", tab="home")
        await channel.event("file_shared", file_id="F1", user_id="U0ANN")
        assert [kind for what, kind in seen if what == "update"] == [
            "channel_rename",
            "app_home_opened",
            "file_shared",
        ]


# --- 8. routers, filters, middleware -----------------------------------------------------------


def including(router: Router) -> Any:
    def setup(chat: Chat) -> None:
        chat.include_router(router)

    return setup


async def test_routers_nest_and_run_in_the_documented_order() -> None:
    order: list[str] = []
    outer, inner = Router("outer"), Router("inner")

    @inner.on_mention
    async def second(thread: Thread, message: Message) -> None:
        order.append("inner")

    @outer.on_mention
    async def first(thread: Thread, message: Message) -> None:
        order.append("outer")

    outer.include_router(inner)

    def setup(chat: Chat) -> None:
        @chat.on_mention
        async def own(thread: Thread, message: Message) -> None:
            order.append("chat")

        chat.include_router(outer)

    async with BotTester(setup) as bot:
        await bot.telegram.private().send("hi")
        assert order == ["chat", "outer", "inner"]


def test_a_router_included_twice_is_refused() -> None:
    router = Router("orders")
    Router("a").include_router(router)
    with pytest.raises(ValueError, match="router 'orders' is already included in 'a'"):
        Router("b").include_router(router)


def test_a_router_including_its_ancestor_is_refused() -> None:
    parent, child = Router("parent"), Router("child")
    parent.include_router(child)
    with pytest.raises(ValueError, match="cycle"):
        child.include_router(parent)


async def test_filters_compose_with_and_or_and_not() -> None:
    seen: list[str] = []
    router = Router()

    @router.on_message(filters=[text_matches(r"^order \d+") & ~from_users("666")])
    async def order(thread: Thread, message: Message) -> None:
        seen.append(message.text)

    @router.on_mention
    async def dm_only(thread: Thread, message: Message) -> None:
        return None

    async with BotTester(including(router)) as bot:
        chat = bot.telegram.group(-100123)
        await chat.send("order 12")
        await chat.send("hello")
        chat.user = {**chat.user, "id": 666}
        await chat.send("order 13")
        assert seen == ["order 12"]
        assert is_dm(type("M", (), {"is_dm": True})())


async def test_middleware_wraps_handlers_and_can_stop_an_event() -> None:
    seen: list[str] = []
    router = Router()

    @router.middleware
    async def only_staff(handler: Any, event: Any, context: Context) -> None:
        if event.author.user_id != "1001":
            seen.append("stopped")
            return
        context.data["role"] = "staff"
        await handler(event, context)

    @router.on_mention
    async def hello(thread: Thread, message: Message, context: Context) -> None:
        seen.append(f"hello {context.data['role']}")

    async with BotTester(including(router)) as bot:
        chat = bot.telegram.private()
        await chat.send("hi")
        chat.user = {**chat.user, "id": 2002}
        await chat.send("hi again")
        assert seen == ["hello staff", "stopped"]


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("update", "problem"),
    [
        ({"update_id": 1, "message_reaction": {"message_id": 1}}, "message_reaction.chat"),
        (
            {"update_id": 1, "message_reaction": {"chat": {"id": 1}, "message_id": "x"}},
            "message_reaction.message_id",
        ),
        ({"update_id": 1, "my_chat_member": {"chat": {"id": 1}}}, "my_chat_member.old_chat_member"),
        (
            {"update_id": 1, "message": {"chat": {"id": 1}, "migrate_to_chat_id": "x"}},
            "message.migrate_to_chat_id",
        ),
    ],
)
async def test_malformed_telegram_updates_of_the_new_kinds_get_400_naming_the_field(
    update: dict[str, Any], problem: str
) -> None:
    async with BotTester(recording([])) as bot:
        with pytest.raises(AssertionError, match=f"400: {problem}"):
            await bot.telegram.group(-1)._post(update)


# --- 5. files in -------------------------------------------------------------------------------


def reading(read: list[Any], max_bytes: int = 1000) -> Any:
    def setup(chat: Chat) -> None:
        @chat.on_message()
        async def files(thread: Thread, message: Message) -> None:
            for attachment in message.attachments:
                try:
                    data = await attachment.read(max_bytes=max_bytes)
                except Exception as error:
                    read.append((attachment.kind, type(error).__name__, str(error)))
                else:
                    read.append((attachment.kind, attachment.name, attachment.mime, data))

        @chat.on_mention
        async def dm(thread: Thread, message: Message) -> None:
            await files(thread, message)

    return setup


async def test_a_telegram_document_is_read_through_get_file() -> None:
    read: list[Any] = []
    async with BotTester(reading(read)) as bot:
        await bot.telegram.group(-100123).send_file("notes.txt", b"hello", mime="text/plain")
        assert read == [("document", "notes.txt", "text/plain", b"hello")]
        assert [c.method for c in bot.calls if c.method == "getFile"] == ["getFile"]


async def test_a_telegram_photo_is_read_at_its_largest_size() -> None:
    read: list[Any] = []
    async with BotTester(reading(read)) as bot:
        await bot.telegram.group(-100123).send_file("x", b"\x89PNG", kind="photo", caption="look")
        assert read == [("photo", "photo.jpg", "image/jpeg", b"\x89PNG")]


async def test_a_file_over_max_bytes_is_refused_before_any_download() -> None:
    read: list[Any] = []
    async with BotTester(reading(read, max_bytes=3)) as bot:
        await bot.telegram.group(-100123).send_file("big.bin", b"12345")
        assert read == [("document", "AttachmentTooLarge", "big.bin is 5 bytes, over max_bytes=3")]
        assert bot.apis.downloads == []


async def test_a_slack_file_is_read_with_the_bot_token() -> None:
    read: list[Any] = []
    async with BotTester(reading(read)) as bot:
        await bot.slack.channel("C0123").send_file("a.csv", b"a,b", mime="text/csv")
        assert read == [("document", "a.csv", "text/csv", b"a,b")]


async def test_a_file_uploaded_in_the_console_is_read() -> None:
    read: list[Any] = []
    async with BotTester(reading(read)) as bot:
        await bot.web.session().send("here", file=("plan.md", b"# plan"))
        assert read == [("document", "plan.md", "application/octet-stream", b"# plan")]


async def test_a_telegram_file_url_never_reaches_a_log_line_or_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    read: list[Any] = []
    caplog.set_level("DEBUG")
    async with BotTester(reading(read)) as bot:
        chat = bot.telegram.group(-100123)
        await chat.send_file("ok.txt", b"fine")
        # A file Telegram no longer has: getFile fails, and says so without the URL.
        update = telegram_message_update(-100123, "")
        update["message"].pop("text")
        update["message"]["document"] = {"file_id": "gone", "file_name": "gone.txt"}
        await chat._post(update)
    everything = caplog.text + repr(read)
    assert TELEGRAM_TOKEN not in everything and "/file/bot" not in everything
    assert read[-1][1] == "PlatformApiError"


# --- 4. modals ---------------------------------------------------------------------------------


def modal_bot(seen: Seen) -> Any:
    from chatstate import Action
    from chatstate.chat.content import Modal, Select, TextInput
    from chatstate.chat.events import ModalSubmission

    form = Modal(
        "order",
        "New order",
        inputs=[
            TextInput("item", "What to order"),
            Select("size", [("Small", "s"), ("Large", "l")], "Size"),
        ],
    )

    def setup(chat: Chat) -> None:
        @chat.on_mention
        async def offer(thread: Thread, message: Message) -> None:
            from chatstate import Button

            await thread.post("Order?", buttons=[Button("open", "Open the form")])

        @chat.on_action("open")
        async def open_form(thread: Thread, action: Action) -> None:
            try:
                await action.open_modal(form, context={"asked_in": thread.id})
            except Exception as error:
                seen.append(("error", f"{type(error).__name__}: {error}"))

        @chat.on_command("order")
        async def by_command(thread: Thread, command: Command) -> None:
            await command.open_modal(form, context={"by": "command"})

        @chat.on_modal_submit("order")
        async def submitted(thread: Thread, submission: ModalSubmission) -> dict[str, str] | None:
            if not submission.values.get("item"):
                return {"item": "say what to order"}
            seen.append(("submitted", (submission.values, submission.context)))
            await thread.post(f"ordered {submission.values['item']} ({submission.values['size']})")
            return None

        @chat.on_modal_close("order")
        async def closed(thread: Thread, submission: ModalSubmission) -> None:
            seen.append(("closed", submission.context))

    return setup


async def test_a_slack_modal_opens_from_a_button_and_its_errors_show_in_the_form() -> None:
    seen: Seen = []
    async with BotTester(modal_bot(seen)) as bot:
        channel = bot.slack.channel("C0123")
        await channel.send("order", mention=True)
        await channel.press("open")
        [opened] = bot.apis.sent("views.open")
        assert [b["block_id"] for b in opened["view"]["blocks"]] == ["item", "size"]
        answer = await channel.submit_modal({"item": "", "size": "s"})
        assert json.loads(answer.body) == {
            "response_action": "errors",
            "errors": {"item": "say what to order"},
        }
        answer = await channel.submit_modal({"item": "tea", "size": "l"})
        assert (answer.status, answer.body) == (200, b"")
        assert seen == [
            ("submitted", ({"item": "tea", "size": "l"}, {"asked_in": channel.thread_id}))
        ]
        assert bot.replies[-1].text == "ordered tea (l)"


async def test_a_slack_modal_opens_from_a_slash_command_and_its_close_is_heard() -> None:
    seen: Seen = []
    async with BotTester(modal_bot(seen)) as bot:
        channel = bot.slack.channel("C0123")
        await channel.slash("order")
        assert bot.apis.sent("views.open")[0]["trigger_id"]
        await channel.submit_modal({}, close=True)
        assert seen == [("closed", {"by": "command"})]


async def test_telegram_has_no_modals_and_says_so() -> None:
    seen: Seen = []
    async with BotTester(modal_bot(seen)) as bot:
        chat = bot.telegram.private()
        await chat.send("order")
        await chat.press("open")
        assert seen == [
            ("error", "NotSupported: telegram has no modals: ask with buttons or messages instead")
        ]


async def test_the_console_shows_a_modal_as_a_form_and_takes_its_submission() -> None:
    seen: Seen = []
    async with BotTester(modal_bot(seen)) as bot:
        session = bot.web.session()
        await session.send("/order")
        opened = await bot.state.get(f"thread-state:{session.thread_id}:open-modal")
        assert opened["modal"]["callback_id"] == "order"
        assert [i["id"] for i in opened["modal"]["inputs"]] == ["item", "size"]
