"""Discord's HTTP API for interactions and messages, as documented, answered for tests.

Interaction webhooks (no authorization: the token is in the path): `PATCH
/webhooks/{application_id}/{token}/messages/@original` completes a deferred response,
`POST /webhooks/{application_id}/{token}` adds a follow-up, `PATCH` / `DELETE
.../messages/{id}` change one. With `Authorization: Bot <token>`: `POST
/channels/{id}/messages`, reactions (`PUT` / `DELETE .../reactions/{emoji}/@me`, 204), and
`PUT /applications/{id}/commands`. Messages are checked as Discord checks them: content of at
most 2,000 characters, at most 5 action rows of 5 buttons, custom ids of at most 100
characters; refusals are 400 `{"code": 50035, "message": "Invalid Form Body"}`, an unknown
token 401 `{"code": 50027, "message": "Invalid Webhook Token"}`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

CONTENT_LIMIT = 2000
Record = Callable[[str, dict[str, Any]], None]


class Refused(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.answer = {"code": code, "message": message}


def _invalid(reason: str) -> Refused:
    return Refused(400, 50035, f"Invalid Form Body: {reason}")


class FakeDiscordApi:
    def __init__(self, application_id: str, bot_token: str, record: Record) -> None:
        self.application_id = application_id
        self.bot_token = bot_token
        self._record = record
        self._ids = itertools.count(1_100_000_000_000_000_000)
        # Tokens of interactions Discord delivered (a test adds each it sends).
        self.tokens: set[str] = set()
        # Messages by id: {"channel_id", "content", ...}.
        self.messages: dict[str, dict[str, Any]] = {}
        self.commands: list[dict[str, Any]] = []
        self.reactions: list[tuple[str, str, str]] = []

    def answer(
        self, verb: str, path: str, authorization: str | None, payload: Any
    ) -> tuple[int, Any]:
        try:
            hook = re.fullmatch(
                rf"/webhooks/{self.application_id}/([^/?]+)(/messages/([^/?]+))?(\?.*)?", path
            )
            if hook:
                return self._webhook(verb, hook[1], hook[3], payload)
            if authorization != f"Bot {self.bot_token}":
                raise Refused(401, 0, "401: Unauthorized")
            return self._bot(verb, path.split("?", 1)[0], payload)
        except Refused as refused:
            return refused.status, refused.answer

    def _webhook(self, verb: str, token: str, message: str | None, payload: Any) -> tuple[int, Any]:
        if token not in self.tokens:
            raise Refused(401, 50027, "Invalid Webhook Token")
        if message is None and verb == "POST":
            self._record("followup", payload)
            return 200, self._create("webhook", payload)
        if message == "@original" and verb == "PATCH":
            self._record("original", payload)
            return 200, self._create("webhook", payload)
        if message is not None and message in self.messages:
            if verb == "PATCH":
                self._record("edit", payload)
                self.messages[message].update(self._checked(payload))
                return 200, self.messages[message]
            if verb == "DELETE":
                self._record("delete", {})
                del self.messages[message]
                return 204, None
        raise Refused(404, 10008, "Unknown Message")

    def _bot(self, verb: str, path: str, payload: Any) -> tuple[int, Any]:
        created = re.fullmatch(r"/channels/(\d+)/messages", path)
        if created and verb == "POST":
            self._record("create", payload)
            return 200, self._create(created[1], payload)
        reaction = re.fullmatch(r"/channels/(\d+)/messages/(\d+)/reactions/([^/]+)/@me", path)
        if reaction and verb in ("PUT", "DELETE"):
            if reaction[2] not in self.messages:
                raise Refused(404, 10008, "Unknown Message")
            self._record("reaction", {"verb": verb, "emoji": reaction[3]})
            self.reactions.append((verb, reaction[2], reaction[3]))
            return 204, None
        if path == f"/applications/{self.application_id}/commands" and verb == "PUT":
            if not isinstance(payload, list):
                raise _invalid("a list of commands")
            for command in payload:
                if not re.fullmatch(r"[-_a-z0-9]{1,32}", str(command.get("name", ""))):
                    raise _invalid("command name")
                if not 1 <= len(str(command.get("description", ""))) <= 100:
                    raise _invalid("command description")
            self._record("commands", {"commands": payload})
            self.commands = [{**c, "id": str(next(self._ids))} for c in payload]
            return 200, self.commands
        raise Refused(404, 0, "404: Not Found")

    def _checked(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise _invalid("a JSON object")
        content = payload.get("content", "")
        if not isinstance(content, str) or len(content) > CONTENT_LIMIT:
            raise _invalid("content: Must be 2000 or fewer in length.")
        rows = payload.get("components", [])
        if len(rows) > 5 or any(len(row.get("components", [])) > 5 for row in rows):
            raise _invalid("components: at most 5 rows of 5")
        for row in rows:
            for component in row.get("components", []):
                if len(str(component.get("custom_id", ""))) > 100:
                    raise _invalid("custom_id: Must be 100 or fewer in length.")
        if not content and not payload.get("embeds") and not rows:
            raise _invalid("Cannot send an empty message")
        return payload

    def _create(self, channel: str, payload: Any) -> dict[str, Any]:
        message = {
            "id": str(next(self._ids)),
            "channel_id": channel,
            "content": "",
            **self._checked(payload),
            "author": {"id": self.application_id, "username": "bot", "bot": True},
        }
        self.messages[message["id"]] = message
        return message
