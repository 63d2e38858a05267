"""ChatSdkStateAgent: one shard of chat state, a SQLite-backed Durable Object.

Thin glue: it adapts `ctx.storage` to the core's SQL and alarm ports and forwards to the same
ShardHost the local runtime uses. Every decision lives in chatstate.store / chatstate.cleanup.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from workers import DurableObject

from chatstate.cloudflare.conversions import (
    CountingSql,
    DurableObjectAlarm,
    DurableObjectSql,
    accept_socket,
    bot_config,
    close_socket,
    read_request,
    send_to_sockets,
    to_response,
    wall_clock_ms,
)
from chatstate.routes.api.live import BACKLOG_PAGE, admission, check_admission, check_live_request
from chatstate.routes.api.validation import ApiError
from chatstate.state.shard_host import ShardHost

logger = logging.getLogger("chatstate.state_agent")

# Alarms are retried up to 6 times after a failure; on the last tries the agent re-arms itself
# instead of failing again, so cleanup is postponed, never abandoned.
LAST_ALARM_RETRY = 5
ALARM_REARM_DELAY_MS = 60_000


class ChatSdkStateAgent(DurableObject):  # type: ignore[misc]
    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        sql = DurableObjectSql(ctx.storage)
        self._counts = CountingSql(sql) if bot_config(env).count_calls else None
        self._host = ShardHost(
            self._counts or sql,
            DurableObjectAlarm(ctx.storage),
            wall_clock_ms,
            publish=lambda broadcast: send_to_sockets(ctx, broadcast),
        )
        # SQL is synchronous, so migrations finish before any request is delivered.
        self._host.migrate()
        self._rearmed = False

    async def _ensure_alarm(self) -> None:
        if not self._rearmed:
            await self._host.rearm()
            self._rearmed = True

    async def run_batch(self, operations: list[list[Any]]) -> dict[str, Any]:
        """RPC: run these operations in one transaction; `{"results": [...]}` or `{"error": ...}`."""
        await self._ensure_alarm()
        reply = await self._host.call(operations)
        if self._counts is not None:
            self._counts.record("run_batch")
        return reply

    async def fetch(self, request: Any) -> Any:
        """The agent's live socket (chatstate/api/live.py), forwarded here by the ingress.

        Accepted with the Hibernation API: an idle socket costs nothing and outlives the
        object's eviction; events reach it from `publish` after each commit."""
        http_request = await read_request(request)
        live_request = None
        try:
            live_request = check_live_request(http_request, bot_config(self.env).api_token)
            await self._ensure_alarm()
            check_admission(live_request, await self._host.call(admission(live_request)))
        except ApiError as error:
            return to_response(error.response())
        # No await from here on: the backlog and the sockets' later events must not overlap.
        client = accept_socket(self.ctx)
        after = live_request.after
        while True:
            page = self._host.store.run_batch(
                [["agent_events_after", live_request.agent, after, BACKLOG_PAGE]]
            ).results[0]
            for event in page:
                client.server.send(json.dumps(event))
                after = int(event["seq"])
            if len(page) < BACKLOG_PAGE:
                break
        return client.response()

    async def webSocketMessage(self, socket: Any, message: Any) -> None:
        """Clients have nothing to say on the live socket; what they send is dropped."""

    async def webSocketClose(self, socket: Any, code: int, reason: str, clean: bool) -> None:
        close_socket(socket, code)

    async def alarm(self, alarm_info: Any = None) -> None:
        self._rearmed = True
        if self._counts is not None:
            self._counts.record("alarm")
        try:
            await self._host.on_alarm()
        except Exception:
            retry_count = int(getattr(alarm_info, "retryCount", 0) or 0)
            if retry_count < LAST_ALARM_RETRY:
                raise
            logger.exception("cleanup alarm failed on retry %d; re-arming", retry_count)
            await self._host.alarm.set(wall_clock_ms() + ALARM_REARM_DELAY_MS)
