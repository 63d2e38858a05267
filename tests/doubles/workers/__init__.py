"""A test double of the Python Workers runtime (the `workers` module) for CPython.

It enforces the documented platform rules (../shared/docs/python-workers-platform.md) so that
code which would fail on Cloudflare fails here too:

- RPC (`stub.method(...)`): keyword arguments arrive as one trailing dict; tuples, bytearrays,
  awaitables and class instances are refused with TypeError, even nested; dicts and lists are
  copied across; a float with no fraction arrives as an int, an int of any size exactly;
  bytes arrive as memoryview; an exception raised in the callee arrives as a JsException
  whose message starts with "PythonError", its type lost.

tests/test_workers_conformance.py checks these rules against workerd itself.
- SQL (`ctx.storage.sql.exec`): numbers bind as REAL, a bool as the TEXT 'true' / 'false',
  an int of 2**53 - 1 or more fails; at most 100 bound parameters; BEGIN, COMMIT, ROLLBACK and
  SAVEPOINT are refused; a number without a fraction comes back as an int (REAL columns too),
  a BLOB as a memoryview; a statement runs at exec(), whether or not its cursor is read.
- `transactionSync(fn)`: fn must be synchronous; everything it wrote is rolled back if it raises.
- One alarm per object: setAlarm replaces it.
- A request body can be read once.

`Runtime` is not part of the real module: it plays workerd, creating objects by name, holding
their storage, firing alarms and awaiting waitUntil work.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from pyodide.ffi import DESTROYED, JsArray, PyProxy

MAX_BOUND_PARAMETERS = 100
_TRANSACTION_STATEMENT = re.compile(r"^\s*(BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE)\b", re.I)


class JsException(Exception):
    """What a Python exception raised across RPC becomes: a message, no type."""


def to_rpc(value: Any, path: str = "argument") -> Any:
    """A value as the receiving side of an RPC call sees it."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value  # beyond 2**53 it travels as a BigInt and comes back an exact int
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, (tuple, bytearray)) or inspect.isawaitable(value):
        raise TypeError(f"{path}: {type(value).__name__} is not supported by RPC conversion")
    if isinstance(value, (bytes, memoryview)):
        return memoryview(bytes(value))
    if isinstance(value, list):
        return [to_rpc(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): to_rpc(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, (Request, Response)):
        return value  # crosses as the JS object itself (a stub's fetch takes a Request)
    raise TypeError(f"{path}: DataCloneError: {type(value).__name__} could not be cloned")


class Headers:
    """Case-insensitive header access, like the SDK's headers mapping."""

    def __init__(self, headers: dict[str, str] | None = None) -> None:
        self._headers = {k.lower(): v for k, v in (headers or {}).items()}

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._headers.get(name.lower(), default)

    def items(self) -> Iterator[tuple[str, str]]:
        return iter(self._headers.items())


class Uint8Array:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def to_bytes(self) -> bytes:
        return self._data


class ReadResult:
    def __init__(self, value: Uint8Array | None) -> None:
        self.done = value is None
        self.value = value


class ReadableStream:
    """A request body as JavaScript streams it: chunk by chunk, to one reader."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks
        self.chunks_read = 0
        self.cancelled = False
        self.locked = False

    def getReader(self) -> ReadableStream:
        if self.locked:
            raise JsException("TypeError: This ReadableStream is currently locked to a reader.")
        self.locked = True
        return self

    async def read(self) -> ReadResult:
        if self.cancelled or self.chunks_read == len(self._chunks):
            return ReadResult(None)
        self.chunks_read += 1
        return ReadResult(Uint8Array(self._chunks[self.chunks_read - 1]))

    async def cancel(self) -> None:
        self.cancelled = True


class Request:
    """An incoming request. A list of chunks as body streams it as a chunked upload would."""

    def __init__(
        self,
        url: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        body: bytes | list[bytes] = b"",
    ) -> None:
        self.url = url
        self.method = method
        self.headers = Headers(headers)
        chunks = body if isinstance(body, list) else [body] if body else []
        # workerd gives a request without a body a null stream.
        self.body: ReadableStream | None = ReadableStream(chunks) if chunks else None

    async def bytes(self) -> bytes:
        if self.body is None:
            return b""
        if self.body.locked:
            raise OSError("Body already used")
        reader = self.body.getReader()
        data = b""
        while not (chunk := await reader.read()).done:
            assert chunk.value is not None
            data += chunk.value.to_bytes()
        return data

    async def text(self) -> str:
        return (await self.bytes()).decode()


class Response:
    def __init__(
        self,
        body: str | bytes | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
        web_socket: Any = None,
    ) -> None:
        self.body = body.encode() if isinstance(body, str) else (body or b"")
        self.status = status
        self.headers = Headers(headers)
        self.web_socket = web_socket

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        return cls(json.dumps(data), status, {"content-type": "application/json"})

    async def bytes(self) -> memoryview:
        return memoryview(self.body)

    async def text(self) -> str:
        return self.body.decode()


FetchHandler = Callable[[str, str, dict[str, str], bytes], Awaitable[Response]]
_fetch_handler: FetchHandler | None = None


def route_fetch(handler: FetchHandler | None) -> None:
    """Where `fetch` goes (tests only): the stand-in for the internet."""
    global _fetch_handler
    _fetch_handler = handler


async def fetch(
    url: str, method: str = "GET", headers: dict[str, str] | None = None, body: bytes | None = None
) -> Response:
    if _fetch_handler is None:
        raise JsException("TypeError: fetch failed: no network in the test double")
    return await _fetch_handler(url, method, dict(headers or {}), bytes(body or b""))


class Cursor:
    def __init__(self, rows: list[dict[str, Any]], written: int) -> None:
        self._rows = rows
        self.rowsWritten = written
        self.rowsRead = len(rows)

    def toArray(self) -> list[dict[str, Any]]:
        return self._rows

    def one(self) -> dict[str, Any]:
        rows = self._rows
        if len(rows) != 1:
            raise JsException(
                f"Error: Expected exactly one result from SQL query, but got {len(rows)}."
            )
        return rows[0]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._rows)


# Pyodide hands an int this large or larger to JavaScript as a BigInt, which SQL cannot bind.
FIRST_BIGINT = 2**53 - 1


def _sql_binding(value: Any) -> Any:
    """What workerd binds: every number is a double (REAL), a bool is coerced to the TEXT
    'true' / 'false', bytes are a BLOB, a large int fails."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if abs(value) >= FIRST_BIGINT:
            raise JsException("TypeError: Cannot convert a BigInt value to a number")
        return float(value)
    if isinstance(value, memoryview):
        return bytes(value)
    if value is None or isinstance(value, (str, float, bytes)):
        return value
    raise JsException(f"TypeError: cannot bind {type(value).__name__}")


def _sql_result(value: Any) -> Any:
    # A JavaScript number without a fraction reaches Python as an int, REAL columns included.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bytes):
        return memoryview(value)
    return value


class SqlStorage:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.rows_written = 0

    def exec(self, query: str, *bindings: Any) -> Cursor:
        if _TRANSACTION_STATEMENT.match(query):
            raise JsException(
                "Error: To execute a transaction, please use the state.storage.transaction() API instead of SQL statements."
            )
        if len(bindings) > MAX_BOUND_PARAMETERS:
            raise JsException(
                f"Error: too many SQL variables ({len(bindings)} > {MAX_BOUND_PARAMETERS})"
            )
        bound = [_sql_binding(value) for value in bindings]
        before = self._conn.total_changes
        try:
            raw = self._conn.execute(query, bound).fetchall()
        except sqlite3.Error as error:
            raise JsException(f"Error: {error}: SQLITE_ERROR") from None
        rows = [{k: _sql_result(v) for k, v in dict(r).items()} for r in raw]
        written = self._conn.total_changes - before
        self.rows_written += written
        return Cursor(rows, written)


class Storage:
    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(str(path), isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self.sql = SqlStorage(self._conn)
        self._alarm: float | None = None
        self._depth = 0
        # Set by a Runtime with timed alarms: fires the object's alarm when it is due.
        self.on_due: Callable[[], None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    def transactionSync(self, fn: Callable[[], Any]) -> Any:
        if inspect.iscoroutinefunction(fn):
            raise TypeError("transactionSync() needs a synchronous function")
        name = f"t{self._depth}"
        self._conn.execute(f"SAVEPOINT {name}")
        self._depth += 1
        try:
            result = fn()
            if inspect.isawaitable(result):
                raise TypeError("transactionSync() callback returned an awaitable")
        except BaseException:
            self._conn.execute(f"ROLLBACK TO {name}")
            self._conn.execute(f"RELEASE {name}")
            raise
        finally:
            self._depth -= 1
        self._conn.execute(f"RELEASE {name}")
        return result

    async def setAlarm(self, scheduled_time: float) -> None:
        if isinstance(scheduled_time, bool) or not isinstance(scheduled_time, (int, float)):
            raise TypeError("setAlarm() takes epoch milliseconds")
        self._alarm = float(scheduled_time)
        if self.on_due is not None:
            self._cancel_timer()
            delay_s = max(0.0, (self._alarm - time.time() * 1000) / 1000)
            self._timer = asyncio.get_running_loop().call_later(delay_s, self.on_due)

    async def getAlarm(self) -> int | float | None:
        return _sql_result(self._alarm)

    async def deleteAlarm(self) -> None:
        self._alarm = None
        self._cancel_timer()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class DurableObject:
    def __init__(self, ctx: Any, env: Any) -> None:
        self.ctx = ctx
        self.env = env


class WorkerEntrypoint:
    def __init__(self, ctx: Any, env: Any) -> None:
        self.ctx = ctx
        self.env = env


class ExecutionContext:
    """A WorkerEntrypoint's ctx: the SDK patches waitUntil to take coroutines and futures."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def waitUntil(self, work: Any) -> None:
        if isinstance(work, PyProxy):
            work = work.unwrap()
        self._runtime._background(asyncio.ensure_future(work))


class DurableObjectState:
    """A Durable Object's ctx. Its waitUntil is not patched for Python (checked on workerd):

    - a bare coroutine is never run (workerd logs "coroutine ... was never awaited");
    - a task or future runs, but the borrowed proxy JavaScript got is destroyed when the call
      returns, and workerd reports an uncaught error;
    - a proxy from create_proxy keeps the task reachable until the proxy is destroyed.
    """

    def __init__(
        self, runtime: Runtime, name: str, storage: Storage, sockets: list[tuple[Any, list[str]]]
    ) -> None:
        self._runtime = runtime
        self.storage = storage
        self.name = name
        # Accepted with the Hibernation API: they outlive the object, so the namespace keeps them.
        self._sockets = sockets

    def acceptWebSocket(self, socket: Any, tags: Any = None) -> None:
        # workerd: "parameter 2 is not of type 'Array'" for a Python list (it needs to_js).
        if tags is not None and not isinstance(tags, JsArray):
            raise JsException("TypeError: parameter 2 is not of type 'Array'.")
        self._sockets.append((socket, list(tags or [])))

    def getWebSockets(self, tag: str | None = None) -> list[Any]:
        return [s for s, tags in self._sockets if not s.closed and (tag is None or tag in tags)]

    def waitUntil(self, work: Any) -> None:
        if isinstance(work, PyProxy):
            self._runtime._background(work.unwrap())
        elif inspect.iscoroutine(work):
            self._runtime.dropped.append(work.__qualname__)
            work.close()
        elif isinstance(work, asyncio.Future):
            self._runtime._background(work)
            self._runtime.uncaught.append(DESTROYED)
        else:
            raise TypeError(f"waitUntil() takes a promise, not {type(work).__name__}")


class Stub:
    """An RPC stub: every call crosses the conversion boundary both ways."""

    def __init__(self, namespace: Namespace, name: str) -> None:
        self._namespace = namespace
        self.name = name

    def __getattr__(self, method: str) -> Callable[..., Awaitable[Any]]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            # Pyodide turns keyword arguments into one trailing object argument.
            arguments = [*args, kwargs] if kwargs else list(args)
            sent = [to_rpc(a, f"{method} argument {i}") for i, a in enumerate(arguments)]
            instance = self._namespace._instance(self.name)
            target = getattr(instance, method, None)
            if method.startswith("_") or not inspect.isfunction(
                getattr(type(instance), method, None)
            ):
                raise JsException(
                    f'TypeError: The RPC receiver does not implement the method "{method}".'
                )
            self._namespace.calls.append((self.name, method))
            try:
                result = await target(*sent)  # type: ignore[misc]
            except Exception as error:
                raise JsException(
                    f"PythonError: Traceback (most recent call last): {type(error).__name__}: {error}"
                ) from None
            return to_rpc(result, f"{method} result")

        return call


class Namespace:
    def __init__(self, runtime: Runtime, cls: type, binding: str) -> None:
        self._runtime = runtime
        self._cls = cls
        self._binding = binding
        self._instances: dict[str, Any] = {}
        self._storages: dict[str, Storage] = {}
        self._sockets: dict[str, list[tuple[Any, list[str]]]] = {}
        self.calls: list[tuple[str, str]] = []

    def getByName(self, name: str) -> Stub:
        return Stub(self, name)

    def _instance(self, name: str) -> Any:
        if name not in self._instances:
            if name not in self._storages:
                index = len(self._storages)
                storage = Storage(self._runtime.directory / f"{self._binding}-{index}.sqlite3")
                if self._runtime.timed_alarms:
                    storage.on_due = lambda: self._runtime._background(
                        asyncio.ensure_future(self._fire(name))
                    )
                self._storages[name] = storage
            sockets = self._sockets.setdefault(name, [])
            ctx = DurableObjectState(self._runtime, name, self._storages[name], sockets)
            self._instances[name] = self._cls(ctx, self._runtime.env)
        return self._instances[name]

    def evict(self, name: str) -> None:
        """Forget the object's memory; its storage stays (as after hibernation or a deploy)."""
        self._instances.pop(name, None)

    def accepted_sockets(self, name: str) -> list[Any]:
        """The WebSockets the object accepted with the Hibernation API, open or closed."""
        return [socket for socket, _ in self._sockets.get(name, [])]

    def storage(self, name: str) -> Storage:
        self._instance(name)
        return self._storages[name]

    async def fire_due_alarms(self, now_ms: float) -> int:
        fired = 0
        for name, storage in list(self._storages.items()):
            if storage._alarm is not None and storage._alarm <= now_ms:
                await self._fire(name)
                fired += 1
        return fired

    async def _fire(self, name: str) -> None:
        self._storages[name]._alarm = None
        await self._instance(name).alarm(AlarmInfo(retryCount=0, isRetry=False))


class AlarmInfo:
    """What workerd passes to alarm(): a JS object with retryCount and isRetry."""

    def __init__(self, retryCount: int, isRetry: bool) -> None:
        self.retryCount = retryCount
        self.isRetry = isRetry


class Env:
    """Bindings as attributes; vars and secrets are plain str, as the SDK presents them."""


class Runtime:
    def __init__(
        self,
        directory: Path,
        vars: dict[str, str],
        namespaces: dict[str, type],
        *,
        timed_alarms: bool = False,
    ) -> None:
        """With timed_alarms, alarms fire by the wall clock as on workerd; without, only
        when a test calls fire_due_alarms (tests that run on a fake clock)."""
        self.directory = directory
        self.timed_alarms = timed_alarms
        directory.mkdir(parents=True, exist_ok=True)
        self.env = Env()
        self.namespaces = {
            binding: Namespace(self, cls, binding) for binding, cls in namespaces.items()
        }
        for key, value in vars.items():
            setattr(self.env, key, value)
        for binding, namespace in self.namespaces.items():
            setattr(self.env, binding, namespace)
        self._tasks: set[asyncio.Future[Any]] = set()
        # What workerd would have logged: coroutines waitUntil never ran, uncaught JS errors.
        self.dropped: list[str] = []
        self.uncaught: list[str] = []

    def entrypoint(self, cls: type) -> Any:
        return cls(ExecutionContext(self), self.env)

    def _background(self, task: asyncio.Future[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Wait for every waitUntil task (and the tasks they start) to finish."""
        while self._tasks:
            results = await asyncio.gather(*list(self._tasks), return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
