"""The WhatsApp Cloud API (Graph API) as documented, answered for tests.

`POST /{phone_number_id}/messages` sends text, interactive buttons and lists, reactions and
media, answering `{"messaging_product", "contacts", "messages": [{"id": "wamid..."}]}`;
`POST /{phone_number_id}/media` uploads (multipart) and answers `{"id"}`; `GET /{media_id}`
answers the media's download URL, which needs the same bearer token. Refusals have Graph API
errors' shape `{"error": {"message", "type", "code", "fbtrace_id"}}`: a wrong token 401 (code
190), a malformed message 400 (code 100), and a message to a user whose 24-hour customer
service window is closed 400 (code 131047), as a user in `window_closed` is.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

TEXT_LIMIT = 4096
Record = Callable[[str, dict[str, Any]], None]


class GraphError(Exception):
    def __init__(self, status: int, code: int, message: str, details: str = "") -> None:
        super().__init__(message)
        self.status = status
        error: dict[str, Any] = {
            "message": message,
            "type": "OAuthException",
            "code": code,
            "fbtrace_id": "AbCdEf123",
        }
        if details:
            error["error_data"] = {"messaging_product": "whatsapp", "details": details}
        self.answer = {"error": error}


def _invalid(what: str) -> GraphError:
    return GraphError(400, 100, f"(#100) Invalid parameter: {what}")


class FakeWhatsAppApi:
    def __init__(self, token: str, phone_number_id: str, record: Record) -> None:
        self.token = token
        self.phone_number_id = phone_number_id
        self._record = record
        self._ids = itertools.count(1)
        # Users whose last message is over 24 hours old: only templates reach them.
        self.window_closed: set[str] = set()
        # Media users sent (by id) and media the bot uploaded: their bytes.
        self.media: dict[str, bytes] = {}
        self.download_base = ""
        # The wamids of what the bot sent, by user.
        self.sent_to: dict[str, list[str]] = {}

    def answer(
        self, verb: str, path: str, authorization: str | None, payload: dict[str, Any]
    ) -> tuple[int, Any]:
        if authorization != f"Bearer {self.token}":
            error = GraphError(401, 190, "Invalid OAuth access token - Cannot parse access token")
            return error.status, error.answer
        try:
            if verb == "POST" and path == f"/{self.phone_number_id}/messages":
                answer = self._message(payload)
                self._record("messages", payload)
                return 200, answer
            if verb == "POST" and path == f"/{self.phone_number_id}/media":
                media_id = f"{next(self._ids) + 900_000}"
                data = payload.get("file")
                self.media[media_id] = data if isinstance(data, bytes) else b""
                self._record("media", {k: v for k, v in payload.items() if k != "file"})
                return 200, {"id": media_id}
            if verb == "GET" and re.fullmatch(r"/\d+", path) and path[1:] in self.media:
                media_id = path[1:]
                return 200, {
                    "messaging_product": "whatsapp",
                    "url": f"{self.download_base}/whatsapp-media/{media_id}",
                    "mime_type": "application/octet-stream",
                    "file_size": len(self.media[media_id]),
                    "id": media_id,
                }
        except GraphError as error:
            return error.status, error.answer
        unknown = GraphError(400, 100, "Unsupported request - method type: " + verb.lower())
        return unknown.status, unknown.answer

    def download(self, media_id: str, authorization: str | None) -> tuple[int, bytes]:
        if authorization != f"Bearer {self.token}":
            return 401, b""
        data = self.media.get(media_id)
        return (200, data) if data is not None else (404, b"")

    def _message(self, payload: dict[str, Any]) -> dict[str, Any]:
        if payload.get("messaging_product") != "whatsapp":
            raise _invalid("messaging_product must be whatsapp")
        to = payload.get("to")
        if not isinstance(to, str) or not to.isdigit():
            raise _invalid("to")
        if to in self.window_closed:
            raise GraphError(
                400,
                131047,
                "(#131047) Re-engagement message",
                "Message failed to send because more than 24 hours have passed since the "
                "customer last replied to this number.",
            )
        kind = payload.get("type")
        body = payload.get(str(kind))
        if not isinstance(body, dict):
            raise _invalid(f"{kind} must be an object")
        if kind == "text":
            text = body.get("body")
            if not isinstance(text, str) or not text or len(text) > TEXT_LIMIT:
                raise _invalid("text.body must be 1 to 4096 characters")
        elif kind == "interactive":
            self._interactive(body)
        elif kind == "reaction":
            if not isinstance(body.get("message_id"), str) or not isinstance(
                body.get("emoji"), str
            ):
                raise _invalid("reaction needs message_id and emoji")
        elif kind in ("image", "document", "audio", "video"):
            if not (isinstance(body.get("id"), str) or isinstance(body.get("link"), str)):
                raise _invalid(f"{kind} needs an id or a link")
        else:
            raise _invalid(f"type {kind!r}")
        wamid = f"wamid.OUT{next(self._ids):08d}"
        self.sent_to.setdefault(to, []).append(wamid)
        return {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": wamid}],
        }

    @staticmethod
    def _interactive(body: dict[str, Any]) -> None:
        text = (body.get("body") or {}).get("text")
        if not isinstance(text, str) or not text:
            raise _invalid("interactive.body.text is required")
        action = body.get("action") or {}
        if body.get("type") == "button":
            buttons = action.get("buttons")
            if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
                raise _invalid("interactive buttons: 1 to 3")
            for button in buttons:
                reply = button.get("reply") or {}
                if not 1 <= len(str(reply.get("title", ""))) <= 20:
                    raise _invalid("button title: 1 to 20 characters")
                if not 1 <= len(str(reply.get("id", ""))) <= 256:
                    raise _invalid("button id: 1 to 256 characters")
        elif body.get("type") == "list":
            rows = [row for section in action.get("sections", []) for row in section["rows"]]
            if not 1 <= len(rows) <= 10:
                raise _invalid("list rows: 1 to 10")
            if any(not 1 <= len(str(row.get("title", ""))) <= 24 for row in rows):
                raise _invalid("row title: 1 to 24 characters")
            if not 1 <= len(str(action.get("button", ""))) <= 20:
                raise _invalid("list button: 1 to 20 characters")
        else:
            raise _invalid(f"interactive type {body.get('type')!r}")
