"""BotMessenger: the parent Durable Object that runs the bot.

An app subclasses it in its `src/entry.py`, naming its bot's `setup` and its shard `router`:

    class ChatMessenger(BotMessenger):
        setup = staticmethod(bot.setup)
        router = sharding.ROUTER

It hosts the same Chat the local runtime hosts. State goes to ChatSdkStateAgent shards by RPC;
its own SQLite keeps the index of conversations with unhandled work, and its alarm re-drives
them after an eviction, from storage rather than memory.
"""

from __future__ import annotations

import asyncio
from typing import Any

from workers import DurableObject

from chatstate.chat.events import Inbound, inbound_from_json
from chatstate.chat.work_index import ParentWorkIndex
from chatstate.cloudflare.conversions import (
    CountingSql,
    DurableObjectSql,
    WorkersHttpClient,
    WorkersKvClient,
    bot_config,
    keep_alive_until_done,
    request_from_wire,
    response_to_wire,
    wall_clock_ms,
)
from chatstate.cloudflare.parent_alarm import ParentAlarm
from chatstate.cloudflare.signing import WebCryptoRsaSigner
from chatstate.cloudflare.wakeups import ParentWakeups
from chatstate.cloudflare.workers_ai import AI_BINDING, workers_ai_model
from chatstate.compose import BotSetup, build_bot, build_conversation_api
from chatstate.config import BotConfig, ConfigError
from chatstate.conversations.agents import Agents
from chatstate.conversations.responder import Responder
from chatstate.routes.api.thread_posts import THREADS_PREFIX, ThreadPostsApi
from chatstate.routes.console.routes import ConsoleApp, console_off
from chatstate.state.adapter import StateAdapter
from chatstate.state.backends.kv import open_kv_state
from chatstate.state.sharding import ShardRouter

# A handler's lock lapses after its TTL; re-check pending work a little after that.
RECHECK_DELAY_MS = 45_000
# Shard calls made at once by one invocation, well inside the per-invocation limits.
MAX_PARALLEL_SHARD_CALLS = 6
KV_BINDING = "CHAT_KV"


class BotMessenger(DurableObject):  # type: ignore[misc]
    # Set by the app's subclass: the bot's handlers, and which shard holds each key.
    setup: BotSetup
    router: ShardRouter = ShardRouter()

    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        config = bot_config(env)
        self._parallel = asyncio.Semaphore(MAX_PARALLEL_SHARD_CALLS)
        self._state = self._open_state(config)
        sql = DurableObjectSql(ctx.storage)
        self._counts = CountingSql(sql) if config.count_calls else None
        self._work_index = ParentWorkIndex(self._counts or sql, on_idle=self._disarm)
        self._alarm = ParentAlarm(
            ctx.storage, on_write=self._counts.count_alarm_write if self._counts else None
        )
        self._wakeups = ParentWakeups(self._counts or sql, self._alarm)
        model = self._workers_ai(config)
        bot = build_bot(
            config,
            type(self).setup,
            state=self._state,
            work_index=self._work_index,
            http=WorkersHttpClient(),
            # Handler work runs after the webhook is answered; waitUntil keeps the object alive
            # until it is done. If the object is evicted anyway, the work index brings it back.
            keep_alive=lambda task: keep_alive_until_done(ctx, task),
            wakeups=self._wakeups,
            model=model,
            rsa=WebCryptoRsaSigner(),
        )
        self._chat = bot.chat
        agents = Agents(self._state)
        self._api = build_conversation_api(config, bot, agents, WorkersHttpClient(), model)
        self._thread_posts = ThreadPostsApi(self._chat, config.api_token)
        self._console = None
        if config.admin_token is not None:
            self._console = ConsoleApp(
                config,
                admin_token=config.admin_token,
                index=bot.console,
                agents=agents,
                accept=self._accept,
                on_cloudflare=True,
                commands=self._chat.commands(),
                submit=self._chat.submit,
            )
        self._recovered = False

    def _workers_ai(self, config: BotConfig) -> Responder | None:
        if config.ai_model is None:
            return None
        binding = getattr(self.env, AI_BINDING, None)
        if binding is None:
            raise ConfigError(
                f"CHAT_AI_MODEL needs an ai binding named {AI_BINDING}: uncomment the ai block "
                "in wrangler.jsonc"
            )
        return workers_ai_model(binding, config.ai_model)

    def _open_state(self, config: BotConfig) -> StateAdapter:
        if config.state_backend != "kv":
            return StateAdapter(self._call_shard, clock=wall_clock_ms, router=self.router)
        binding = getattr(self.env, KV_BINDING, None)
        if binding is None:
            raise ConfigError(
                f"CHAT_STATE=kv needs a KV namespace bound as {KV_BINDING}: uncomment the "
                "kv_namespaces block in wrangler.jsonc"
            )
        return open_kv_state(
            WorkersKvClient(binding),
            clock=wall_clock_ms,
            key_prefix=config.kv_key_prefix,
            default_ttl_ms=config.kv_default_ttl_ms,
        )

    async def _call_shard(self, shard: str, operations: list[list[Any]]) -> dict[str, Any]:
        async with self._parallel:
            reply: dict[str, Any] = await self.env.STATE_SHARDS.getByName(shard).run_batch(
                operations
            )
            return reply

    async def _ready(self) -> None:
        await self._state.connect()
        if not self._recovered:
            self._recovered = True
            await self._chat.recover()

    async def accept(self, platform: str, inbound: dict[str, Any]) -> dict[str, Any]:
        """RPC from the ingress: record a verified delivery durably, then handle it."""
        await self._accept(platform, inbound_from_json(inbound))
        if self._counts is not None:
            self._counts.record("accept")
        return {"accepted": True}

    async def _accept(self, platform: str, inbound: Inbound) -> None:
        await self._ready()
        await self._chat.accept(platform, inbound)
        if not self._work_index.idle:
            await self._alarm.no_later_than(wall_clock_ms() + RECHECK_DELAY_MS)

    async def _disarm(self) -> None:
        """Every accepted message is handled: the re-check alarm would find nothing, so it
        goes, unless a scheduled post needs it. A chat that writes once a minute thus costs no
        alarm invocation per message."""
        if self._wakeups.earliest() is None:
            await self._alarm.delete()

    async def submit(self, platform: str, inbound: dict[str, Any]) -> dict[str, Any]:
        """RPC from the ingress: a modal's submission, answered by its handlers at once."""
        await self._ready()
        return {"errors": await self._chat.submit(platform, inbound_from_json(inbound))}

    async def api(self, request: dict[str, Any]) -> dict[str, Any]:
        """RPC from the ingress: one request of the conversation API, or a post to one of this
        parent's threads (chatstate/routes/api)."""
        await self._state.connect()
        http_request = request_from_wire(request)
        if http_request.path.startswith(THREADS_PREFIX):
            return response_to_wire(await self._thread_posts.handle(http_request))
        return response_to_wire(await self._api.handle(http_request))

    async def console(self, request: dict[str, Any]) -> dict[str, Any]:
        """RPC from the ingress: one request of the web console (chatstate/console)."""
        if self._console is None:
            return response_to_wire(console_off(on_cloudflare=True))
        await self._ready()
        return response_to_wire(await self._console.handle(request_from_wire(request)))

    async def alarm(self, alarm_info: Any = None) -> None:
        self._alarm.fired()
        if self._counts is not None:
            self._counts.record("alarm")
        await self._state.connect()
        self._recovered = True
        # The alarm stays open until the re-driven work is done: if it fails, the alarm retries.
        await asyncio.gather(*await self._chat.recover())
        wakes = [at for at in (self._wakeups.earliest(),) if at is not None]
        if self._work_index.pending_now():
            wakes.append(wall_clock_ms() + RECHECK_DELAY_MS)
        if wakes:
            await self._alarm.set(max(min(wakes), wall_clock_ms() + 1000))
