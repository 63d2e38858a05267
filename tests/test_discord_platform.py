"""The Discord platform through chatstate.testing: interactions in (signed as Discord signs
them), answers through the interaction webhook at the fake Discord API
(chatstate.testing.discord_api), and the command registration."""

from __future__ import annotations

import pytest

from bot import setup
from chatstate import Action, Chat, Command, Message, Thread
from chatstate.chat.content import Card, Markdown, Modal, NotSupported, Select, TextInput
from chatstate.chat.events import ModalSubmission
from chatstate.config import BotConfig
from chatstate.project.commands import register_discord_commands
from chatstate.testing import BotTester
from chatstate.testing.harness import (
    DISCORD_APPLICATION_ID,
    DISCORD_BOT_TOKEN,
    DISCORD_PUBLIC_KEY,
)
from chatstate.testing.platform_apis import InProcessHttp, PlatformApis


def made(bot: BotTester, kind: str) -> list[dict[str, object]]:
    return [c.payload for c in bot.calls if c.platform == "discord" and c.method == kind]


async def test_a_slash_command_is_answered_by_completing_its_deferred_response() -> None:
    async with BotTester(setup) as bot:
        await bot.discord.channel().command("start")
        [answer] = made(bot, "original")
        assert answer["content"] == "Welcome! Press the button."
        assert answer["components"] == [
            {
                "type": 1,
                "components": [{"type": 2, "style": 1, "label": "Ping", "custom_id": "ping"}],
            }
        ]


async def test_a_button_press_reaches_the_action_handler() -> None:
    async with BotTester(setup) as bot:
        await bot.discord.channel().press("ping")
        assert bot.replies[-1].text == "pong for Mason"
        assert made(bot, "original")[-1]["content"] == "pong for Mason"


async def test_a_second_reply_to_one_interaction_is_a_follow_up() -> None:
    def bot_setup(chat: Chat) -> None:
        @chat.on_command("deploy")
        async def deploy(thread: Thread, command: Command) -> None:
            await thread.post("deploying " + command.args)
            await thread.post(Markdown("**done**"))

    async with BotTester(bot_setup) as bot:
        await bot.discord.channel().command("deploy", "staging")
        assert [c["content"] for c in made(bot, "original")] == ["deploying staging"]
        assert [c["content"] for c in made(bot, "followup")] == ["**done**"]


async def test_an_edit_changes_the_message_through_the_interaction_webhook() -> None:
    def bot_setup(chat: Chat) -> None:
        @chat.on_command("count")
        async def count(thread: Thread, command: Command) -> None:
            sent = await thread.post("1")
            await sent.edit("2")

    async with BotTester(bot_setup) as bot:
        await bot.discord.channel().command("count")
        assert [c["content"] for c in made(bot, "edit")] == ["2"]
        assert [m["content"] for m in bot.apis.discord.messages.values()] == ["2"]


async def test_a_select_is_offered_in_a_card_and_its_choice_is_an_action() -> None:
    chosen: list[str] = []

    def bot_setup(chat: Chat) -> None:
        @chat.on_command("size")
        async def ask(thread: Thread, command: Command) -> None:
            await thread.post(Card(title="Size", select=Select("size", [("S", "s"), ("L", "l")])))

        @chat.on_action("size")
        async def size(thread: Thread, action: Action) -> None:
            chosen.append(action.value)

    async with BotTester(bot_setup) as bot:
        channel = bot.discord.channel()
        await channel.command("size")
        [card] = made(bot, "original")
        assert card["embeds"] == [{"title": "Size"}]
        await channel.choose("size", "l")
        assert chosen == ["l"]


async def test_a_modal_submission_reaches_its_handler() -> None:
    got: list[dict[str, str]] = []

    def bot_setup(chat: Chat) -> None:
        @chat.on_modal_submit("feedback")
        async def feedback(thread: Thread, submission: ModalSubmission) -> None:
            got.append(submission.values)

    async with BotTester(bot_setup) as bot:
        await bot.discord.channel().submit_modal("feedback", {"comment": "great"})
        assert got == [{"comment": "great"}]


async def test_opening_a_modal_says_why_discord_cannot() -> None:
    errors: list[str] = []

    def bot_setup(chat: Chat) -> None:
        @chat.on_command("form")
        async def form(thread: Thread, command: Command) -> None:
            try:
                await command.open_modal(Modal("feedback", "Feedback", [TextInput("note", "Note")]))
            except NotSupported as error:
                errors.append(str(error))

    async with BotTester(bot_setup) as bot:
        await bot.discord.channel().command("form")
        assert errors and "immediate answer to an interaction" in errors[0]


async def test_a_reply_after_the_interactions_token_lapsed_goes_to_the_channel() -> None:
    async with BotTester(setup) as bot:
        await bot.discord.channel().command("remind", "20m", "stretch")
        await bot.advance(20 * 60)
        [posted] = made(bot, "create")
        assert posted["content"] == "⏰ stretch"
        assert posted["allowed_mentions"] == {"parse": []}


async def test_text_past_2000_characters_continues_in_follow_ups() -> None:
    text = "word " * 900  # 4,500 characters

    def bot_setup(chat: Chat) -> None:
        @chat.on_command("long")
        async def long(thread: Thread, command: Command) -> None:
            await thread.post(text)

    async with BotTester(bot_setup) as bot:
        await bot.discord.channel().command("long")
        parts = [str(c["content"]) for c in made(bot, "original") + made(bot, "followup")]
        assert len(parts) == 3 and all(len(part) <= 2000 for part in parts)
        assert " ".join(parts).split() == text.split()


async def test_the_bots_commands_are_registered_as_slash_commands() -> None:
    apis = PlatformApis(
        "1:t",
        "xoxb",
        "bot",
        discord_application_id=DISCORD_APPLICATION_ID,
        discord_bot_token=DISCORD_BOT_TOKEN,
    )
    config = BotConfig.from_env(
        {
            "DISCORD_PUBLIC_KEY": DISCORD_PUBLIC_KEY,
            "DISCORD_APPLICATION_ID": DISCORD_APPLICATION_ID,
            "DISCORD_BOT_TOKEN": DISCORD_BOT_TOKEN,
            "DISCORD_API_BASE": "http://fake/discord",
        }
    )
    count = await register_discord_commands(setup, config, InProcessHttp(apis, "http://fake"))
    names = [c["name"] for c in apis.discord.commands]
    assert count == len(names) and set(names) == {"start", "slow", "remind"}


async def test_registering_commands_without_a_bot_token_says_what_to_set() -> None:
    config = BotConfig.from_env(
        {"DISCORD_PUBLIC_KEY": DISCORD_PUBLIC_KEY, "DISCORD_APPLICATION_ID": "1"}
    )
    with pytest.raises(ValueError, match="needs DISCORD_BOT_TOKEN"):
        await register_discord_commands(setup, config, InProcessHttp(PlatformApis("", "", ""), ""))


async def test_plain_text_is_escaped_and_never_pings() -> None:
    def bot_setup(chat: Chat) -> None:
        @chat.on_command("echo")
        async def echo(thread: Thread, message: Message) -> None:
            await thread.post("@everyone *look*")

    async with BotTester(bot_setup) as bot:
        await bot.discord.channel().command("echo")
        [answer] = made(bot, "original")
        assert answer["content"] == "@everyone \\*look\\*"
        assert answer["allowed_mentions"] == {"parse": []}
