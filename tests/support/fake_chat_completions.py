"""A fake OpenAI-compatible chat-completions server on loopback, as the API documents it:
POST /v1/chat/completions with stream: true answers server-sent events, chunked, each
`data: {"choices": [{"delta": {"content": ...}}]}`, then `data: [DONE]`.

It runs in a thread of its own, so the runtimes under test (a subprocess, or workerd) and
in-process tests reach it alike.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeChatCompletions:
    def __init__(self, chunks: list[str], status: int = 200) -> None:
        self.chunks = chunks
        self.status = status
        self.requests: list[tuple[dict[str, str], Any]] = []
        # Cleared by a test to hold the stream after its first chunk until set again.
        self.release_rest = threading.Event()
        self.release_rest.set()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                fake._serve(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeChatCompletions:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release_rest.set()
        self._server.shutdown()
        self._server.server_close()

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        headers = {name.lower(): value for name, value in handler.headers.items()}
        body = json.loads(handler.rfile.read(int(headers["content-length"])))
        self.requests.append((headers, body))
        if self.status != 200:
            error = json.dumps({"error": {"message": "model overloaded"}}).encode()
            handler.send_response(self.status)
            handler.send_header("content-type", "application/json")
            handler.send_header("content-length", str(len(error)))
            handler.end_headers()
            handler.wfile.write(error)
            return
        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream")
        handler.send_header("transfer-encoding", "chunked")
        handler.send_header("connection", "close")
        handler.end_headers()
        for index, text in enumerate(self.chunks):
            event = {"choices": [{"index": 0, "delta": {"content": text}}]}
            self._chunk(handler, f"data: {json.dumps(event)}\n\n".encode())
            if index == 0:
                self.release_rest.wait(30)
        self._chunk(handler, b"data: [DONE]\n\n")
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()
        handler.close_connection = True

    @staticmethod
    def _chunk(handler: BaseHTTPRequestHandler, data: bytes) -> None:
        handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        handler.wfile.flush()
