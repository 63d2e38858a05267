"""POST /api/threads/{thread_id}/messages: post to a chat thread from outside the bot (alerts,
CI), with CHAT_API_TOKEN, the same checks and errors as the conversations API.

    {"text": "deploy finished", "markdown": false}  ->  201 {"message": {id, thread_id, ...}}

The message goes out through the thread's platform and enters its history."""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote

from chatstate.chat.content import Markdown, NotSupported
from chatstate.chat.runtime import Chat
from chatstate.http.messages import HttpRequest, HttpResponse
from chatstate.platforms.base import PlatformApiError
from chatstate.routes.api.live import bearer_matches
from chatstate.routes.api.validation import MAX_TEXT_BYTES, ApiError, json_object, text_field

logger = logging.getLogger("chatstate.routes.api")

THREADS_PREFIX = "/api/threads/"
_ROUTE = re.compile(r"^/api/threads/([^/]{1,512})/messages$")


def thread_of_path(path: str) -> str | None:
    """The thread id a thread-posting path names, decoded; None for any other path."""
    match = _ROUTE.match(path)
    return None if match is None else unquote(match.group(1))


class ThreadPostsApi:
    def __init__(self, chat: Chat, api_token: str | None) -> None:
        self._chat = chat
        self._token = api_token

    async def handle(self, request: HttpRequest) -> HttpResponse:
        try:
            return await self._post(request)
        except ApiError as error:
            extra = {"www-authenticate": "Bearer"} if error.status == 401 else {}
            return error.response(**extra)

    async def _post(self, request: HttpRequest) -> HttpResponse:
        if self._token is None:
            raise ApiError(404, "the API is off: set the CHAT_API_TOKEN secret")
        if not bearer_matches(request, self._token):
            raise ApiError(401, "send Authorization: Bearer <CHAT_API_TOKEN>")
        thread_id = thread_of_path(request.path)
        if thread_id is None:
            raise ApiError(404, f"no route for {request.path}")
        if request.method != "POST":
            raise ApiError(405, "messages are POSTed")
        body = json_object(request.body, ("text", "markdown"))
        text = text_field(body, "text", required=True, max_bytes=MAX_TEXT_BYTES)
        assert text is not None
        markdown = body.get("markdown", False)
        if not isinstance(markdown, bool):
            raise ApiError(422, "markdown must be true or false", "markdown")
        try:
            thread = self._chat.thread(thread_id)
        except ValueError as error:
            raise ApiError(404, str(error)) from None
        try:
            sent = await thread.post(Markdown(text) if markdown else text)
        except (ValueError, TypeError, NotSupported) as error:
            raise ApiError(422, str(error), "text") from None
        except PlatformApiError as error:
            logger.warning("posting to %s failed: %s", thread_id, error)
            raise ApiError(502, str(error)) from None
        message = sent.message
        return HttpResponse.json(
            201,
            {
                "message": {
                    "id": message.id,
                    "thread_id": message.thread_id,
                    "text": message.text,
                    "parts": len(sent.parts),
                }
            },
        )
