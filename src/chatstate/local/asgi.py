"""An ASGI application around a runtime-neutral HTTP handler, for uvicorn."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from chatstate.http.messages import MAX_BODY_BYTES, HttpRequest, HttpResponse

logger = logging.getLogger("chatstate.local")
Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class BodyTooLarge(Exception):
    pass


async def read_body(receive: Receive, limit: int) -> bytes:
    """The request body, refusing to buffer more than limit bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


Hook = Callable[[], Awaitable[None]]
WebSocketHandler = Callable[[Scope, Receive, Send], Awaitable[None]]


async def _lifespan(
    receive: Receive, send: Send, on_startup: Hook | None, on_shutdown: Hook | None
) -> None:
    """Start, or report why starting failed (with its traceback) so the server stops instead
    of serving half started; then wait for shutdown."""
    await receive()  # lifespan.startup
    if on_startup is not None:
        try:
            await on_startup()
        except Exception as error:
            logger.exception("startup failed")
            await send(
                {"type": "lifespan.startup.failed", "message": f"{type(error).__name__}: {error}"}
            )
            return
    await send({"type": "lifespan.startup.complete"})
    while (await receive())["type"] != "lifespan.shutdown":
        continue
    if on_shutdown is not None:
        await on_shutdown()
    await send({"type": "lifespan.shutdown.complete"})


def asgi_app(
    handler: Handler,
    *,
    on_startup: Hook | None = None,
    on_shutdown: Hook | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    websocket: WebSocketHandler | None = None,
) -> Callable[..., Any]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, on_startup, on_shutdown)
            return
        if scope["type"] == "websocket":
            if websocket is None:
                await send({"type": "websocket.close", "code": 1008})
            else:
                await websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length", "")
        try:
            if declared.isdigit() and int(declared) > max_body_bytes:
                raise BodyTooLarge
            body = await read_body(receive, max_body_bytes)
        except BodyTooLarge:
            response = HttpResponse.text(
                413, f"request body is larger than {max_body_bytes} bytes\n"
            )
        else:
            query = scope.get("query_string", b"").decode("latin-1")
            response = await handler(
                HttpRequest(
                    scope["method"],
                    scope["path"],
                    headers,
                    body,
                    query,
                    scope.get("scheme", "http"),
                )
            )
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [(k.encode(), v.encode()) for k, v in response.headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": response.body})

    return app
