"""The outbound HTTP port for the local runtime: HTTP/1.1 over asyncio streams, keep-alive.

Chosen from measurement over httpx (docs/benchmark.md): the bot makes small JSON POSTs to two
or three hosts, and a pool of idle connections per host with nothing else to manage costs a
fraction of a general client's bookkeeping per request.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from chatstate.http.client import HttpResult, HttpStatusError, ResponseTooLarge

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
MAX_IDLE_PER_HOST = 32


class HttpProtocolError(Exception):
    """The server's answer was not HTTP/1.1 as expected."""


class Http11Client:
    def __init__(self, timeout_s: float = 15.0) -> None:
        self._timeout_s = timeout_s
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._tls = ssl.create_default_context()

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> HttpResult:
        return await self.request("POST", url, body, headers)

    async def request(
        self, method: str, url: str, body: bytes, headers: dict[str, str]
    ) -> HttpResult:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("only absolute http:// and https:// URLs are supported")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        origin = (parts.scheme, parts.hostname, port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = [
            f"{method} {target} HTTP/1.1",
            f"host: {parts.netloc}",
            f"content-length: {len(body)}",
        ]
        head += [f"{name}: {value}" for name, value in headers.items()]
        request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        async with asyncio.timeout(self._timeout_s):
            reused = self._take_idle(origin)
            if reused is not None:
                try:
                    return await self._exchange(origin, reused, request)
                except (ConnectionError, asyncio.IncompleteReadError):
                    pass  # the server closed an idle connection before it saw this request
            return await self._exchange(origin, await self._connect(origin), request)

    async def stream_post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> AsyncIterator[bytes]:
        """The response body piece by piece, on a connection of its own (closed after)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("only absolute http:// and https:// URLs are supported")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = [f"POST {target} HTTP/1.1", f"host: {parts.netloc}", f"content-length: {len(body)}"]
        head += ["connection: close", *(f"{name}: {value}" for name, value in headers.items())]
        async with asyncio.timeout(self._timeout_s):
            reader, writer = await self._connect((parts.scheme, parts.hostname, port))
        try:
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            async with asyncio.timeout(self._timeout_s):
                await writer.drain()
                status, response_headers, _ = await self._read_head(reader)
            if not 200 <= status < 300:
                raise HttpStatusError(status, await self._read_body(reader, response_headers))
            async for piece in self._body_pieces(reader, response_headers):
                yield piece
        finally:
            writer.close()

    async def download(self, url: str, headers: dict[str, str], max_bytes: int) -> bytes:
        """GET a body of at most `max_bytes`, on a connection of its own (closed after)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("only absolute http:// and https:// URLs are supported")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = [f"GET {target} HTTP/1.1", f"host: {parts.netloc}", "connection: close"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        async with asyncio.timeout(self._timeout_s):
            reader, writer = await self._connect((parts.scheme, parts.hostname, port))
        try:
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
            async with asyncio.timeout(self._timeout_s):
                await writer.drain()
                status, response_headers, _ = await self._read_head(reader)
            if status != 200:
                raise HttpStatusError(status, b"")
            declared = response_headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise ResponseTooLarge(f"the body is {declared} bytes, over {max_bytes}")
            pieces = []
            async for piece in self._body_pieces(reader, response_headers, max_bytes):
                pieces.append(piece)
            return b"".join(pieces)
        finally:
            writer.close()

    async def _body_pieces(
        self, reader: asyncio.StreamReader, headers: dict[str, str], limit: int = MAX_RESPONSE_BYTES
    ) -> AsyncIterator[bytes]:
        size = 0
        while True:
            # No overall timeout: a stream may run long; each piece must come within it.
            async with asyncio.timeout(self._timeout_s):
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    length = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    piece = await reader.readexactly(length) if length else b""
                    await reader.readuntil(b"\r\n")
                else:
                    piece = await reader.read(65536)
            if not piece:
                return
            size += len(piece)
            if size > limit:
                raise ResponseTooLarge(f"the body is over {limit} bytes")
            yield piece

    async def _read_head(self, reader: asyncio.StreamReader) -> tuple[int, dict[str, str], str]:
        """(status, lower-cased headers, HTTP version) of a response."""
        status_line = await reader.readuntil(b"\r\n")
        version, _, rest = status_line.decode("latin-1").partition(" ")
        if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
            raise HttpProtocolError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
        headers: dict[str, str] = {}
        while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(rest[:3]), headers, version

    def _take_idle(self, origin: tuple[str, str, int]) -> Connection | None:
        idle = self._idle.get(origin, [])
        while idle:
            reader, writer = idle.pop()
            if not reader.at_eof() and not writer.is_closing():
                return reader, writer
            writer.close()
        return None

    async def _connect(self, origin: tuple[str, str, int]) -> Connection:
        scheme, host, port = origin
        return await asyncio.open_connection(
            host, port, ssl=self._tls if scheme == "https" else None
        )

    async def _exchange(
        self, origin: tuple[str, str, int], connection: Connection, request: bytes
    ) -> HttpResult:
        try:
            return await self._send(origin, connection, request)
        except BaseException:
            # Timed out, cancelled or broken midway: the connection's state is unknown.
            connection[1].close()
            raise

    async def _send(
        self, origin: tuple[str, str, int], connection: Connection, request: bytes
    ) -> HttpResult:
        reader, writer = connection
        writer.write(request)
        await writer.drain()
        status, headers, version = await self._read_head(reader)
        body = await self._read_body(reader, headers)
        if headers.get("connection", "").lower() == "close" or version == "HTTP/1.0":
            writer.close()
        elif len(self._idle.setdefault(origin, [])) < MAX_IDLE_PER_HOST:
            self._idle[origin].append(connection)
        else:
            writer.close()
        return HttpResult(status, body, headers)

    async def _read_body(self, reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            size = 0
            while (length := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)) > 0:
                size += length
                if size > MAX_RESPONSE_BYTES:
                    raise HttpProtocolError("response body is too large")
                chunks.append(await reader.readexactly(length))
                await reader.readexactly(2)
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailers
            return b"".join(chunks)
        length = int(headers.get("content-length", "0"))
        if length > MAX_RESPONSE_BYTES:
            raise HttpProtocolError("response body is too large")
        return await reader.readexactly(length)

    async def close(self) -> None:
        for connections in self._idle.values():
            for _, writer in connections:
                writer.close()
        self._idle.clear()
