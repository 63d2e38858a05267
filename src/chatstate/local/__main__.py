"""Start the local runtime: `python -m chatstate.local` (configuration from the environment)."""

from __future__ import annotations

import os

import uvicorn

from ..http import HttpRequest, HttpResponse
from .asgi import asgi_app


async def handle(request: HttpRequest) -> HttpResponse:
    if request.path != "/health":
        return HttpResponse.text(404, f"no route for {request.path}\n")
    if request.method != "GET":
        return HttpResponse.text(405, "use GET\n", allow="GET")
    return HttpResponse.json(200, {"ok": True})


def main() -> None:
    uvicorn.run(
        asgi_app(handle),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8787")),
        log_level="info",
    )


if __name__ == "__main__":
    main()
