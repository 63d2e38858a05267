"""What the chat runtime needs from a platform."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from chatstate.chat.events import Action, Button, Inbound, Message
from chatstate.http.client import HttpClient, HttpResult
from chatstate.http.messages import HttpRequest, HttpResponse

logger = logging.getLogger("chatstate.platforms")
Sleep = Callable[[float], Awaitable[None]]

LockScope = Literal["thread", "channel"]


class WebhookRejected(Exception):
    """A webhook that must not reach state, with the response it gets."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__(response.body.decode(errors="replace"))
        self.response = response


class PlatformApiError(RuntimeError):
    """A platform API call failed; says which method and what the platform answered."""


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def loads_json(text: str | bytes) -> Any:
    """Strict JSON: Python's json also reads NaN and Infinity; JSON has neither, and state
    refuses them."""
    return json.loads(text, parse_constant=_not_json)


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = loads_json(body)
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


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries of a platform API call: rate limits (429), server errors (5xx) and
    connection failures. The whole wait stays far inside a handler's lock lifetime."""

    attempts: int = 4
    first_delay_s: float = 0.5
    budget_s: float = 20.0

    def backoff(self, attempt: int) -> float:
        return float(self.first_delay_s * 2 ** (attempt - 1))


DEFAULT_RETRY = RetryPolicy()


def _retry_after(result: HttpResult, answer: Any) -> float | None:
    # Telegram: {"parameters": {"retry_after": 5}}; Slack and HTTP: a Retry-After header.
    parameters = answer.get("parameters") if isinstance(answer, dict) else None
    if isinstance(parameters, dict) and isinstance(parameters.get("retry_after"), int | float):
        return float(parameters["retry_after"])
    header = result.headers.get("retry-after", "")
    return float(header) if header.isdigit() else None


async def call_json_api(
    http: HttpClient,
    url: str,
    payload: dict[str, Any],
    headers: dict[str, str],
    *,
    platform: str,
    method: str,
    sleep: Sleep = asyncio.sleep,
    retry: RetryPolicy = DEFAULT_RETRY,
    secret: str = "",
) -> dict[str, Any]:
    """POST a JSON call and return the platform's answer, retrying what may succeed later.

    A final failure is logged with platform, method and status, and raised as
    PlatformApiError; `secret` (a token in the URL) never reaches either."""
    body = json.dumps(payload).encode()
    headers = {"content-type": "application/json; charset=utf-8", **headers}
    waited = 0.0
    attempt = 0
    while True:
        attempt += 1
        delay = retry.backoff(attempt)
        try:
            result = await http.post(url, body, headers)
        except Exception as error:
            status, detail = "no response", f"{type(error).__name__}: {error}"
        else:
            try:
                answer = json.loads(result.body)
            except ValueError:
                answer = None
            if result.status < 400 and isinstance(answer, dict) and answer.get("ok"):
                return answer
            status, detail = f"HTTP {result.status}", repr(result.body[:300])
            if result.status != 429 and result.status < 500:
                break
            delay = _retry_after(result, answer) or delay
        if attempt >= retry.attempts or waited + delay > retry.budget_s:
            break
        logger.info("%s %s got %s; retrying in %.1f s", platform, method, status, delay)
        await sleep(delay)
        waited += delay
    if secret:
        detail = detail.replace(secret, "<token>")
    logger.error(
        "%s %s failed with %s after %d attempt(s): %s", platform, method, status, attempt, detail
    )
    raise PlatformApiError(f"{platform} {method} failed with {status}: {detail}")
