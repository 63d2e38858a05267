"""The local runtime: the example bot, its routes and its state, wired for one process."""

from __future__ import annotations

import logging
from typing import Any

from ..bot_setup import build_chat
from ..chat.work_index import WorkIndex
from ..config import BotConfig
from ..http import HttpRequest, HttpResponse
from ..ingress import Ingress
from ..local_state import LocalStateAdapter, open_local_state
from ..sqlite_port import SqlitePort
from .httpx_client import HttpxClient

logger = logging.getLogger("chatstate.local")


class LocalRuntime:
    def __init__(self, config: BotConfig) -> None:
        self.config = config
        self.http = HttpxClient()
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.state: LocalStateAdapter = open_local_state(config.data_dir / "shards")
        self._parent_sql = SqlitePort(config.data_dir / "messenger.sqlite3")
        self.chat = build_chat(
            config, state=self.state, work_index=WorkIndex(self._parent_sql), http=self.http
        )
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
        # uvicorn has stopped accepting by now; handlers get a bounded grace period, and what
        # they leave unfinished stays queued for the next start.
        unfinished = await self.chat.stop(self.config.shutdown_grace_ms / 1000)
        if unfinished:
            logger.warning(
                "%d handler(s) still running after %d ms; their work resumes at next start",
                unfinished,
                self.config.shutdown_grace_ms,
            )
        await self.state.disconnect()
        await self.http.close()
        self._parent_sql.close()
