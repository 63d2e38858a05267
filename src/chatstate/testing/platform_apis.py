"""The Telegram Bot API and Slack Web API as documented, answered in process for tests.

Answers have the documented shapes: Telegram `{"ok": true, "result": ...}` at
`/bot<token>/<method>` (401 for another token, 404 for an unknown method), Slack
`{"ok": true, ...}` at `/api/<method>` with a Bearer token (`invalid_auth` otherwise). Every
call is recorded, so a test can assert what the bot sent.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chatstate.http.client import HttpResult

BOT_USER_ID = 42
SLACK_BOT_USER = "UBOT"


@dataclass(frozen=True)
class ApiCall:
    platform: str
    method: str
    payload: dict[str, Any]


class PlatformApis:
    """Answers calls to both APIs for one bot: its Telegram token and username, its Slack token."""

    def __init__(
        self,
        telegram_token: str,
        slack_token: str,
        bot_username: str,
        on_call: Callable[[ApiCall], None] | None = None,
    ) -> None:
        self.telegram_token = telegram_token
        self.slack_token = slack_token
        self.bot_username = bot_username
        self.calls: list[ApiCall] = []
        # Told of each accepted call before it is answered (a server may hold the answer).
        self._on_call = on_call
        self._message_ids = itertools.count(1000)

    def _record(self, call: ApiCall) -> None:
        self.calls.append(call)
        if self._on_call is not None:
            self._on_call(call)

    def sent(self, method: str) -> list[dict[str, Any]]:
        return [call.payload for call in self.calls if call.method == method]

    def answer(
        self, path: str, authorization: str | None, payload: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """The status and JSON answer for a POST to `path` (below the API's host)."""
        if path.startswith("/bot"):
            return self._telegram(path, payload)
        if path.startswith("/api/"):
            return self._slack(path.removeprefix("/api/"), authorization, payload)
        return 404, {"ok": False, "error": "unknown_method"}

    def _telegram(self, path: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if not path.startswith(f"/bot{self.telegram_token}/"):
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        method = path.rsplit("/", 1)[1]
        self._record(ApiCall("telegram", method, payload))
        bot = {
            "id": BOT_USER_ID,
            "is_bot": True,
            "first_name": "Bot",
            "username": self.bot_username,
        }
        if method == "getMe":
            return 200, {"ok": True, "result": bot}
        if method == "sendMessage":
            message: dict[str, Any] = {
                "message_id": next(self._message_ids),
                "from": bot,
                "chat": {"id": payload["chat_id"], "type": "supergroup"},
                "date": int(time.time()),
                "text": payload["text"],
            }
            if "message_thread_id" in payload:
                message["message_thread_id"] = payload["message_thread_id"]
                message["is_topic_message"] = True
            return 200, {"ok": True, "result": message}
        if method == "answerCallbackQuery":
            return 200, {"ok": True, "result": True}
        return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}

    def _slack(
        self, method: str, authorization: str | None, payload: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        if method != "chat.postMessage":
            return 404, {"ok": False, "error": "unknown_method"}
        if authorization != f"Bearer {self.slack_token}":
            return 200, {"ok": False, "error": "invalid_auth"}
        self._record(ApiCall("slack", method, payload))
        ts = f"{time.time():.6f}"
        return 200, {
            "ok": True,
            "channel": payload["channel"],
            "ts": ts,
            "message": {
                "type": "message",
                "user": SLACK_BOT_USER,
                "text": payload["text"],
                "ts": ts,
            },
        }


class InProcessHttp:
    """The platforms' HTTP client port, answered by `PlatformApis` without a network."""

    def __init__(self, apis: PlatformApis, base: str) -> None:
        self._apis = apis
        self._base = base

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> HttpResult:
        if not url.startswith(self._base):
            # The URL may hold a bot token: it is not repeated here.
            raise ConnectionError("no network in tests: a call went past the fake platform APIs")
        payload = json.loads(body) if body else {}
        status, answer = self._apis.answer(
            url[len(self._base) :], headers.get("authorization"), payload
        )
        return HttpResult(status, json.dumps(answer).encode(), {"content-type": "application/json"})
