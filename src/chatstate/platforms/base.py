"""What the chat runtime needs from a platform."""

from __future__ import annotations

import json
from typing import Any, Literal, Protocol

from ..chat.events import Action, Button, Inbound, Message
from ..http import HttpRequest, HttpResponse
from ..http_client import HttpClient

LockScope = Literal["thread", "channel"]


class WebhookRejected(Exception):
    """A webhook that must not reach state, with the response it gets."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__(response.body.decode(errors="replace"))
        self.response = response


class PlatformApiError(RuntimeError):
    """A platform API call failed; says which method and what the platform answered."""


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError as error:
        raise WebhookRejected(
            HttpResponse.text(400, f"body is not valid JSON: {error}\n")
        ) from error
    if not isinstance(payload, dict):
        raise WebhookRejected(HttpResponse.text(400, "body must be a JSON object\n"))
    return payload


class Platform(Protocol):
    name: str
    lock_scope: LockScope
    persist_history: bool

    def verify(self, request: HttpRequest, now_ms: int) -> None:
        """Raise WebhookRejected (401) unless the request provably comes from the platform."""
        ...

    def parse(self, request: HttpRequest) -> Inbound | HttpResponse:
        """The events of a verified delivery, or a response the platform expects at once."""
        ...

    async def prepare(self, message: Message) -> Message:
        """Complete a message before dispatch (things that need an API call, like the bot's name)."""
        ...

    async def post(self, thread_id: str, text: str, buttons: list[Button] | None) -> Message: ...

    async def acknowledge(self, action: Action) -> None:
        """Tell the platform an action was received (Telegram's spinner stops)."""
        ...


async def call_json_api(
    http: HttpClient, url: str, payload: dict[str, Any], headers: dict[str, str], method: str
) -> dict[str, Any]:
    result = await http.post(
        url,
        json.dumps(payload).encode(),
        {"content-type": "application/json; charset=utf-8", **headers},
    )
    try:
        answer = json.loads(result.body)
    except ValueError:
        answer = None
    if result.status >= 400 or not isinstance(answer, dict) or not answer.get("ok"):
        raise PlatformApiError(f"{method} failed with HTTP {result.status}: {result.body[:300]!r}")
    return answer
