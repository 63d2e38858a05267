"""The live socket's rules, the same on both runtimes: who may open it, and from where.

`GET /api/agents/{agent}/live?after=SEQ` upgrades to a WebSocket that sends every event after
SEQ, then each new one as it commits, and reply chunks while a responder runs. Browsers cannot
set headers on a WebSocket, so besides `Authorization: Bearer` a socket may be opened with a
single-use ticket from `POST /api/agents/{agent}/live-tickets`, valid for a minute.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from chatstate.conversations.agents import check_agent_name
from chatstate.http.messages import HttpRequest
from chatstate.routes.api.validation import ApiError, int_param

TICKET_TTL_MS = 60_000
TICKET_STORE = "live-tickets"
# Events per page when a socket catches up from `after`.
BACKLOG_PAGE = 500
# Sequence numbers bind as SQL doubles on Durable Objects, which take integers below 2**53 - 1.
MAX_SEQ = 2**53 - 2
_LIVE_PATH = re.compile(r"^/api/agents/([^/]+)/live$")
_TICKET = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


@dataclass(frozen=True)
class LiveRequest:
    agent: str
    after: int
    # None when the request carried a valid bearer token instead.
    ticket: str | None


def live_agent(path: str) -> str | None:
    """The agent of a live-socket path, or None for any other path."""
    match = _LIVE_PATH.match(path)
    return match.group(1) if match else None


def new_ticket() -> str:
    return secrets.token_urlsafe(24)


def ticket_key(ticket: str) -> str:
    """The ticket's key in the agent's shard (a row of the namespaced store TICKET_STORE)."""
    return f"{TICKET_STORE}:{ticket}"


def bearer_matches(request: HttpRequest, token: str) -> bool:
    header = request.header("authorization") or ""
    scheme, _, given = header.partition(" ")
    # Constant time: how much of a guess matched must not show in the timing.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def check_live_request(request: HttpRequest, api_token: str | None) -> LiveRequest:
    """The socket's agent, starting point and ticket, or the ApiError to answer with."""
    if api_token is None:
        raise ApiError(404, "the conversation API is off: set the CHAT_API_TOKEN secret")
    agent = live_agent(request.path)
    if agent is None:
        raise ApiError(404, f"no route for {request.path}")
    try:
        check_agent_name(agent)
    except ValueError as error:
        raise ApiError(400, str(error)) from None
    if request.method != "GET":
        raise ApiError(405, "the live socket is opened with GET")
    if (request.header("upgrade") or "").lower() != "websocket":
        raise ApiError(426, "the live endpoint is a WebSocket: send Upgrade: websocket")
    params = request.query_params()
    after = int_param(params, "after", 0, 0, MAX_SEQ)
    if bearer_matches(request, api_token):
        return LiveRequest(agent, after, None)
    ticket = params.get("ticket")
    if ticket is None or not _TICKET.match(ticket):
        raise ApiError(
            401, "open the live socket with Authorization: Bearer, or ?ticket= from live-tickets"
        )
    return LiveRequest(agent, after, ticket)


def admission(live: LiveRequest) -> list[list[Any]]:
    """The shard operations that admit a socket: use its ticket up, and find its agent."""
    operations: list[list[Any]] = [["agent_status", live.agent]]
    if live.ticket is not None:
        operations.append(["take", ticket_key(live.ticket)])
    return operations


def check_admission(live: LiveRequest, reply: dict[str, Any]) -> None:
    """Raise the ApiError that refuses the socket, given the shard's reply to admission()."""
    results = reply.get("results")
    if not isinstance(results, list):
        raise ApiError(503, "the agent's shard refused the request; try again")
    if live.ticket is not None and results[1] is None:
        raise ApiError(401, "the ticket is unknown, used or expired: get a new one")
    if results[0] is None:
        raise ApiError(404, f"no agent named {live.agent!r}: creating a conversation creates it")
