"""What the chat runtime needs from a platform."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from chatstate.chat.attachments import Attachment, AttachmentError, AttachmentTooLarge
from chatstate.chat.content import Modal, NotSupported, Reply
from chatstate.chat.events import Action, Event, Inbound, Message
from chatstate.http.client import HttpClient, HttpRequester, HttpResult, ResponseTooLarge
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


@dataclass(frozen=True)
class StreamTarget:
    """Who a streamed reply answers, for platforms whose streams need it (Slack)."""

    user_id: str = ""
    team_id: str = ""


class Streamer(Protocol):
    async def update(self, text: str) -> None:
        """Show the text so far (called at most every stream interval)."""
        ...

    async def finish(self, text: str) -> list[Message]:
        """Make `text` the final reply, exactly; the messages it ended up in."""
        ...


class Platform(Protocol):
    name: str
    lock_scope: LockScope
    persist_history: bool

    def verify(self, request: HttpRequest, now_ms: int) -> Awaitable[None] | None:
        """Raise WebhookRejected (401) unless the request provably comes from the platform;
        may be a coroutine, when the check is asynchronous (WebCrypto)."""
        ...

    def parse(self, request: HttpRequest) -> Inbound | HttpResponse:
        """The events of a verified delivery, or a response the platform expects at once."""
        ...

    async def prepare(self, message: Message) -> Message:
        """Complete a message before dispatch (things that need an API call, like the bot's name)."""
        ...

    async def acknowledge(self, action: Action) -> None:
        """Tell the platform an action was received (Telegram's spinner stops)."""
        ...

    async def send(self, thread_id: str, reply: Reply) -> list[Message]:
        """Send one reply; a text over the platform's limit goes out as several messages."""
        ...

    async def edit(self, sent: Message, reply: Reply) -> Message: ...

    async def delete(self, sent: Message) -> None: ...

    async def react(self, sent: Message, emoji: str, *, add: bool) -> None: ...

    async def show_typing(self, thread_id: str) -> None:
        """One typing signal; the runtime repeats it while a handler is in `thread.typing()`."""
        ...

    async def send_ephemeral(self, thread_id: str, user_id: str, reply: Reply) -> None: ...

    async def open_dm(self, user_id: str) -> str:
        """The thread id of a direct conversation with the user."""
        ...

    def streamer(self, thread_id: str, target: StreamTarget) -> Streamer: ...

    async def open_modal(self, trigger: Event, modal: Modal, metadata: dict[str, str]) -> None:
        """Open `modal` in answer to `trigger` (a press, a command); `metadata` comes back with
        its submission."""
        ...

    def modal_answer(self, errors: dict[str, str] | None) -> HttpResponse:
        """The webhook's answer to a modal's submission: its field errors, or close it."""
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
    return await call_api(
        http,
        url,
        json.dumps(payload).encode(),
        {"content-type": "application/json; charset=utf-8", **headers},
        platform=platform,
        method=method,
        sleep=sleep,
        retry=retry,
        secret=secret,
    )


async def call_api(
    http: HttpClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    platform: str,
    method: str,
    sleep: Sleep = asyncio.sleep,
    retry: RetryPolicy = DEFAULT_RETRY,
    secret: str = "",
) -> dict[str, Any]:
    """POST `body` as it is (JSON, a form, multipart) and return the JSON answer: see
    call_json_api."""

    async def send() -> HttpResult:
        return await http.post(url, body, headers)

    def answered(result: HttpResult, answer: Any) -> bool:
        return result.status < 400 and isinstance(answer, dict) and bool(answer.get("ok"))

    answer = await _with_retries(send, answered, platform, method, sleep, retry, secret)
    assert isinstance(answer, dict)
    return answer


async def call_rest_api(
    http: HttpRequester,
    verb: str,
    url: str,
    payload: Any,
    headers: dict[str, str],
    *,
    platform: str,
    method: str,
    sleep: Sleep = asyncio.sleep,
    retry: RetryPolicy = DEFAULT_RETRY,
    secret: str = "",
    form: tuple[bytes, str] | None = None,
) -> Any:
    """A REST call (GitHub, the Graph API): any 2xx is success, its JSON body the answer
    (None for an empty one, as a 204). Retries as call_json_api; a 403 that names a
    Retry-After (GitHub's secondary rate limit) is retried too. `form` is a body and its
    content type (multipart) sent instead of `payload` as JSON."""
    if form is not None:
        body, content_type = form
    else:
        body = b"" if payload is None else json.dumps(payload).encode()
        content_type = "application/json" if payload is not None else ""
    sent = {**headers, **({"content-type": content_type} if content_type else {})}

    async def send() -> HttpResult:
        return await http.request(verb, url, body, sent)

    def answered(result: HttpResult, answer: Any) -> bool:
        return 200 <= result.status < 300

    return await _with_retries(send, answered, platform, method, sleep, retry, secret)


async def _with_retries(
    send: Callable[[], Awaitable[HttpResult]],
    answered: Callable[[HttpResult, Any], bool],
    platform: str,
    method: str,
    sleep: Sleep,
    retry: RetryPolicy,
    secret: str,
) -> Any:
    waited = 0.0
    attempt = 0
    while True:
        attempt += 1
        delay = retry.backoff(attempt)
        try:
            result = await send()
        except Exception as error:
            status, detail = "no response", f"{type(error).__name__}: {error}"
        else:
            try:
                answer = json.loads(result.body) if result.body else None
            except ValueError:
                answer = None
            if answered(result, answer):
                return answer
            status, detail = f"HTTP {result.status}", repr(result.body[:300])
            limited = result.status == 403 and "retry-after" in result.headers
            if result.status != 429 and result.status < 500 and not limited:
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


def split_text(text: str, limit: int) -> list[str]:
    """Text past `limit` characters as several parts, each cut at a line break, or else a
    space, in the limit's second half when there is one there."""
    parts = []
    while len(text) > limit:
        newline = text.rfind("\n", limit // 2, limit)
        space = text.rfind(" ", limit // 2, limit)
        cut = newline if newline > 0 else space if space > 0 else limit
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n ")
    return [*parts, text]


def multipart(
    fields: dict[str, str], file_field: str, name: str, mime: str, data: bytes
) -> tuple[bytes, str]:
    """A multipart/form-data body with text fields and one file; and its content type."""
    boundary = f"chatstate-{uuid.uuid4().hex}"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        for key, value in fields.items()
    ]
    safe_name = name.replace('"', "'").replace("\r", "").replace("\n", "")
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
        f'filename="{safe_name}"\r\nContent-Type: {mime}\r\n\r\n'.encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class EditingStreamer:
    """A streamed reply as one message posted, then edited; text past the platform's limit
    continues in a new message. For platforms (or chats) without native streaming."""

    def __init__(
        self, platform: Platform, thread_id: str, split: Callable[[str], list[str]]
    ) -> None:
        self._platform = platform
        self._thread_id = thread_id
        self._split = split
        self._sent: list[Message] = []
        self._shown: list[str] = []

    async def update(self, text: str) -> None:
        await self._show(self._split(text))

    async def finish(self, text: str) -> list[Message]:
        await self._show(self._split(text))
        return list(self._sent)

    async def _show(self, parts: list[str]) -> None:
        for index, part in enumerate(parts):
            if index < len(self._sent):
                if self._shown[index] != part:
                    self._sent[index] = await self._platform.edit(self._sent[index], Reply(part))
                    self._shown[index] = part
            else:
                [sent] = await self._platform.send(self._thread_id, Reply(part))
                self._sent.append(sent)
                self._shown.append(part)


async def read_file(
    http: HttpClient, url: str, headers: dict[str, str], attachment: Attachment, max_bytes: int
) -> bytes:
    """Download an attachment's bytes; errors name the file, never the URL (it may hold a
    token)."""
    download = getattr(http, "download", None)
    if download is None:
        raise NotSupported(f"{attachment.platform}: this runtime's HTTP client cannot download")
    try:
        data: bytes = await download(url, headers, max_bytes)
    except ResponseTooLarge:
        raise AttachmentTooLarge(f"{attachment.name} is over max_bytes={max_bytes}") from None
    except Exception as error:
        raise AttachmentError(
            f"{attachment.platform} file {attachment.name} could not be read: "
            f"{type(error).__name__}"
        ) from None
    return data
