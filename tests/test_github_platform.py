"""The GitHub platform through chatstate.testing: comments in, comments out at the fake REST
API (chatstate.testing.github_api), with what GitHub can and cannot show."""

from __future__ import annotations

import pytest

from bot import setup
from chatstate import Author, Chat, Message, Thread
from chatstate.chat.content import Card, File, LinkButton, Markdown, NotSupported, Reply
from chatstate.chat.events import Button
from chatstate.http.client import HttpResult
from chatstate.platforms.github import COMMENT_LIMIT, GitHubPlatform
from chatstate.testing import BotTester

REPO = "octo-org/hello-world"


def comments(bot: BotTester) -> list[dict[str, object]]:
    return [c.payload for c in bot.calls if c.method == "issues.comments.create"]


async def test_a_mention_subscribes_the_issue_and_a_follow_up_is_answered() -> None:
    async with BotTester(setup) as bot:
        issue = bot.github.issue(7)
        await issue.comment("hello", mention=True)
        assert bot.replies[-1].text.startswith("hi octocat! I'm listening here.")
        await issue.comment("more")
        assert bot.replies[-1].text == "got 1 message(s), latest: more (2 in this thread)"
        assert [c["path"] for c in comments(bot)] == [f"/repos/{REPO}/issues/7/comments"] * 2


async def test_a_comment_without_a_mention_in_an_unsubscribed_issue_is_not_answered() -> None:
    async with BotTester(setup) as bot:
        await bot.github.issue(7).comment("just talking")
        assert comments(bot) == []


async def test_an_edited_comment_reaches_the_edit_handler() -> None:
    async with BotTester(setup) as bot:
        issue = bot.github.issue(7)
        sent = await issue.comment("hello", mention=True)
        await issue.edit(sent, "hello again")
        assert bot.replies[-1].text == "you edited a message to: hello again"


async def test_a_slash_word_at_the_start_of_a_comment_is_a_command() -> None:
    seen: list[tuple[str, str]] = []

    def commands(chat: Chat) -> None:
        @chat.on_command("label")
        async def label(thread: Thread, command: object) -> None:
            seen.append((command.name, command.args))  # type: ignore[attr-defined]

    async with BotTester(commands) as bot:
        await bot.github.issue(7).comment("/label bug")
        assert seen == [("label", "bug")]


async def test_plain_text_is_escaped_and_markdown_is_kept() -> None:
    def replies(chat: Chat) -> None:
        @chat.on_mention
        async def answer(thread: Thread, message: Message) -> None:
            await thread.post("2 * 3 = 6, not <b>bold</b>")
            await thread.post(Markdown("**bold** and `code`"))

    async with BotTester(replies) as bot:
        await bot.github.issue(7).comment("hi", mention=True)
        bodies = [c["body"] for c in comments(bot)]
        assert bodies == ["2 \\* 3 = 6, not \\<b\\>bold\\</b\\>", "**bold** and `code`"]


async def test_a_card_becomes_markdown_with_its_links() -> None:
    card = Card(
        title="Build",
        text="passed",
        fields=[("branch", "main")],
        buttons=[LinkButton("Logs", "https://ci.example/1")],
    )

    def replies(chat: Chat) -> None:
        @chat.on_mention
        async def answer(thread: Thread, message: Message) -> None:
            await thread.post(card)

    async with BotTester(replies) as bot:
        await bot.github.issue(7).comment("status?", mention=True)
        [comment] = comments(bot)
        assert comment["body"] == (
            "### Build\n\npassed\n\n**branch**: main\n\n[Logs](https://ci.example/1)"
        )


async def test_a_reply_past_one_comment_continues_in_the_next() -> None:
    text = ("word " * 20_000).strip()  # about 100,000 characters

    def replies(chat: Chat) -> None:
        @chat.on_mention
        async def answer(thread: Thread, message: Message) -> None:
            await thread.post(Markdown(text))

    async with BotTester(replies) as bot:
        await bot.github.issue(7).comment("long", mention=True)
        bodies = [str(c["body"]) for c in comments(bot)]
        assert len(bodies) == 2
        assert all(len(body) <= COMMENT_LIMIT for body in bodies)
        assert " ".join(bodies).split() == text.split()


async def test_the_bot_reacts_to_a_comment_and_takes_the_reaction_back() -> None:
    def replies(chat: Chat) -> None:
        @chat.on_mention
        async def answer(thread: Thread, message: Message) -> None:
            sent = await thread.post("on it")
            await sent.react("🚀")
            await sent.unreact("🚀")

    async with BotTester(replies) as bot:
        await bot.github.issue(7).comment("deploy", mention=True)
        made = [(c.method, c.payload.get("content")) for c in bot.calls if "reaction" in c.method]
        assert made == [
            ("reactions.create", "rocket"),
            ("reactions.list", None),
            ("reactions.delete", None),
        ]
        [(_, _, comment_id)] = bot.apis.github.comments
        assert bot.apis.github.reactions[(REPO, f"issues/comments/{comment_id}")] == []


async def test_an_edit_and_a_delete_change_the_comment() -> None:
    def replies(chat: Chat) -> None:
        @chat.on_mention
        async def answer(thread: Thread, message: Message) -> None:
            sent = await thread.post("draft")
            await sent.edit("final")
            second = await thread.post("gone soon")
            await second.delete()

    async with BotTester(replies) as bot:
        await bot.github.issue(7).comment("write", mention=True)
        assert list(bot.apis.github.comments.values()) == ["final"]


class Unreachable:
    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> HttpResult:
        raise AssertionError("nothing may be sent")

    async def request(
        self, method: str, url: str, body: bytes, headers: dict[str, str]
    ) -> HttpResult:
        raise AssertionError("nothing may be sent")


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply("hi", buttons=(Button("Ping", "ping"),)), "no buttons that reach the bot"),
        (Reply(file=File("a.txt", b"x")), "no file uploads"),
    ],
)
async def test_what_github_cannot_show_is_refused_before_any_call(
    reply: Reply, reason: str
) -> None:
    github = GitHubPlatform(webhook_secret="s", token="t", bot_login="bot", http=Unreachable())
    with pytest.raises(NotSupported, match=reason):
        await github.send(f"github:{REPO}:7", reply)


async def test_a_reaction_github_does_not_have_is_refused() -> None:
    github = GitHubPlatform(webhook_secret="s", token="t", bot_login="bot", http=Unreachable())
    sent = Message(
        f"{REPO}:c5", f"github:{REPO}:7", f"github:{REPO}", "github", "", Author("bot"), 0
    )
    with pytest.raises(NotSupported, match="github reacts only with"):
        await github.react(sent, "🔥", add=True)
