"""A fake OpenAI-compatible chat-completions server on loopback, as the API documents it:
POST /v1/chat/completions with stream: true answers server-sent events, chunked, each
`data: {"choices": [{"delta": {"content": ...}}]}`, then `data: [DONE]`."""

from __future__ import annotations

import asyncio
import json
from typing import Any


class FakeChatCompletions:
    def __init__(self, chunks: list[str], status: int = 200) -> None:
        self.chunks = chunks
        self.status = status
        self.requests: list[tuple[dict[str, str], Any]] = []
        # Set by the test to let the stream go past its first chunk.
        self.release_rest = asyncio.Event()
        self.release_rest.set()
        self._server: asyncio.Server | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def start(self) -> FakeChatCompletions:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        body = json.loads(await reader.readexactly(int(headers["content-length"])))
        self.requests.append((headers, body))
        if self.status != 200:
            error = json.dumps({"error": {"message": "model overloaded"}}).encode()
            writer.write(
                f"HTTP/1.1 {self.status} Error\r\ncontent-type: application/json\r\n"
                f"content-length: {len(error)}\r\n\r\n".encode()
                + error
            )
        else:
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"transfer-encoding: chunked\r\n\r\n"
            )
            for index, text in enumerate(self.chunks):
                event = {"choices": [{"index": 0, "delta": {"content": text}}]}
                self._chunk(writer, f"data: {json.dumps(event)}\n\n".encode())
                await writer.drain()
                if index == 0:
                    await self.release_rest.wait()
            self._chunk(writer, b"data: [DONE]\n\n")
            writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()

    @staticmethod
    def _chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
