"""Fake Telegram Bot API and Slack Web API servers on loopback, recording what the bot sends.

They answer as the documented APIs do (chatstate.testing.platform_apis, which the bot authors'
harness uses in process), over real HTTP.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chatstate.testing.platform_apis import REST_PATHS, ApiCall, PlatformApis, parse_body
from support.local_server import (
    DISCORD_APPLICATION_ID,
    DISCORD_BOT_TOKEN,
    GITHUB_APP_ID,
    GITHUB_APP_PUBLIC_KEY,
    GITHUB_LOGIN,
    GITHUB_TOKEN,
    WHATSAPP_PHONE_ID,
    WHATSAPP_TOKEN,
)


class _ListeningServer(ThreadingHTTPServer):
    # The standard library listens with a backlog of 5: a burst of new connections beyond it
    # waits for TCP's one-second SYN retry, which the real APIs never make a client do.
    request_queue_size = 128


class FakeApis:
    def __init__(self, telegram_token: str, slack_token: str, bot_username: str) -> None:
        self.telegram_token = telegram_token
        self.slack_token = slack_token
        self.bot_username = bot_username
        self.calls: list[tuple[str, dict[str, Any]]] = []
        # When each call arrived (time.monotonic()), for latency measurements.
        self.call_times: list[float] = []
        self.lock = threading.Lock()
        # Closed: sendMessage / chat.postMessage hang until opened (to crash mid-handler).
        self.gate = threading.Event()
        self.gate.set()
        self.barrier: threading.Barrier | None = None
        self.barrier_met = False
        self.apis = PlatformApis(
            telegram_token,
            slack_token,
            bot_username,
            self._on_call,
            github_token=GITHUB_TOKEN,
            github_login=GITHUB_LOGIN,
            github_app_id=GITHUB_APP_ID,
            github_app_public_key_pem=GITHUB_APP_PUBLIC_KEY,
            whatsapp_token=WHATSAPP_TOKEN,
            whatsapp_phone_number_id=WHATSAPP_PHONE_ID,
            discord_application_id=DISCORD_APPLICATION_ID,
            discord_bot_token=DISCORD_BOT_TOKEN,
        )
        # Answers to give instead of the normal one, first in first out, per method.
        self._scripted: dict[str, list[tuple[int, dict[str, Any], dict[str, str]]]] = {}
        self.server = _ListeningServer(("127.0.0.1", 0), self._handler_class())
        self.apis.upload_base = self.base
        self.apis.whatsapp.download_base = self.base
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeApis:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()

    def fail_next(
        self,
        method: str,
        status: int,
        answer: dict[str, Any],
        times: int = 1,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next `times` calls of `method` with this error (the call is recorded)."""
        with self.lock:
            self._scripted.setdefault(method, []).extend([(status, answer, headers or {})] * times)

    def _scripted_answer(self, method: str) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        with self.lock:
            queue = self._scripted.get(method)
            return queue.pop(0) if queue else None

    def sent(self, method: str) -> list[dict[str, Any]]:
        with self.lock:
            return [payload for name, payload in self.calls if name == method]

    def wait_for(self, method: str, count: int, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            sent = self.sent(method)
            if len(sent) >= count:
                return sent
            time.sleep(0.02)
        raise AssertionError(f"expected {count} {method} calls, saw {self.sent(method)}")

    def _answer(
        self, path: str, headers: Any, payload: Any, verb: str = "POST"
    ) -> tuple[int, Any, dict[str, str]]:
        if path.startswith(REST_PATHS):
            status, answer = self.apis.answer(path, headers.get("authorization"), payload, verb)
            return status, answer, {}
        method = path.rsplit("/", 1)[1]
        if path.startswith(f"/bot{self.telegram_token}/") or path.startswith("/api/"):
            scripted = self._scripted_answer(method)
            if scripted is not None:
                self._record(method, payload)
                return scripted
        status, answer = self._normal_answer(path, headers, payload)
        return status, answer, {}

    def _normal_answer(
        self, path: str, headers: Any, payload: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        return self.apis.answer(path, headers.get("authorization"), payload)

    def _on_call(self, call: ApiCall) -> None:
        self._record(call.method, call.payload)
        if call.method in ("sendMessage", "chat.postMessage"):
            self._hold()

    def _record(self, method: str, payload: dict[str, Any]) -> None:
        with self.lock:
            self.calls.append((method, payload))
            self.call_times.append(time.monotonic())

    def _hold(self) -> None:
        if self.barrier is not None:
            try:
                self.barrier.wait()
                self.barrier_met = True
            except threading.BrokenBarrierError:
                pass
        self.gate.wait(timeout=60)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        apis = self

        class Handler(BaseHTTPRequestHandler):
            # Keep-alive, as the real Bot API and Slack Web API speak it.
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if self.path.startswith(REST_PATHS):
                    self._json("GET")
                    return
                status, data = apis.apis.download(self.path, self.headers.get("authorization"))
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/octet-stream")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_POST(self) -> None:
                self._json("POST")

            def do_PATCH(self) -> None:
                self._json("PATCH")

            def do_DELETE(self) -> None:
                self._json("DELETE")

            def do_PUT(self) -> None:
                self._json("PUT")

            def _json(self, verb: str) -> None:
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length)
                content_type = self.headers.get("content-type", "")
                payload: Any = (
                    (json.loads(raw) if raw else None)
                    if self.path.startswith(REST_PATHS) and content_type == "application/json"
                    else parse_body(content_type, raw)
                )
                status, answer, extra_headers = apis._answer(self.path, self.headers, payload, verb)
                data = b"" if answer is None else json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    for name, value in extra_headers.items():
                        self.send_header(name, value)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler
