"""REST routes of the conversation API, JSON in and out, the same on both runtimes.

    POST  /api/agents/{agent}/conversations                  create (creates the agent too)
    GET   /api/agents/{agent}/conversations?status=&cursor=  list, newest first, by cursor
    GET   /api/agents/{agent}/conversations/{id}?messages=N  one, with its recent messages
    PATCH /api/agents/{agent}/conversations/{id}             title, personality, instructions,
                                                             status (archived is final: 409)
    POST  /api/agents/{agent}/conversations/{id}/archive
    POST  /api/agents/{agent}/conversations/{id}/chat        user message in, reply out;
                                                             Idempotency-Key makes it retryable
    POST  /api/agents/{agent}/conversations/{id}/memory      remember a fact
    GET   /api/agents/{agent}/conversations/{id}/memory
    GET   /api/agents/{agent}/status
    GET   /api/agents/{agent}/events?after=SEQ&limit=N
    POST  /api/agents/{agent}/live-tickets                   a single-use ticket for the socket

Off (404) until CHAT_API_TOKEN is set; every request then needs `Authorization: Bearer`.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from chatstate.conversations.agents import (
    AGENT_NAME,
    Agents,
    ConflictError,
    KeyReusedError,
    NotFoundError,
    RequestInProgressError,
    UnknownAgentError,
    agent_shard,
)
from chatstate.conversations.chat_turns import ChatTurns, ResponderFailedError
from chatstate.http.messages import HttpRequest, HttpResponse
from chatstate.routes.api.live import (
    MAX_SEQ,
    TICKET_STORE,
    TICKET_TTL_MS,
    bearer_matches,
    new_ticket,
)
from chatstate.routes.api.validation import (
    MAX_TEXT_BYTES,
    ApiError,
    int_param,
    json_object,
    metadata_field,
    text_field,
)
from chatstate.routes.console.index import ConsoleIndex
from chatstate.state.agent_tables import MAX_PAGE, STATUSES

logger = logging.getLogger("chatstate.routes.api")

API_PREFIX = "/api/"
_ROUTE = re.compile(r"^/api/agents/([^/]+)(/[^?]*)?$")
_CONVERSATION = re.compile(r"^/conversations/([^/]+)(/chat|/memory|/archive)?$")
MAX_IDEMPOTENCY_KEY = 255
DEFAULT_RECENT_MESSAGES = 50
Route = Callable[[HttpRequest, str, str | None], Awaitable[HttpResponse]]


def _conversation_fields(body: dict[str, Any]) -> dict[str, str]:
    fields = {}
    for name in ("title", "personality", "instructions"):
        value = text_field(body, name, max_bytes=MAX_TEXT_BYTES if name != "title" else 512)
        if value is not None:
            fields[name] = value
    return fields


class ConversationApi:
    def __init__(
        self,
        agents: Agents,
        chat_turns: ChatTurns,
        api_token: str | None,
        *,
        unsupported: str | None = None,
        console: ConsoleIndex | None = None,
    ) -> None:
        self._agents = agents
        # Told of new conversations and chat turns, so the web console lists them.
        self._console = console
        self._turns = chat_turns
        self._token = api_token
        # Why this deployment cannot serve the API (its state backend), if it cannot.
        self._unsupported = unsupported

    async def handle(self, request: HttpRequest) -> HttpResponse:
        try:
            return await self._route(request)
        except ApiError as error:
            extra = {"www-authenticate": "Bearer"} if error.status == 401 else {}
            return error.response(**extra)
        except UnknownAgentError as error:
            return ApiError(404, str(error)).response()
        except NotFoundError as error:
            return ApiError(404, str(error)).response()
        except (ConflictError, RequestInProgressError) as error:
            return ApiError(409, str(error)).response()
        except KeyReusedError as error:
            return ApiError(422, str(error), "Idempotency-Key").response()
        except ResponderFailedError as error:
            logger.exception("agent responder failed")
            return ApiError(502, f"{error}; retry with the same Idempotency-Key").response()

    def _authorize(self, request: HttpRequest) -> None:
        if self._token is None:
            raise ApiError(404, "the conversation API is off: set the CHAT_API_TOKEN secret")
        if not bearer_matches(request, self._token):
            raise ApiError(401, "send Authorization: Bearer <CHAT_API_TOKEN>")

    async def _route(self, request: HttpRequest) -> HttpResponse:
        self._authorize(request)
        if self._unsupported is not None:
            raise ApiError(501, self._unsupported)
        match = _ROUTE.match(request.path)
        if match is None:
            raise ApiError(404, f"no route for {request.path}")
        agent, rest = match.group(1), match.group(2) or ""
        if not AGENT_NAME.match(agent):
            raise ApiError(
                400,
                "an agent name is 1-64 letters, digits, '_', '.' or '-', starting with a "
                "letter or digit",
            )
        routes: dict[tuple[str, str], Callable[[HttpRequest, str], Awaitable[HttpResponse]]] = {
            ("/conversations", "POST"): self._create,
            ("/conversations", "GET"): self._list,
            ("/status", "GET"): self._status,
            ("/events", "GET"): self._events,
            ("/live-tickets", "POST"): self._ticket,
        }
        handler = routes.get((rest, request.method))
        if handler is not None:
            return await handler(request, agent)
        if any(path == rest for path, _ in routes):
            allowed = ", ".join(method for path, method in routes if path == rest)
            raise ApiError(405, f"{rest} takes {allowed}")
        conversation = _CONVERSATION.match(rest)
        if conversation is None:
            raise ApiError(404, f"no route for {request.path}")
        return await self._conversation_route(request, agent, *conversation.groups())

    async def _conversation_route(
        self, request: HttpRequest, agent: str, conversation_id: str, action: str | None
    ) -> HttpResponse:
        method = request.method
        if action is None and method == "GET":
            recent = int_param(
                request.query_params(), "messages", DEFAULT_RECENT_MESSAGES, 0, MAX_PAGE
            )
            return HttpResponse.json(
                200, await self._agents.get_conversation(agent, conversation_id, recent)
            )
        if action is None and method == "PATCH":
            body = json_object(request.body, ("title", "personality", "instructions", "status"))
            changes = _conversation_fields(body)
            status = text_field(body, "status", choices=STATUSES)
            if status is not None:
                changes["status"] = status
            updated = await self._agents.update_conversation(agent, conversation_id, changes)
            return HttpResponse.json(200, {"conversation": updated})
        if action == "/archive" and method == "POST":
            json_object(request.body, ())
            archived = await self._agents.update_conversation(
                agent, conversation_id, {"status": "archived"}
            )
            return HttpResponse.json(200, {"conversation": archived})
        if action == "/chat" and method == "POST":
            return await self._chat(request, agent, conversation_id)
        if action == "/memory" and method == "POST":
            body = json_object(request.body, ("fact",))
            fact = text_field(body, "fact", required=True, max_bytes=MAX_TEXT_BYTES)
            assert fact is not None
            memory = await self._agents.add_memory(agent, conversation_id, fact)
            return HttpResponse.json(201, {"memory": memory})
        if action == "/memory" and method == "GET":
            return HttpResponse.json(
                200, {"memory": await self._agents.list_memory(agent, conversation_id)}
            )
        allowed = {None: "GET, PATCH", "/chat": "POST", "/archive": "POST", "/memory": "GET, POST"}
        raise ApiError(405, f"{request.path} takes {allowed[action]}")

    async def _create(self, request: HttpRequest, agent: str) -> HttpResponse:
        body = json_object(request.body, ("user_id", "title", "personality", "instructions"))
        user_id = text_field(body, "user_id", required=True, max_bytes=256)
        fields = {"user_id": user_id, **_conversation_fields(body)}
        conversation = await self._agents.create_conversation(agent, fields)  # type: ignore[arg-type]
        if self._console is not None:
            await self._console.note_agent(agent, conversation, "")
        return HttpResponse.json(201, {"conversation": conversation})

    async def _list(self, request: HttpRequest, agent: str) -> HttpResponse:
        params = request.query_params()
        status = params.get("status")
        if status is not None and status not in STATUSES:
            raise ApiError(400, f"query parameter status must be one of {', '.join(STATUSES)}")
        limit = int_param(params, "limit", 20, 1, MAX_PAGE)
        cursor = params.get("cursor")
        if cursor is not None and not cursor.isdigit():
            raise ApiError(400, "query parameter cursor must be a next_cursor from a listing")
        page, more = await self._agents.list_conversations(
            agent, status=status, before=None if cursor is None else int(cursor), limit=limit
        )
        return HttpResponse.json(
            200, {"conversations": page, "next_cursor": None if more is None else str(more)}
        )

    async def _chat(self, request: HttpRequest, agent: str, conversation_id: str) -> HttpResponse:
        body = json_object(request.body, ("content", "metadata"))
        content = text_field(body, "content", required=True, max_bytes=MAX_TEXT_BYTES)
        assert content is not None
        metadata = metadata_field(body)
        key = request.header("idempotency-key")
        idempotency = None
        if key is not None:
            if not key or len(key) > MAX_IDEMPOTENCY_KEY:
                raise ApiError(
                    400, f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters"
                )
            # The same key with another body is a client bug, not a retry.
            digest = hashlib.sha256(request.body).hexdigest()
            idempotency = (f"{conversation_id}:{key}", digest)
        result = await self._turns.chat(
            agent, conversation_id, content, metadata=metadata, request=idempotency
        )
        if self._console is not None:
            conversation = result.get("conversation") or {"id": conversation_id}
            await self._console.note_agent(agent, conversation, f"user: {content}")
        return HttpResponse.json(200, result)

    async def _status(self, request: HttpRequest, agent: str) -> HttpResponse:
        return HttpResponse.json(200, {"status": await self._agents.status(agent)})

    async def _events(self, request: HttpRequest, agent: str) -> HttpResponse:
        params = request.query_params()
        after = int_param(params, "after", 0, 0, MAX_SEQ)
        limit = int_param(params, "limit", 100, 1, 1000)
        events = await self._agents.events_after(agent, after, limit)
        last = events[-1]["seq"] if events else after
        return HttpResponse.json(200, {"events": events, "next_after": last})

    async def _ticket(self, request: HttpRequest, agent: str) -> HttpResponse:
        json_object(request.body, ())
        await self._agents.status(agent)  # an unknown agent has no socket to open
        ticket = new_ticket()
        store = self._agents.state.store(TICKET_STORE, shard=agent_shard(agent))
        await store.set(ticket, True, TICKET_TTL_MS)
        return HttpResponse.json(
            201,
            {
                "ticket": ticket,
                "expires_in_ms": TICKET_TTL_MS,
                "path": f"/api/agents/{agent}/live?ticket={ticket}",
            },
        )
