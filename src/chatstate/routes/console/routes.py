"""The console's routes, the same on both runtimes.

    GET  /                          the console (signed in), else the sign-in page;
                                    /?token=... signs in and redirects to a clean URL
    POST /console/sign-in           form field `token`
    POST /console/sign-out
    GET  /console/console.js|.css   the page's script and style (no secrets in either)
    GET  /console/api/setup         platforms, webhook URLs, commands, whether state writes
    GET  /console/api/conversations?cursor=&limit=   chat threads and agent conversations,
                                    newest activity first
    GET  /console/api/thread?id=&queue=              a chat thread's details, one shard call
    GET  /console/api/agent-conversation?agent=&id=  an agent conversation's messages
    GET  /console/api/web           this session's chat box: its thread's details
    GET  /console/api/file?thread=&id=&name=      a file the bot posted to a chat box
    POST /console/api/web/messages  {client_id, text, file?: {name, mime, data}}: say something
    POST /console/api/web/actions   {client_id, message_id, action_id, value}: press a button
    POST /console/api/web/modal     {values} or {close: true}: the chat box's open modal

Everything but the sign-in page and the static files needs the session cookie; every POST
after sign-in needs the CSRF header (auth.py).
"""

from __future__ import annotations

import base64
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from chatstate.chat.attachments import Attachment
from chatstate.chat.events import Author, Button, Inbound, ModalSubmission
from chatstate.config import BotConfig
from chatstate.conversations.agents import AGENT_NAME, Agents, NotFoundError, UnknownAgentError
from chatstate.http.messages import HttpRequest, HttpResponse
from chatstate.platforms.web import (
    MAX_WEB_TEXT_CHARS,
    WEB,
    file_key,
    open_modal_key,
    web_message,
    web_press,
    web_thread,
)
from chatstate.routes.api.validation import ApiError, int_param, json_object, text_field
from chatstate.routes.console import assets
from chatstate.routes.console.auth import (
    SESSION_TTL_MS,
    Session,
    csrf_ok,
    new_session,
    same_origin,
    session_cookie,
    session_of,
    token_matches,
)
from chatstate.routes.console.index import DEFAULT_RECENT_MESSAGES as RECENT_MESSAGES
from chatstate.routes.console.index import ConsoleIndex
from chatstate.routes.console.page import console_page, sign_in_page
from chatstate.routes.console.setup_info import platforms, state_check
from chatstate.routes.webhooks import Submit

logger = logging.getLogger("chatstate.routes.console")

CONSOLE_PREFIX = "/console/"
API = "/console/api/"
# A file typed into the chat box: 256 KiB, base64 in a JSON body.
MAX_UPLOAD_BYTES = 256 * 1024
MAX_UPLOAD_BODY_BYTES = MAX_UPLOAD_BYTES * 4 // 3 + 8 * 1024
UPLOAD_TTL_MS = 7 * 24 * 3600 * 1000
MAX_CLIENT_ID_CHARS = 64
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]+")
MAX_ID_CHARS = 512
PAGE_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data: https:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}
Accept = Callable[[str, Inbound], Awaitable[None]]


def is_console_path(path: str) -> bool:
    return path in ("/", FAVICON) or path.startswith(CONSOLE_PREFIX)


def console_off(on_cloudflare: bool) -> HttpResponse:
    how = (
        "npx wrangler secret put CHAT_ADMIN_TOKEN"
        if on_cloudflare
        else "export CHAT_ADMIN_TOKEN=..."
    )
    return HttpResponse.text(
        404, f"the console is off: set the CHAT_ADMIN_TOKEN secret ({how}), then open /\n"
    )


FAVICON = "/favicon.ico"
ASSETS = {
    "/console/console.js": (assets.CONSOLE_JS, "text/javascript; charset=utf-8"),
    "/console/console.css": (assets.CONSOLE_CSS, "text/css; charset=utf-8"),
    "/console/icon.svg": (assets.ICON_SVG, "image/svg+xml"),
    # Asked for by browsers that did not read the page's icon link (and by any page's visit).
    FAVICON: (assets.ICON_SVG, "image/svg+xml"),
}


def static_asset(path: str) -> HttpResponse | None:
    """The page's script, style or icon: public, no secret in any, served wherever asked."""
    if path not in ASSETS:
        return None
    body, kind = ASSETS[path]
    return HttpResponse(200, body.encode(), {"content-type": kind, "cache-control": "no-cache"})


def _html(status: int, body: str) -> HttpResponse:
    return HttpResponse(
        status, body.encode(), {"content-type": "text/html; charset=utf-8", **PAGE_HEADERS}
    )


def _client_id(body: dict[str, Any]) -> str:
    value = text_field(body, "client_id", required=True, max_bytes=MAX_CLIENT_ID_CHARS)
    assert value is not None
    if not CLIENT_ID.fullmatch(value):
        raise ApiError(422, "client_id must be letters, digits, - and _", "client_id")
    return value


class ConsoleApp:
    def __init__(
        self,
        config: BotConfig,
        *,
        admin_token: str,
        index: ConsoleIndex | None,
        agents: Agents,
        accept: Accept,
        on_cloudflare: bool,
        commands: list[tuple[str, str]] | None = None,
        submit: Submit | None = None,
    ) -> None:
        self._config = config
        # The bot's commands, for the Setup tab: (name, description).
        self._commands = commands or []
        # Answers a modal's submission with its handlers' field errors (chat.submit).
        self._submit = submit
        self._token = admin_token
        self._index = index
        self._agents = agents
        self._accept = accept
        self._on_cloudflare = on_cloudflare
        self._clock = agents.state.clock

    async def handle(self, request: HttpRequest) -> HttpResponse:
        path = request.path
        asset = static_asset(path)
        if asset is not None:
            return asset
        if path == "/":
            return self._front(request)
        if path == "/console/sign-in":
            return self._sign_in(request)
        session = session_of(request, self._token, self._clock())
        if path == "/console/sign-out":
            return self._sign_out(request, session)
        if not path.startswith(API):
            return HttpResponse.text(404, f"no route for {path}\n")
        try:
            if session is None:
                raise ApiError(401, "sign in at / first")
            if request.method == "POST" and not csrf_ok(request, session):
                raise ApiError(403, "cross-site request refused: post from the console's page")
            return await self._api(request, path[len(API) :], session)
        except ApiError as error:
            return error.response()

    # --- pages and signing in ----------------------------------------------------------------

    def _front(self, request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return HttpResponse.text(405, "use GET\n", allow="GET")
        given = request.query_params().get("token")
        if given is not None:
            if self._on_cloudflare:
                # Workers Logs record each request's URL: a token there would outlive sign-in.
                return _html(
                    400,
                    sign_in_page(
                        "On Cloudflare, paste the token into this form: a URL's query is kept "
                        "in Workers Logs."
                    ),
                )
            return self._signed_in(request, given)
        session = session_of(request, self._token, self._clock())
        if session is None:
            return _html(200, sign_in_page())
        return _html(200, console_page(session.csrf_token))

    def _sign_in(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse.text(405, "sign in with POST\n", allow="POST")
        if not same_origin(request):
            return _html(403, sign_in_page("Cross-site sign-in refused."))
        form = dict(parse_qsl(request.body.decode(errors="replace")))
        return self._signed_in(request, form.get("token", ""))

    def _signed_in(self, request: HttpRequest, given: str) -> HttpResponse:
        if not token_matches(self._token, given.strip()):
            logger.warning("console sign-in refused: wrong admin token")
            return _html(401, sign_in_page("That token is not the admin token."))
        _, cookie = new_session(self._token, self._clock())
        # 303 to a URL without the token, so it leaves the address bar and the history.
        return HttpResponse(
            303,
            b"",
            {
                "location": "/",
                "set-cookie": session_cookie(request, cookie, SESSION_TTL_MS // 1000),
                **PAGE_HEADERS,
            },
        )

    def _sign_out(self, request: HttpRequest, session: Session | None) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse.text(405, "sign out with POST\n", allow="POST")
        if session is not None and not csrf_ok(request, session):
            return ApiError(403, "cross-site request refused").response()
        return HttpResponse(
            204, b"", {"set-cookie": session_cookie(request, "", 0), "cache-control": "no-store"}
        )

    # --- the API the page calls --------------------------------------------------------------

    async def _api(self, request: HttpRequest, route: str, session: Session) -> HttpResponse:
        method = "POST" if route.startswith("web/") else "GET"
        if request.method != method:
            raise ApiError(405, f"use {method}")
        params = request.query_params()
        if route == "setup":
            return HttpResponse.json(200, await self._setup(request))
        if route == "conversations":
            return HttpResponse.json(200, await self._conversations(params))
        if route == "thread":
            thread_id = params.get("id") or ""
            queue_key = params.get("queue") or thread_id
            if not thread_id:
                raise ApiError(400, "query parameter id is required")
            if max(len(thread_id), len(queue_key)) > MAX_ID_CHARS:
                raise ApiError(400, f"id and queue are at most {MAX_ID_CHARS} characters")
            return HttpResponse.json(200, await self._require_index().thread(thread_id, queue_key))
        if route == "agent-conversation":
            return HttpResponse.json(200, await self._agent_conversation(params))
        if route == "web":
            return HttpResponse.json(200, await self._web_transcript(session))
        if route == "file":
            return await self._file(params)
        if route == "web/messages":
            return await self._web_message(request, session)
        if route == "web/actions":
            return await self._web_action(request, session)
        if route == "web/modal":
            return await self._web_modal(request, session)
        raise ApiError(404, f"no console route {route!r}")

    def _require_index(self) -> ConsoleIndex:
        if self._index is None:
            raise ApiError(
                501,
                "the conversations view needs CHAT_STATE=sqlite (Durable Objects on Cloudflare)",
            )
        return self._index

    async def _setup(self, request: HttpRequest) -> dict[str, Any]:
        config = self._config
        return {
            "runtime": "cloudflare" if self._on_cloudflare else "local",
            "platforms": platforms(config, request, self._on_cloudflare),
            "commands": [{"name": n, "description": d} for n, d in self._commands],
            "state": await state_check(self._agents.state, config.state_backend),
            "concurrency": config.concurrency.strategy,
            "conversation_api": {"enabled": config.api_token is not None},
            "conversations_view": self._index is not None,
        }

    async def _conversations(self, params: dict[str, str]) -> dict[str, Any]:
        limit = int_param(params, "limit", 50, 1, 100)
        cursor = params.get("cursor")
        before: list[Any] | None = None
        if cursor:
            at, _, last_id = cursor.partition(":")
            if not at.isdigit() or not last_id:
                raise ApiError(400, "cursor must be the `next` value of the previous page")
            before = [int(at), last_id]
        page = await self._require_index().page(before, limit)
        following = page["next"]
        return {
            "items": page["items"],
            "next": None if following is None else f"{following[0]}:{following[1]}",
        }

    async def _agent_conversation(self, params: dict[str, str]) -> dict[str, Any]:
        agent, conversation = params.get("agent") or "", params.get("id") or ""
        if not AGENT_NAME.match(agent):
            raise ApiError(400, "query parameter agent must be an agent's name")
        try:
            return await self._agents.get_conversation(agent, conversation, 50)
        except (NotFoundError, UnknownAgentError) as error:
            raise ApiError(404, str(error)) from None

    async def _web_transcript(self, session: Session) -> dict[str, Any]:
        thread = web_thread(session.id)
        if self._index is not None:
            return await self._index.thread(thread, thread)
        # Without the index's reads (Workers KV), the chat box still shows its history.
        messages = await self._agents.state.get_list(f"msg-history:{thread}", RECENT_MESSAGES)
        return {"thread_id": thread, "messages": messages, "lock": None, "queue": None}

    async def _file(self, params: dict[str, str]) -> HttpResponse:
        """A file the bot posted to a chat box, as a download."""
        thread_id, message_id = params.get("thread") or "", params.get("id") or ""
        if not thread_id.startswith(f"{WEB}:") or not message_id or len(thread_id) > MAX_ID_CHARS:
            raise ApiError(400, "query parameters thread (a chat box's thread) and id are required")
        data = await self._agents.state.get(file_key(thread_id, message_id))
        name = params.get("name") or "file"
        if not isinstance(data, str):
            raise ApiError(404, "no such file: files are kept for 7 days")
        safe = "".join(c for c in name if c.isalnum() or c in "._- ")[:100] or "file"
        return HttpResponse(
            200,
            base64.b64decode(data),
            {
                "content-type": "application/octet-stream",
                "content-disposition": f'attachment; filename="{safe}"',
                "cache-control": "no-store",
                "x-content-type-options": "nosniff",
            },
        )

    async def _web_message(self, request: HttpRequest, session: Session) -> HttpResponse:
        body = json_object(
            request.body, ("client_id", "text", "file"), max_bytes=MAX_UPLOAD_BODY_BYTES
        )
        client_id = _client_id(body)
        text = text_field(body, "text", required=True, max_bytes=MAX_WEB_TEXT_CHARS * 4)
        assert text is not None
        if len(text) > MAX_WEB_TEXT_CHARS:
            raise ApiError(413, f"text is longer than {MAX_WEB_TEXT_CHARS} characters", "text")
        attachments = []
        if body.get("file") is not None:
            attachments.append(await self._keep_upload(session, client_id, body["file"]))
        inbound = web_message(session.id, client_id, text, self._clock(), attachments)
        await self._accept(WEB, inbound)
        return HttpResponse.json(202, {"accepted": True, "thread_id": web_thread(session.id)})

    async def _web_modal(self, request: HttpRequest, session: Session) -> HttpResponse:
        """The chat box's open modal, sent ({values}) or dismissed ({close: true})."""
        body = json_object(request.body, ("values", "close"))
        thread = web_thread(session.id)
        opened = await self._agents.state.get(open_modal_key(thread))
        if not isinstance(opened, dict):
            raise ApiError(409, "no modal is open in this chat box")
        values = body.get("values") or {}
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise ApiError(422, "values maps input ids to strings", "values")
        closed = body.get("close") is True
        submission = ModalSubmission(
            id=f"{session.id}:{uuid.uuid4().hex}",
            thread_id=thread,
            channel_id=thread,
            platform=WEB,
            callback_id=str(opened["modal"]["callback_id"]),
            user=Author(user_id=f"console-{session.id[:8]}", user_name="you"),
            values={str(k): v for k, v in values.items()},
            closed=closed,
            context_key=str(opened["metadata"].get("key", "")),
        )
        errors = None
        if closed:
            await self._accept(WEB, Inbound([submission], submission.id))
        elif self._submit is not None:
            errors = await self._submit(WEB, Inbound([submission], answered_by_handler=True))
        if errors:
            return HttpResponse.json(422, {"errors": errors})
        await self._agents.state.delete(open_modal_key(thread))
        return HttpResponse.json(200, {"errors": {}})

    async def _keep_upload(self, session: Session, client_id: str, file: Any) -> Attachment:
        """A file from the chat box, kept in the session thread's shard for its handler."""
        if not isinstance(file, dict):
            raise ApiError(422, "file must be an object {name, mime, data}", "file")
        name = text_field(file, "name", required=True, max_bytes=255)
        mime = text_field(file, "mime", max_bytes=255) or "application/octet-stream"
        data = text_field(file, "data", required=True, max_bytes=MAX_UPLOAD_BODY_BYTES)
        assert name is not None and data is not None
        try:
            content = base64.b64decode(data, validate=True)
        except ValueError:
            raise ApiError(422, "file.data must be base64", "file") from None
        if len(content) > MAX_UPLOAD_BYTES:
            raise ApiError(413, f"a file is at most {MAX_UPLOAD_BYTES} bytes", "file")
        thread = web_thread(session.id)
        key = f"thread-state:{thread}:upload:{client_id}"
        await self._agents.state.set(key, data, UPLOAD_TTL_MS)
        kind = "photo" if mime.startswith("image/") else "document"
        return Attachment(kind, name, len(content), mime, key, WEB)

    async def _web_action(self, request: HttpRequest, session: Session) -> HttpResponse:
        body = json_object(request.body, ("client_id", "message_id", "action_id", "value"))
        client_id = _client_id(body)
        action_id = text_field(body, "action_id", required=True, max_bytes=256)
        message_id = text_field(body, "message_id", required=True, max_bytes=256)
        value = text_field(body, "value", max_bytes=1024) or ""
        assert action_id is not None and message_id is not None
        button = Button(action_id, action_id, value)
        await self._accept(WEB, web_press(session.id, client_id, button, message_id))
        return HttpResponse.json(202, {"accepted": True, "thread_id": web_thread(session.id)})
