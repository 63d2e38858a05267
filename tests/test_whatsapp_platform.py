"""The WhatsApp platform through chatstate.testing: messages in, Graph API calls out at the
fake Cloud API (chatstate.testing.whatsapp_api), within WhatsApp's rules."""

from __future__ import annotations

import pytest

from bot import setup
from chatstate import Action, Author, Chat, Message, Thread
from chatstate.chat.content import Card, File, NotSupported, Reply, Select
from chatstate.chat.events import Button, Reaction
from chatstate.http.client import HttpResult
from chatstate.platforms.whatsapp import CustomerServiceWindowClosed, WhatsAppPlatform
from chatstate.testing import BotTester
from chatstate.testing.harness import API_BASE
from chatstate.testing.payloads import WHATSAPP_PHONE_NUMBER_ID
from chatstate.testing.platform_apis import GRAPH_PATH, InProcessHttp, PlatformApis

USER = "16315551181"


def sent(bot: BotTester) -> list[dict[str, object]]:
    return [c.payload for c in bot.calls if c.platform == "whatsapp" and c.method == "messages"]


async def test_a_message_is_answered_in_the_users_conversation() -> None:
    async with BotTester(setup) as bot:
        await bot.whatsapp.user(USER).send("hello")
        [reply] = sent(bot)
        assert (reply["to"], reply["type"], reply["messaging_product"]) == (
            USER,
            "text",
            "whatsapp",
        )
        assert "hi Ann!" in reply["text"]["body"]  # type: ignore[index]
        assert await bot.is_subscribed(f"whatsapp:{USER}")


async def test_a_reply_button_is_offered_and_its_press_reaches_the_action_handler() -> None:
    async with BotTester(setup) as bot:
        user = bot.whatsapp.user(USER)
        await user.send("/start")
        offered = sent(bot)[-1]
        assert offered["type"] == "interactive"
        buttons = offered["interactive"]["action"]["buttons"]  # type: ignore[index]
        assert buttons == [{"type": "reply", "reply": {"id": "ping", "title": "Ping"}}]
        await user.press("ping", "Ping")
        assert bot.replies[-1].text == "pong for Ann"


async def test_a_card_with_a_menu_is_a_list_message_and_a_choice_is_an_action() -> None:
    chosen: list[str] = []

    def bot_setup(chat: Chat) -> None:
        @chat.on_mention
        async def menu(thread: Thread, message: Message) -> None:
            await thread.post(
                Card(title="Size", select=Select("size", [("Small", "s"), ("Large", "l")]))
            )

        @chat.on_action("size")
        async def size(thread: Thread, action: Action) -> None:
            chosen.append(action.value)

    async with BotTester(bot_setup) as bot:
        user = bot.whatsapp.user(USER)
        await user.send("coffee")
        interactive = sent(bot)[-1]["interactive"]
        assert interactive["type"] == "list"  # type: ignore[index]
        rows = interactive["action"]["sections"][0]["rows"]  # type: ignore[index]
        assert [row["id"] for row in rows] == ["size:s", "size:l"]
        await user.choose("size:l", "Large")
        assert chosen == ["l"]


async def test_a_users_reaction_reaches_the_reaction_handler() -> None:
    seen: list[tuple[str, bool, str]] = []

    def bot_setup(chat: Chat) -> None:
        @chat.on_reaction()
        async def reacted(thread: Thread, reaction: Reaction) -> None:
            seen.append((reaction.emoji, reaction.added, reaction.message_id))

    async with BotTester(bot_setup) as bot:
        user = bot.whatsapp.user(USER)
        await user.react("wamid.OUT1", "👍")
        await user.react("wamid.OUT1", "")
        assert seen == [("👍", True, f"{USER}:wamid.OUT1"), ("", False, f"{USER}:wamid.OUT1")]


async def test_the_bot_reacts_to_its_message_and_takes_the_reaction_back() -> None:
    def bot_setup(chat: Chat) -> None:
        @chat.on_mention
        async def like(thread: Thread, message: Message) -> None:
            done = await thread.post("done")
            await done.react("❤")
            await done.unreact("❤")

    async with BotTester(bot_setup) as bot:
        await bot.whatsapp.user(USER).send("I made it")
        _, added, removed = sent(bot)
        wamid = bot.apis.whatsapp.sent_to[USER][0]
        assert added["reaction"] == {"message_id": wamid, "emoji": "❤"}
        assert removed["reaction"] == {"message_id": wamid, "emoji": ""}


async def test_a_photo_arrives_as_an_attachment_the_handler_can_read() -> None:
    read: list[bytes] = []

    def bot_setup(chat: Chat) -> None:
        @chat.on_mention
        async def photo(thread: Thread, message: Message) -> None:
            read.append(await message.attachments[0].read())

    async with BotTester(bot_setup) as bot:
        await bot.whatsapp.user(USER).send_image(b"\xff\xd8jpeg bytes", "look")
        assert read == [b"\xff\xd8jpeg bytes"]


async def test_a_file_with_bytes_is_uploaded_then_sent_by_its_media_id() -> None:
    def bot_setup(chat: Chat) -> None:
        @chat.on_mention
        async def report(thread: Thread, message: Message) -> None:
            await thread.post(File("report.pdf", b"%PDF-1.7", mime="application/pdf"))

    async with BotTester(bot_setup) as bot:
        await bot.whatsapp.user(USER).send("report please")
        [document] = sent(bot)
        assert document["type"] == "document"
        media_id = document["document"]["id"]  # type: ignore[index]
        assert bot.apis.whatsapp.media[str(media_id)] == b"%PDF-1.7"
        assert document["document"]["filename"] == "report.pdf"  # type: ignore[index]


def platform(apis: PlatformApis) -> WhatsAppPlatform:
    return WhatsAppPlatform(
        verify_token="v",
        app_secret="s",
        access_token="token",
        phone_number_id=WHATSAPP_PHONE_NUMBER_ID,
        http=InProcessHttp(apis, API_BASE),
        api_base=f"{API_BASE}{GRAPH_PATH}",
    )


def graph_apis() -> PlatformApis:
    return PlatformApis(
        "1:t",
        "xoxb",
        "bot",
        whatsapp_token="token",
        whatsapp_phone_number_id=WHATSAPP_PHONE_NUMBER_ID,
    )


async def test_a_reply_after_the_24_hour_window_names_the_rule() -> None:
    apis = graph_apis()
    apis.whatsapp.window_closed.add(USER)
    with pytest.raises(CustomerServiceWindowClosed, match="customer service window is closed"):
        await platform(apis).send(f"whatsapp:{USER}", Reply("are you there?"))


async def test_a_long_text_goes_as_several_messages_of_at_most_4096_characters() -> None:
    apis = graph_apis()
    text = "\n".join(["line of text"] * 1000)  # about 13,000 characters
    messages = await platform(apis).send(f"whatsapp:{USER}", Reply(text))
    bodies = [call.payload["text"]["body"] for call in apis.calls]
    assert len(messages) == len(bodies) == 4
    assert all(len(body) <= 4096 for body in bodies)
    assert "\n".join(bodies) == text


class Unreachable:
    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> HttpResult:
        raise AssertionError("nothing may be sent")

    async def request(
        self, method: str, url: str, body: bytes, headers: dict[str, str]
    ) -> HttpResult:
        raise AssertionError("nothing may be sent")


@pytest.mark.parametrize(
    ("reply", "error", "reason"),
    [
        (
            Reply("pick", buttons=tuple(Button(f"b{n}", f"B{n}") for n in range(4))),
            ValueError,
            "at most 3 reply buttons",
        ),
        (Reply(""), ValueError, "needs text"),
    ],
)
async def test_what_whatsapp_refuses_is_refused_before_any_call(
    reply: Reply, error: type[Exception], reason: str
) -> None:
    unreachable = WhatsAppPlatform(
        verify_token="v", app_secret="s", access_token="t", phone_number_id="1", http=Unreachable()
    )
    with pytest.raises(error, match=reason):
        await unreachable.send(f"whatsapp:{USER}", reply)


async def test_edits_and_deletes_are_not_supported() -> None:
    unreachable = WhatsAppPlatform(
        verify_token="v", app_secret="s", access_token="t", phone_number_id="1", http=Unreachable()
    )
    thread = f"whatsapp:{USER}"
    mine = Message(f"{USER}:wamid.X", thread, thread, "whatsapp", "", Author("bot"), 0)
    with pytest.raises(NotSupported, match="cannot edit"):
        await unreachable.edit(mine, Reply("new"))
    with pytest.raises(NotSupported, match="no deleting"):
        await unreachable.delete(mine)
