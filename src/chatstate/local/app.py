"""The local runtime: the example bot, its routes and its state, wired for one process."""

from __future__ import annotations

import logging
from typing import Any

import bot

from ..chat.runtime import Chat
from ..chat.work_index import WorkIndex
from ..http import HttpRequest, HttpResponse
from ..ingress import Ingress
from ..local_state import LocalStateAdapter, open_local_state
from ..platforms.base import Platform
from ..platforms.slack import SlackPlatform
from ..platforms.telegram import TelegramPlatform
from ..sqlite_port import SqlitePort
from .config import LocalConfig
from .httpx_client import HttpxClient

logger = logging.getLogger("chatstate.local")


class LocalRuntime:
    def __init__(self, config: LocalConfig) -> None:
        self.config = config
        self.http = HttpxClient()
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.state: LocalStateAdapter = open_local_state(config.data_dir / "shards")
        self._parent_sql = SqlitePort(config.data_dir / "messenger.sqlite3")
        platforms: list[Platform] = []
        if config.telegram_bot_token and config.telegram_webhook_secret:
            platforms.append(
                TelegramPlatform(
                    bot_token=config.telegram_bot_token,
                    secret_token=config.telegram_webhook_secret,
                    http=self.http,
                    api_base=config.telegram_api_base,
                )
            )
        if config.slack_signing_secret and config.slack_bot_token:
            platforms.append(
                SlackPlatform(
                    signing_secret=config.slack_signing_secret,
                    bot_token=config.slack_bot_token,
                    http=self.http,
                    api_base=config.slack_api_base,
                )
            )
        self.chat = Chat(
            platforms=platforms,
            state=self.state,
            work_index=WorkIndex(self._parent_sql),
            concurrency=config.concurrency,
            lock_ttl_ms=config.lock_ttl_ms,
        )
        bot.setup(self.chat)
        self.ingress = Ingress(self.chat.platforms, self.chat.accept, self.state.clock)

    async def handle(self, request: HttpRequest) -> HttpResponse:
        return await self.ingress.handle(request)

    async def startup(self) -> None:
        await self.state.connect()
        if not self.chat.platforms:
            logger.warning(
                "no platform configured: set TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET "
                "and/or SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN"
            )
        await self.chat.recover()
        logger.info(
            "chat runtime ready: platforms=%s strategy=%s data=%s",
            ",".join(sorted(self.chat.platforms)) or "none",
            self.config.concurrency.strategy,
            self.config.data_dir,
        )

    async def shutdown(self, *_: Any) -> None:
        await self.chat.idle()
        await self.state.disconnect()
        await self.http.close()
        self._parent_sql.close()
