"""Discord interactions end to end on both runtimes: Ed25519-signed deliveries (WebCrypto on
workerd, `cryptography` locally), PING, deferral, replies through the interaction webhook at a
fake Discord API on loopback, and every bad input refused before state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from chatstate.testing.payloads import (
    body,
    discord_button,
    discord_command,
    discord_interaction,
    discord_modal_submit,
)
from support.e2e import post_discord, shard_files
from support.fake_apis import FakeApis
from support.local_server import (
    DISCORD_APPLICATION_ID,
    DISCORD_BOT_TOKEN,
    DISCORD_PUBLIC_KEY,
    LocalServer,
)

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[1]
# RFC 8032's second test key: a valid key pair, but not the application's.
OTHER_KEY = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"


def test_a_ping_is_answered_with_a_pong(
    start_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_server()
    response = post_discord(server, apis, discord_interaction(1, None))
    assert response.status_code == 200
    assert response.json() == {"type": 1}
    assert response.headers["content-type"].startswith("application/json")


def test_a_slash_command_is_deferred_then_answered_through_its_webhook(
    start_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_server()
    command = discord_command("remind", "10s", "stretch")
    response = post_discord(server, apis, command)
    assert (response.status_code, response.json()) == (200, {"type": 5})
    [answer] = apis.wait_for("original", 1)
    assert "remind you in 10s" in answer["content"]


def test_a_button_press_is_deferred_and_reaches_the_action_handler(
    start_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_server()
    response = post_discord(server, apis, discord_button("ping"))
    assert (response.status_code, response.json()) == (200, {"type": 6})
    [answer] = apis.wait_for("original", 1)
    assert answer["content"] == "pong for Mason"


def test_a_redelivered_interaction_is_handled_once(
    start_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_server()
    command = discord_command("start")
    for _ in range(3):
        assert post_discord(server, apis, command).status_code == 200
    apis.wait_for("original", 1)
    time.sleep(1.5)
    assert len(apis.sent("original")) == 1
    assert apis.sent("followup") == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"x-signature-ed25519": ""}, "missing Discord signature headers"),
        ({"x-signature-ed25519": "00" * 64}, "invalid Discord signature"),
        ({"x-signature-ed25519": "not hex"}, "invalid Discord signature"),
    ],
)
def test_a_bad_signature_gets_401_and_writes_nothing(
    start_server: Callable[..., LocalServer],
    apis: FakeApis,
    change: dict[str, str],
    reason: str,
) -> None:
    server = start_server()
    before = shard_files(server)
    raw = body(discord_command("start"))
    headers = {
        "content-type": "application/json",
        "x-signature-timestamp": str(int(time.time())),
        **change,
    }
    response = httpx.post(
        f"{server.url}/webhooks/discord", content=raw, headers=headers, timeout=30
    )
    assert (response.status_code, response.text) == (401, f"{reason}\n")
    assert shard_files(server) == before


def test_an_interaction_signed_with_another_key_gets_401(
    start_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_server()
    response = post_discord(server, apis, discord_command("start"), private_key=OTHER_KEY)
    assert (response.status_code, response.text) == (401, "invalid Discord signature\n")


def test_an_expired_timestamp_gets_401_even_when_signed(
    start_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_server()
    stale = int(time.time()) - 600
    response = post_discord(server, apis, discord_command("start"), timestamp=stale)
    assert (response.status_code, response.text) == (401, "Discord request timestamp is too old\n")
    assert apis.sent("original") == []


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("channel_id", "general", "channel_id must be a snowflake (a string of digits)"),
        ("token", "", "token must be an interaction token"),
        ("data", [], "data must be an object"),
        ("type", 9, "type must be an interaction type (1-5)"),
    ],
)
def test_a_malformed_interaction_gets_400_naming_the_field(
    start_server: Callable[..., LocalServer],
    apis: FakeApis,
    field: str,
    value: object,
    reason: str,
) -> None:
    server = start_server()
    payload = {**discord_command("start"), field: value}
    response = post_discord(server, apis, json.loads(json.dumps(payload)))
    assert (response.status_code, response.text) == (400, f"{reason}\n")


def test_a_modal_submission_is_answered_at_once_to_its_user_alone(
    start_server: Callable[..., LocalServer], apis: FakeApis
) -> None:
    server = start_server()
    submit = discord_modal_submit("feedback", {"comment": "great"})
    response = post_discord(server, apis, submit)
    assert response.status_code == 200
    assert response.json() == {"type": 4, "data": {"content": "Received.", "flags": 64}}


def test_register_commands_on_the_command_line_registers_the_bots_commands(
    apis: FakeApis, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "DISCORD_PUBLIC_KEY": DISCORD_PUBLIC_KEY,
        "DISCORD_APPLICATION_ID": DISCORD_APPLICATION_ID,
        "DISCORD_BOT_TOKEN": DISCORD_BOT_TOKEN,
        "DISCORD_API_BASE": f"{apis.base}/discord",
    }
    done = subprocess.run(
        [sys.executable, "-m", "chatstate", "discord", "register-commands", "--project", str(ROOT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Discord offers 3 command(s) now: /start, /slow, /remind" in done.stdout
    [registered] = apis.sent("commands")
    assert {c["name"] for c in registered["commands"]} == {"start", "slow", "remind"}
    assert DISCORD_BOT_TOKEN not in done.stdout + done.stderr


def test_register_commands_without_a_bot_token_says_what_to_set(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DISCORD_PUBLIC_KEY": DISCORD_PUBLIC_KEY,
        "DISCORD_APPLICATION_ID": DISCORD_APPLICATION_ID,
    }
    env.pop("DISCORD_BOT_TOKEN", None)
    done = subprocess.run(
        [sys.executable, "-m", "chatstate", "discord", "register-commands", "--project", str(ROOT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "registering commands needs DISCORD_BOT_TOKEN" in done.stderr
