"""The local runtime: a bot, its routes and its state, wired for one process."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from chatstate.chat.work_index import ParentWorkIndex, ShardWorkIndex
from chatstate.compose import BotSetup, build_bot, build_conversation_api
from chatstate.config import BotConfig
from chatstate.conversations.agents import Agents
from chatstate.http.messages import HttpRequest, HttpResponse
from chatstate.local.http11_client import Http11Client
from chatstate.local.live_sockets import LiveHub, LiveSockets
from chatstate.local.signing import CryptographyEd25519, CryptographyRsaSigner
from chatstate.local.wakeups import FileWakeups
from chatstate.platforms.web import WEB
from chatstate.routes.api.conversation_routes import API_PREFIX
from chatstate.routes.api.thread_posts import THREADS_PREFIX, ThreadPostsApi
from chatstate.routes.console.routes import ConsoleApp, is_console_path
from chatstate.routes.webhooks import Ingress
from chatstate.state.adapter import StateAdapter
from chatstate.state.backends.kv import open_kv_state
from chatstate.state.backends.kv.rest_client import KvRestClient
from chatstate.state.backends.sqlite_files import LocalStateAdapter, open_local_state, wall_clock_ms
from chatstate.state.backends.sqlite_port import SqlitePort
from chatstate.state.sharding import ShardRouter

logger = logging.getLogger("chatstate.local")
PARENT_INDEX_FILE = "chatstate.cloudflare.messenger.sqlite3"


class LocalRuntime:
    def __init__(
        self, config: BotConfig, setup: BotSetup, router: ShardRouter | None = None
    ) -> None:
        self.config = config
        self.router = router or ShardRouter()
        self.http = Http11Client()
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.state, work_index = self._open_state()
        wakeups = (
            FileWakeups(self.state.shards) if isinstance(self.state, LocalStateAdapter) else None
        )
        # Discord's signatures need the cryptography package: asked for only when configured.
        ed25519 = CryptographyEd25519() if config.discord_public_key else None
        rsa = CryptographyRsaSigner() if config.github_app_id else None
        bot = build_bot(
            config,
            setup,
            state=self.state,
            work_index=work_index,
            http=self.http,
            wakeups=wakeups,
            ed25519=ed25519,
            rsa=rsa,
        )
        self.chat = bot.chat
        # The web platform's messages come from the console, never from a webhook.
        webhooks = {name: p for name, p in self.chat.platforms.items() if name != WEB}
        self.ingress = Ingress(webhooks, self.chat.accept, self.state.clock, self.chat.submit)
        agents = Agents(self.state)
        self.api = build_conversation_api(config, bot, agents, self.http)
        self.thread_posts = ThreadPostsApi(self.chat, config.api_token)
        assert config.admin_token is not None, "main() makes one when CHAT_ADMIN_TOKEN is unset"
        self.console = ConsoleApp(
            config,
            admin_token=config.admin_token,
            index=bot.console,
            agents=agents,
            accept=self.chat.accept,
            on_cloudflare=False,
            commands=self.chat.commands(),
            submit=self.chat.submit,
        )
        hub = LiveHub()
        if isinstance(self.state, LocalStateAdapter):
            self.state.shards.publish = hub.publish
        self.live = LiveSockets(agents, hub, config.api_token)

    def _open_state(self) -> tuple[StateAdapter, ShardWorkIndex]:
        """The state backend CHAT_STATE names, and its work index (chat/work_index.py)."""
        config = self.config
        if config.state_backend == "kv":
            account_id, namespace_id, api_token = config.kv_rest_settings()
            client = KvRestClient(
                self.http,
                account_id=account_id,
                namespace_id=namespace_id,
                api_token=api_token,
                api_base=config.cloudflare_api_base,
            )
            kv_state = open_kv_state(
                client,
                clock=wall_clock_ms,
                key_prefix=config.kv_key_prefix,
                default_ttl_ms=config.kv_default_ttl_ms,
            )
            return kv_state, ShardWorkIndex(kv_state.kv_store.pending_work)
        local_state = open_local_state(
            config.data_dir / "shards",
            name=self.router.name,
            shard_key=self.router.shard_key,
            key_shard=self.router.key_shard,
        )
        # The work index rides in the shards' own transactions.
        return local_state, ShardWorkIndex(local_state.shards.pending_work)

    async def handle(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(THREADS_PREFIX):
            return await self.thread_posts.handle(request)
        if request.path.startswith(API_PREFIX):
            return await self.api.handle(request)
        if is_console_path(request.path):
            return await self.console.handle(request)
        return await self.ingress.handle(request)

    async def startup(self) -> None:
        await self.state.connect()
        await self._adopt_parent_work_index()
        if set(self.chat.platforms) == {WEB}:
            logger.warning(
                "only the console's chat box is on: for Telegram set TELEGRAM_BOT_TOKEN and "
                "TELEGRAM_WEBHOOK_SECRET, for Slack SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN"
            )
        await self.chat.recover()
        logger.info(
            "chat runtime ready: platforms=%s strategy=%s state=%s data=%s",
            ",".join(sorted(self.chat.platforms)) or "none",
            self.config.concurrency.strategy,
            self.config.state_backend,
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

    async def _adopt_parent_work_index(self) -> None:
        """Earlier versions kept the work index in its own file: move its marks into the
        shards, then remove it (a crash in between only repeats the marks)."""
        path = self.config.data_dir / PARENT_INDEX_FILE
        if not path.exists() or not isinstance(self.state, LocalStateAdapter):
            return
        parent = SqlitePort(path)
        try:
            keys = ParentWorkIndex(parent).pending_now()
        finally:
            parent.close()
        if keys:
            batch = self.state.batch()
            for key in keys:
                batch.mark_pending(key)
            await batch.run()
        for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            leftover.unlink(missing_ok=True)
        logger.info("moved %d pending conversation(s) from %s into the shards", len(keys), path)
