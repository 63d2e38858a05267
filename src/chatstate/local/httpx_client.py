"""The outbound HTTP port over httpx, for the local runtime."""

from __future__ import annotations

import httpx

from ..http_client import HttpResult


class HttpxClient:
    def __init__(self, timeout_s: float = 15.0) -> None:
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> HttpResult:
        response = await self._client.post(url, content=body, headers=headers)
        return HttpResult(response.status_code, response.content, dict(response.headers))

    async def close(self) -> None:
        await self._client.aclose()
