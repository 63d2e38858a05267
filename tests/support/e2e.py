"""Helpers of the end-to-end suite: sending signed webhooks, and reading the state a server left
on disk, whichever runtime it is (the local runtime's shard files or workerd's Durable Object
SQLite files)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx

from chatstate.testing.payloads import (
    body,
    discord_signed_headers,
    github_signed_headers,
    slack_signed_headers,
    whatsapp_signed_headers,
)
from support.fake_apis import FakeApis
from support.local_server import (
    DISCORD_PRIVATE_KEY,
    GITHUB_SECRET,
    SLACK_SECRET,
    TELEGRAM_SECRET,
    WHATSAPP_APP_SECRET,
    LocalServer,
    WranglerServer,
)

TELEGRAM_HEADERS = {
    "content-type": "application/json",
    "x-telegram-bot-api-secret-token": TELEGRAM_SECRET,
}


def post_telegram(server: LocalServer, update: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{server.url}/webhooks/telegram",
        content=body(update),
        headers=TELEGRAM_HEADERS,
        timeout=30,
    )


def post_slack(server: LocalServer, envelope: dict[str, Any], **headers: str) -> httpx.Response:
    raw = body(envelope)
    return httpx.post(
        f"{server.url}/webhooks/slack",
        content=raw,
        headers={**slack_signed_headers(SLACK_SECRET, raw), **headers},
        timeout=30,
    )


def shard_files(server: LocalServer) -> list[Path]:
    """Every SQLite file holding chat state shards."""
    if isinstance(server, WranglerServer):
        # One file per object, named by its id; workerd keeps its own metadata.sqlite beside.
        objects = (server.do_storage / "chatstate-bot-ChatSdkStateAgent").glob("*.sqlite")
        return sorted(p for p in objects if p.name != "metadata.sqlite")
    return sorted((server.data_dir / "shards").glob("*.sqlite3"))


def queue_depth(server: LocalServer, queue_key: str) -> int:
    """Entries waiting in a conversation's queue, read from the files on disk."""
    depth = 0
    for path in shard_files(server):
        with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if "chat_state_queue" in tables:
                depth += conn.execute(
                    "SELECT COUNT(*) FROM chat_state_queue WHERE thread_id = ?", (queue_key,)
                ).fetchone()[0]
    return depth


def post_github(
    server: LocalServer,
    event: str,
    payload: dict[str, Any],
    *,
    delivery: str | None = None,
    secret: str = GITHUB_SECRET,
) -> httpx.Response:
    raw = body(payload)
    return httpx.post(
        f"{server.url}/webhooks/github",
        content=raw,
        headers=github_signed_headers(secret, raw, event, delivery),
        timeout=30,
    )


def post_whatsapp(
    server: LocalServer, payload: dict[str, Any], *, secret: str = WHATSAPP_APP_SECRET
) -> httpx.Response:
    raw = body(payload)
    return httpx.post(
        f"{server.url}/webhooks/whatsapp",
        content=raw,
        headers=whatsapp_signed_headers(secret, raw),
        timeout=30,
    )


def post_discord(
    server: LocalServer,
    apis: FakeApis,
    payload: dict[str, Any],
    *,
    timestamp: int | None = None,
    private_key: str = DISCORD_PRIVATE_KEY,
) -> httpx.Response:
    """An interaction, signed with the test key; the fake API learns its token, as Discord
    knows the tokens of the interactions it sent."""
    if "token" in payload:
        apis.apis.discord.tokens.add(payload["token"])
    raw = body(payload)
    return httpx.post(
        f"{server.url}/webhooks/discord",
        content=raw,
        headers=discord_signed_headers(private_key, raw, timestamp),
        timeout=30,
    )
