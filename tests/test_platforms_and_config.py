"""Platform parsing details, transcripts and configuration errors."""

from __future__ import annotations

import json

import pytest

from chatstate.chat.events import Inbound, Message
from chatstate.chat.transcripts import Transcripts
from chatstate.config import BotConfig, ConfigError
from chatstate.http.client import HttpResult
from chatstate.http.messages import HttpRequest
from chatstate.platforms.slack import SlackPlatform
from chatstate.platforms.telegram import TelegramPlatform
from chatstate.state.backends.sqlite_files import LocalStateAdapter
from chatstate.testing.payloads import slack_event, telegram_message_update


class NoHttp:
    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> HttpResult:
        raise AssertionError("no call expected")


def parse(platform: TelegramPlatform | SlackPlatform, payload: dict[str, object]) -> Inbound:
    parsed = platform.parse(HttpRequest("POST", "/", {}, json.dumps(payload).encode()))
    assert isinstance(parsed, Inbound)
    return parsed


TELEGRAM = TelegramPlatform(bot_token="t", secret_token="s", http=NoHttp())
SLACK = SlackPlatform(signing_secret="s", bot_token="b", http=NoHttp())


def test_a_telegram_edit_is_a_new_event_for_the_same_message() -> None:
    update = telegram_message_update(-1001, "fixed", message_id=7)
    update["edited_message"] = {**update.pop("message"), "edit_date": 1_700_000_100}
    [event] = parse(TELEGRAM, update).events
    assert isinstance(event, Message)
    assert event.id == "-1001:7:edit:1700000100"


def test_a_telegram_topic_message_has_the_topic_in_its_thread_id() -> None:
    [event] = parse(TELEGRAM, telegram_message_update(-1001, "x", topic=5)).events
    assert (event.thread_id, event.channel_id) == ("telegram:-1001:5", "telegram:-1001")


def test_a_telegram_private_chat_is_a_direct_message() -> None:
    [event] = parse(TELEGRAM, telegram_message_update(55, "x", chat_type="private")).events
    assert isinstance(event, Message) and event.is_dm


def test_a_telegram_update_delivery_id_is_its_update_id() -> None:
    assert parse(TELEGRAM, telegram_message_update(-1, "x", update_id=99)).delivery_id == "u99"


def test_a_top_level_slack_dm_has_an_empty_thread_ts() -> None:
    event = {
        "type": "message",
        "user": "U1",
        "text": "hi",
        "ts": "1.000001",
        "channel": "D123",
        "channel_type": "im",
    }
    [message] = parse(SLACK, slack_event(event)).events
    assert message.thread_id == "slack:D123:"
    assert isinstance(message, Message) and message.is_dm


def test_a_slack_thread_reply_uses_its_parent_ts() -> None:
    event = {
        "type": "message",
        "user": "U1",
        "text": "re",
        "ts": "2.0",
        "thread_ts": "1.0",
        "channel": "C1",
    }
    [message] = parse(SLACK, slack_event(event)).events
    assert message.thread_id == "slack:C1:1.0"


def test_a_slack_message_mentioning_the_bot_is_a_mention() -> None:
    event = {"type": "message", "user": "U1", "text": "<@UBOT> hi", "ts": "2.0", "channel": "C1"}
    [message] = parse(SLACK, slack_event(event)).events
    assert isinstance(message, Message) and message.is_mention


async def test_transcripts_keep_the_newest_entries_per_user(state: LocalStateAdapter) -> None:
    transcripts = Transcripts(state, max_per_user=3)
    for n in range(5):
        await transcripts.append(
            "u1",
            role="user",
            text=f"t{n}",
            platform="telegram",
            thread_id="telegram:1",
            timestamp=n,
        )
    assert [e["text"] for e in await transcripts.list("u1", limit=2)] == ["t3", "t4"]
    assert [e["text"] for e in await transcripts.list("u1")] == ["t2", "t3", "t4"]


async def test_deleting_a_transcript_leaves_it_empty(state: LocalStateAdapter) -> None:
    transcripts = Transcripts(state)
    await transcripts.append(
        "u1", role="user", text="x", platform="slack", thread_id="slack:C:1", timestamp=0
    )
    await transcripts.delete("u1")
    assert await transcripts.list("u1") == []


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"TELEGRAM_BOT_TOKEN": "t"},
            "TELEGRAM_WEBHOOK_SECRET is required when TELEGRAM_BOT_TOKEN is set",
        ),
        ({"SLACK_BOT_TOKEN": "b"}, "SLACK_SIGNING_SECRET is required when SLACK_BOT_TOKEN is set"),
        ({"PORT": "eighty"}, "PORT must be a whole number"),
        ({"CHAT_CONCURRENCY": "parallel"}, "CHAT_CONCURRENCY must be one of"),
        (
            {"TELEGRAM_BOT_TOKEN": "t", "TELEGRAM_WEBHOOK_SECRET": "has space"},
            "TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -",
        ),
        (
            {"TELEGRAM_BOT_TOKEN": "t", "TELEGRAM_WEBHOOK_SECRET": "a" * 257},
            "TELEGRAM_WEBHOOK_SECRET must be 1-256 characters",
        ),
        ({"CHAT_LOG_LEVEL": "LOUD"}, "CHAT_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR"),
        ({"CHAT_SHUTDOWN_GRACE_MS": "soon"}, "CHAT_SHUTDOWN_GRACE_MS must be a whole number"),
        ({"CHAT_STATE": "redis"}, "CHAT_STATE must be one of sqlite, kv, not 'redis'"),
        ({"CHAT_KV_TTL_MINUTES": "-1"}, "CHAT_KV_TTL_MINUTES must be 0 .no default TTL. or more"),
        ({"GITHUB_TOKEN": "g"}, "GITHUB_WEBHOOK_SECRET is required when GITHUB_TOKEN is set"),
        (
            {"GITHUB_WEBHOOK_SECRET": "s", "GITHUB_BOT_LOGIN": "b"},
            "needs GITHUB_TOKEN, or GITHUB_APP_ID",
        ),
        (
            {
                "GITHUB_WEBHOOK_SECRET": "s",
                "GITHUB_BOT_LOGIN": "b",
                "GITHUB_TOKEN": "t",
                "GITHUB_APP_ID": "1",
                "GITHUB_APP_PRIVATE_KEY": "k",
            },
            "not both",
        ),
        (
            {"GITHUB_TOKEN": "g", "GITHUB_WEBHOOK_SECRET": "s"},
            "GITHUB_BOT_LOGIN is required when GITHUB_WEBHOOK_SECRET is set",
        ),
        (
            {"WHATSAPP_APP_SECRET": "s", "WHATSAPP_VERIFY_TOKEN": "v"},
            "WhatsApp needs all four settings: set WHATSAPP_ACCESS_TOKEN, WHATSAPP_PHONE_NUMBER_ID",
        ),
        (
            {
                "WHATSAPP_APP_SECRET": "s",
                "WHATSAPP_VERIFY_TOKEN": "v",
                "WHATSAPP_ACCESS_TOKEN": "a",
                "WHATSAPP_PHONE_NUMBER_ID": "+1 555",
            },
            "WHATSAPP_PHONE_NUMBER_ID is the number's id in digits",
        ),
    ],
)
def test_configuration_errors_say_what_to_set(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BotConfig.from_env(env)


def test_an_empty_environment_is_a_bot_with_no_platform() -> None:
    config = BotConfig.from_env({})
    assert config.telegram_bot_token is None and config.slack_bot_token is None
    assert config.concurrency.strategy == "queue"


def test_a_webhook_secret_of_256_allowed_characters_is_accepted() -> None:
    secret = ("Az09_-" * 43)[:256]
    config = BotConfig.from_env({"TELEGRAM_BOT_TOKEN": "t", "TELEGRAM_WEBHOOK_SECRET": secret})
    assert config.telegram_webhook_secret == secret


def test_kv_over_rest_names_every_missing_setting() -> None:
    config = BotConfig.from_env({"CHAT_STATE": "kv", "CLOUDFLARE_ACCOUNT_ID": "a"})
    with pytest.raises(ConfigError, match=r"set CHAT_KV_NAMESPACE_ID, CLOUDFLARE_API_TOKEN$"):
        config.kv_rest_settings()


def test_the_cloudflare_api_token_is_a_secret_scrubbed_from_logs() -> None:
    config = BotConfig.from_env({"CLOUDFLARE_API_TOKEN": "cf-token-1"})
    assert "cf-token-1" in config.secrets


def test_github_and_whatsapp_secrets_are_scrubbed_from_logs() -> None:
    config = BotConfig.from_env(
        {
            "GITHUB_WEBHOOK_SECRET": "gh-secret",
            "GITHUB_TOKEN": "gh-token",
            "GITHUB_BOT_LOGIN": "bot",
            "WHATSAPP_VERIFY_TOKEN": "wa-verify",
            "WHATSAPP_APP_SECRET": "wa-secret",
            "WHATSAPP_ACCESS_TOKEN": "wa-token",
            "WHATSAPP_PHONE_NUMBER_ID": "1065",
        }
    )
    assert {"gh-secret", "gh-token", "wa-verify", "wa-secret", "wa-token"} <= set(config.secrets)


def test_a_kv_ttl_of_zero_minutes_means_no_default_ttl() -> None:
    assert BotConfig.from_env({"CHAT_KV_TTL_MINUTES": "0"}).kv_default_ttl_ms is None


def test_the_api_token_and_the_model_key_are_secrets_scrubbed_from_logs() -> None:
    config = BotConfig.from_env(
        {
            "CHAT_API_TOKEN": "api-token-0123456789",
            "CHAT_LLM_BASE_URL": "http://127.0.0.1:11434/v1",
            "CHAT_LLM_MODEL": "llama3",
            "CHAT_LLM_API_KEY": "sk-model-key",
        }
    )
    assert {"api-token-0123456789", "sk-model-key"} <= set(config.secrets)


def test_a_short_api_token_is_refused() -> None:
    with pytest.raises(ConfigError, match="CHAT_API_TOKEN must be at least 16"):
        BotConfig.from_env({"CHAT_API_TOKEN": "short"})


def test_a_model_url_without_a_model_is_refused() -> None:
    with pytest.raises(ConfigError, match="CHAT_LLM_MODEL is required"):
        BotConfig.from_env({"CHAT_LLM_BASE_URL": "http://127.0.0.1:11434/v1"})


def test_a_negative_completion_cache_ttl_is_refused() -> None:
    with pytest.raises(ConfigError, match="CHAT_LLM_CACHE_TTL_MS"):
        BotConfig.from_env({"CHAT_LLM_CACHE_TTL_MS": "-1"})
