"""Conversions between the Workers runtime and the core's plain ports and values.

The only module besides the entry points that touches `workers`. Nothing here decides
behaviour: it adapts storage, alarms, fetch, requests and env to what the core expects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import js
import workers
from pyodide.ffi import create_proxy, to_js

from chatstate.config import CONFIG_KEYS, BotConfig
from chatstate.http.client import HttpResult, HttpStatusError, ResponseTooLarge
from chatstate.http.messages import MAX_BODY_BYTES, HttpRequest, HttpResponse
from chatstate.logs import configure_logging
from chatstate.ports import Row, SqlValue
from chatstate.state.backends.kv import KvError, KvPage, KvRateLimitedError
from chatstate.state.backends.kv.client import LIST_PAGE_LIMIT

T = TypeVar("T")
LIVE_SOCKET_TAG = "live"


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def keep_alive_until_done(ctx: Any, task: asyncio.Task[Any]) -> None:
    """Keep a Durable Object alive until an already scheduled task finishes.

    A Durable Object's ctx.waitUntil is not patched for Python: a bare coroutine passed to it
    never runs, and a task passed directly becomes a borrowed proxy destroyed when this call
    returns. A proxy we own, destroyed when the task is done, is what workerd runs cleanly.
    """
    proxy = create_proxy(task)
    ctx.waitUntil(proxy)
    task.add_done_callback(lambda _: proxy.destroy())


def _bindable(value: SqlValue) -> SqlValue:
    # Durable Object SQL would bind a bool as the TEXT 'true' / 'false'.
    return int(value) if isinstance(value, bool) else value


class DurableObjectSql:
    """The core's SQL port over `ctx.storage.sql` and `transactionSync`."""

    def __init__(self, storage: Any) -> None:
        self._storage = storage
        # Rows written by this port's statements (Cloudflare bills them), for CountingSql.
        self.rows_written = 0

    def exec(self, sql: str, *params: SqlValue) -> list[Row]:
        # Read the cursor at once: holding it across an await has no snapshot isolation.
        # Numbers bind as REAL and come back as int when whole (tests/conformance checks this
        # on workerd); an int of 2**53 - 1 or more cannot bind, and the core binds none.
        cursor = self._storage.sql.exec(sql, *(_bindable(p) for p in params))
        rows: list[Row] = [dict(row) for row in cursor.toArray()]
        self.rows_written += int(cursor.rowsWritten)
        return rows

    def transaction(self, fn: Callable[[], T]) -> T:
        result: T = self._storage.transactionSync(fn)
        return result


class CountingSql:
    """A SQL port that counts its statements, and records calls and statements per object in
    `chatstate_counts` (tests and benchmarks: CHAT_COUNT_CALLS=1)."""

    def __init__(self, sql: DurableObjectSql) -> None:
        self._sql = sql
        self.statements = 0
        self._alarm_writes = 0
        sql.exec(
            "CREATE TABLE IF NOT EXISTS chatstate_counts "
            "(what TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID"
        )
        sql.rows_written = 0

    def exec(self, sql: str, *params: SqlValue) -> list[Row]:
        self.statements += 1
        return self._sql.exec(sql, *params)

    def transaction(self, fn: Callable[[], T]) -> T:
        return self._sql.transaction(fn)

    def count_alarm_write(self) -> None:
        self._alarm_writes += 1

    def record(self, what: str) -> None:
        """One more call of `what`, and the statements, rows written and alarm writes
        (setAlarm, deleteAlarm) since the last record."""
        written = self._sql.rows_written
        for name, n in (
            (what, 1),
            ("statements", self.statements),
            ("rows_written", written),
            ("alarm_writes", self._alarm_writes),
        ):
            self._sql.exec(
                "INSERT INTO chatstate_counts (what, n) VALUES (?, ?) "
                "ON CONFLICT (what) DO UPDATE SET n = n + excluded.n",
                name,
                n,
            )
        self.statements = 0
        self._alarm_writes = 0
        self._sql.rows_written = 0  # the counts' own rows are not the object's work


class DurableObjectAlarm:
    """The core's alarm port over the object's single alarm."""

    def __init__(self, storage: Any) -> None:
        self._storage = storage

    async def set(self, at_ms: int) -> None:
        await self._storage.setAlarm(at_ms)

    async def get(self) -> int | None:
        at = await self._storage.getAlarm()
        return None if at is None else int(at)

    async def delete(self) -> None:
        await self._storage.deleteAlarm()


class WorkersHttpClient:
    """The outbound HTTP port over the runtime's fetch."""

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> HttpResult:
        return await self.request("POST", url, body, headers)

    async def request(
        self, method: str, url: str, body: bytes, headers: dict[str, str]
    ) -> HttpResult:
        sent = body if body or method in ("POST", "PUT", "PATCH") else None
        response = await workers.fetch(url, method=method, headers=headers, body=sent)
        retry_after = response.headers.get("retry-after")
        return HttpResult(
            int(response.status),
            bytes(await response.bytes()),
            {"retry-after": str(retry_after)} if retry_after else {},
        )

    async def download(self, url: str, headers: dict[str, str], max_bytes: int) -> bytes:
        return await _download(url, headers, max_bytes)

    async def stream_post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> AsyncIterator[bytes]:
        response = await workers.fetch(url, method="POST", headers=headers, body=body)
        status = int(response.status)
        if not 200 <= status < 300:
            raise HttpStatusError(status, bytes(await response.bytes()))
        async for piece in stream_pieces(response.body):
            yield piece


async def _download(url: str, headers: dict[str, str], max_bytes: int) -> bytes:
    response = await workers.fetch(url, method="GET", headers=headers)
    if int(response.status) != 200:
        raise HttpStatusError(int(response.status), b"")
    declared = response.headers.get("content-length") or ""
    if str(declared).isdigit() and int(declared) > max_bytes:
        raise ResponseTooLarge(f"the body is {declared} bytes, over {max_bytes}")
    try:
        return await _read_limited(response.body, max_bytes)
    except BodyTooLarge:
        raise ResponseTooLarge(f"the body is over {max_bytes} bytes") from None


async def stream_pieces(stream: Any) -> AsyncIterator[bytes]:
    """A JS ReadableStream's chunks as bytes (nothing for no stream)."""
    if stream is None:
        return
    reader = stream.getReader()
    while True:
        chunk = await reader.read()
        if chunk.done:
            return
        yield bytes(chunk.value.to_bytes())


class WorkersKvClient:
    """The KV backend's client over a Workers KV binding (`env.CHAT_KV`)."""

    def __init__(self, binding: Any) -> None:
        self._kv = binding

    async def get(self, key: str) -> str | None:
        value = await self._call(lambda: self._kv.get(key), "get", key)
        return None if value is None else str(value)

    async def put(self, key: str, value: str, expiration_ttl_s: int | None) -> None:
        options = {} if expiration_ttl_s is None else {"expirationTtl": expiration_ttl_s}
        await self._call(lambda: self._kv.put(key, value, options), "put", key)

    async def delete(self, key: str) -> None:
        await self._call(lambda: self._kv.delete(key), "delete", key)

    async def list_keys(self, prefix: str, cursor: str | None) -> KvPage:
        options: dict[str, Any] = {"prefix": prefix, "limit": LIST_PAGE_LIMIT}
        if cursor:
            options["cursor"] = cursor
        page = await self._call(lambda: self._kv.list(options), "list", prefix)
        names = [str(item["name"]) for item in page["keys"]]
        return KvPage(names, None if page["list_complete"] else str(page["cursor"]))

    @staticmethod
    async def _call(call: Callable[[], Any], action: str, key: str) -> Any:
        try:
            return await call()
        except Exception as error:  # a JsException: the binding's errors carry no type
            if "429" in str(error):
                raise KvRateLimitedError(f"KV {action} {key!r}: 429 Too Many Requests") from None
            raise KvError(f"KV {action} {key!r} failed: {error}") from None


def env_values(env: Any) -> dict[str, str]:
    """Worker vars and secrets as the mapping the configuration reads."""
    values = {}
    for key in CONFIG_KEYS:
        value = getattr(env, key, None)
        if value is not None:
            values[key] = str(value)
    return values


_configs: dict[frozenset[tuple[str, str]], BotConfig] = {}


def bot_config(env: Any) -> BotConfig:
    """The configuration, parsed once per isolate (and again only if vars or secrets change).

    The first parse also sets up logging: stdout reaches `wrangler dev` and `wrangler tail`."""
    values = env_values(env)
    key = frozenset(values.items())
    config = _configs.get(key)
    if config is None:
        config = BotConfig.from_env(values)
        # Workers logs carry their own timestamps.
        configure_logging(
            config.log_level, config.secrets, sys.stdout, "%(levelname)s %(name)s: %(message)s"
        )
        _configs.clear()
        _configs[key] = config
    return config


class BodyTooLarge(Exception):
    pass


async def read_request(request: Any) -> HttpRequest:
    """A plain HttpRequest; the body is read once (a second read fails on Workers)."""
    declared = request.headers.get("content-length") or ""
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge
    body = b""
    if request.method in ("POST", "PUT", "PATCH"):
        body = await _read_limited(request.body, MAX_BODY_BYTES)
    headers = {name.lower(): value for name, value in request.headers.items()}
    url = urlsplit(str(request.url))
    return HttpRequest(str(request.method), url.path, headers, body, url.query, url.scheme)


async def _read_limited(stream: Any, limit: int) -> bytes:
    """Read a JS ReadableStream, refusing it as soon as it passes `limit` bytes: a chunked
    body has no Content-Length to refuse it by, and must not be buffered whole first."""
    if stream is None:
        return b""
    reader = stream.getReader()
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await reader.read()
        if chunk.done:
            return b"".join(chunks)
        data = bytes(chunk.value.to_bytes())
        size += len(data)
        if size > limit:
            await reader.cancel()
            raise BodyTooLarge
        chunks.append(data)


def to_response(response: HttpResponse) -> Any:
    return workers.Response(response.body, status=response.status, headers=response.headers)


def request_to_wire(request: HttpRequest) -> dict[str, Any]:
    """A request as plain values for RPC (bytes cross as a Uint8Array)."""
    return {
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "headers": dict(request.headers),
        "body": request.body,
        "scheme": request.scheme,
    }


def request_from_wire(wire: Any) -> HttpRequest:
    return HttpRequest(
        str(wire["method"]),
        str(wire["path"]),
        {str(k): str(v) for k, v in dict(wire["headers"]).items()},
        bytes(wire["body"]),
        str(wire["query"]),
        str(wire["scheme"]),
    )


def response_to_wire(response: HttpResponse) -> dict[str, Any]:
    return {"status": response.status, "headers": response.headers, "body": response.body}


def response_from_wire(wire: Any) -> HttpResponse:
    return HttpResponse(
        int(wire["status"]),
        bytes(wire["body"]),
        {str(k): str(v) for k, v in dict(wire["headers"]).items()},
    )


class AcceptedSocket:
    """The server end of a hibernatable WebSocket, and the 101 response that hands the client
    end to the caller."""

    def __init__(self, client: Any, server: Any) -> None:
        self.client = client
        self.server = server

    def response(self) -> Any:
        return workers.Response(None, status=101, web_socket=self.client)


def accept_socket(ctx: Any) -> AcceptedSocket:
    """A WebSocket pair whose server end the object accepts with the Hibernation API.

    Found on workerd: a WebSocketPair is not subscriptable from Python (Object.values gives
    its two ends), and acceptWebSocket's tags must be a JS Array (to_js), not a list."""
    client, server = js.Object.values(js.WebSocketPair.new())
    ctx.acceptWebSocket(server, to_js([LIVE_SOCKET_TAG]))
    return AcceptedSocket(client, server)


def send_to_sockets(ctx: Any, broadcast: list[tuple[str, dict[str, Any]]]) -> None:
    """Committed events to the object's live sockets (one agent per object)."""
    sockets = list(ctx.getWebSockets(LIVE_SOCKET_TAG))
    for _agent, event in broadcast:
        text = json.dumps(event)
        for socket in sockets:
            try:
                socket.send(text)
            except Exception:  # a socket closing meanwhile; its close handler tidies up
                continue


def close_socket(socket: Any, code: int) -> None:
    # 1005 and 1006 are reported, never sent; answer a close without a code with a normal one.
    with contextlib.suppress(Exception):
        socket.close(1000 if code in (1005, 1006) else code, "closing")
