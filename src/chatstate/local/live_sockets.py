"""The live socket on the local runtime: ASGI WebSockets fed by the shards' committed events.

A socket subscribes to its agent before reading its backlog, so an event committed while the
backlog is read is queued, not missed; sequence numbers drop the ones the backlog already sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from typing import Any

from chatstate.conversations.agents import Agents, agent_shard
from chatstate.http.messages import HttpRequest
from chatstate.local.asgi import Receive, Scope, Send
from chatstate.routes.api.live import (
    BACKLOG_PAGE,
    LiveRequest,
    admission,
    check_admission,
    check_live_request,
)
from chatstate.routes.api.validation import ApiError

logger = logging.getLogger("chatstate.live")

# A socket that falls this far behind is closed (code 1013, try again later) rather than
# letting its queue grow without bound; it reconnects with its last sequence number.
MAX_QUEUED_EVENTS = 10_000
CLOSE_TRY_AGAIN_LATER = 1013


class LiveHub:
    """Each agent's open sockets; `publish` is the local shards' hook for committed events."""

    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[dict[str, Any] | None]]] = defaultdict(set)

    def subscribe(self, agent: str) -> asyncio.Queue[dict[str, Any] | None]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._queues[agent].add(queue)
        return queue

    def unsubscribe(self, agent: str, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        self._queues[agent].discard(queue)
        if not self._queues[agent]:
            del self._queues[agent]

    def publish(self, broadcast: list[tuple[str, dict[str, Any]]]) -> None:
        for agent, event in broadcast:
            for queue in list(self._queues.get(agent, ())):
                if queue.qsize() >= MAX_QUEUED_EVENTS:
                    queue.put_nowait(None)  # the reader closes the socket
                    self.unsubscribe(agent, queue)
                else:
                    queue.put_nowait(event)


async def _deny(scope: Scope, send: Send, error: ApiError) -> None:
    """Refuse the upgrade with an HTTP status where the server can, else close at once."""
    if "websocket.http.response" in scope.get("extensions", {}):
        body = json.dumps({"error": {"status": error.status, "message": error.message}}).encode()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": error.status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": error.message[:120]})


class LiveSockets:
    def __init__(self, agents: Agents, hub: LiveHub, api_token: str | None) -> None:
        self._agents = agents
        self._hub = hub
        self._token = api_token

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        # An ASGI WebSocket scope carries no Upgrade header of its own: it is one by definition.
        headers.setdefault("upgrade", "websocket")
        request = HttpRequest(
            "GET", scope["path"], headers, b"", scope.get("query_string", b"").decode("latin-1")
        )
        if (await receive())["type"] != "websocket.connect":
            return
        try:
            live = check_live_request(request, self._token)
            await self._admit(live)
        except ApiError as error:
            await _deny(scope, send, error)
            return
        queue = self._hub.subscribe(live.agent)
        try:
            await send({"type": "websocket.accept"})
            await self._stream(live, queue, receive, send)
        finally:
            self._hub.unsubscribe(live.agent, queue)

    async def _admit(self, live: LiveRequest) -> None:
        reply = await self._agents.state.call_shard(agent_shard(live.agent), admission(live))
        check_admission(live, reply)

    async def _stream(
        self,
        live: LiveRequest,
        queue: asyncio.Queue[dict[str, Any] | None],
        receive: Receive,
        send: Send,
    ) -> None:
        last = live.after
        while True:
            page = await self._agents.events_after(live.agent, last, BACKLOG_PAGE)
            for event in page:
                await send({"type": "websocket.send", "text": json.dumps(event)})
                last = int(event["seq"])
            if len(page) < BACKLOG_PAGE:
                break
        closed = asyncio.ensure_future(self._until_closed(receive))
        try:
            while True:
                waiting = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({waiting, closed}, return_when=asyncio.FIRST_COMPLETED)
                if closed in done:
                    waiting.cancel()
                    return
                queued = waiting.result()
                if queued is None:
                    await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER})
                    return
                seq = queued.get("seq")
                if isinstance(seq, int):
                    if seq <= last:
                        continue  # already sent from the backlog
                    last = seq
                await send({"type": "websocket.send", "text": json.dumps(queued)})
        finally:
            closed.cancel()

    @staticmethod
    async def _until_closed(receive: Receive) -> None:
        # Clients have nothing to say on this socket; anything they send is read and dropped.
        while (await receive())["type"] != "websocket.disconnect":
            pass
