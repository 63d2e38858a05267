"""A KV client over the Cloudflare API's Workers KV endpoints, for the local runtime and scripts.

The API token goes in the Authorization header only; no message or log line carries it.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

from chatstate.http.client import HttpRequester, HttpResult
from chatstate.state.backends.kv.client import LIST_PAGE_LIMIT, KvError, KvPage, KvRateLimitedError

CLOUDFLARE_API_BASE = "https://api.cloudflare.com/client/v4"


class KvRestClient:
    def __init__(
        self,
        http: HttpRequester,
        *,
        account_id: str,
        namespace_id: str,
        api_token: str,
        api_base: str = CLOUDFLARE_API_BASE,
    ) -> None:
        for name, given in (("account_id", account_id), ("namespace_id", namespace_id)):
            if not given or "/" in given:
                raise ValueError(f"{name} must be a non-empty id without '/'")
        self._http = http
        self._base = (
            f"{api_base.rstrip('/')}/accounts/{account_id}/storage/kv/namespaces/{namespace_id}"
        )
        self._auth = {"authorization": f"Bearer {api_token}"}

    async def get(self, key: str) -> str | None:
        result = await self._call("GET", self._value_url(key))
        if result.status == 404:
            return None
        self._check(result, "GET", key)
        return result.body.decode()

    async def put(self, key: str, value: str, expiration_ttl_s: int | None) -> None:
        url = self._value_url(key)
        if expiration_ttl_s is not None:
            url += "?" + urlencode({"expiration_ttl": expiration_ttl_s})
        result = await self._call("PUT", url, value.encode(), {"content-type": "text/plain"})
        self._check(result, "PUT", key)

    async def delete(self, key: str) -> None:
        result = await self._call("DELETE", self._value_url(key))
        if result.status != 404:
            self._check(result, "DELETE", key)

    async def list_keys(self, prefix: str, cursor: str | None) -> KvPage:
        query: dict[str, Any] = {"prefix": prefix, "limit": LIST_PAGE_LIMIT}
        if cursor:
            query["cursor"] = cursor
        result = await self._call("GET", f"{self._base}/keys?{urlencode(query)}")
        self._check(result, "list", prefix)
        try:
            reply = json.loads(result.body)
            names = [str(item["name"]) for item in reply["result"]]
            next_cursor = (reply.get("result_info") or {}).get("cursor") or None
        except (ValueError, KeyError, TypeError) as error:
            raise KvError(f"KV list answered something other than a key list: {error}") from None
        return KvPage(names, next_cursor)

    def _value_url(self, key: str) -> str:
        # Keys may hold ':' and '/'; the API takes the name URL-encoded.
        return f"{self._base}/values/{quote(key, safe='')}"

    async def _call(
        self, method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> HttpResult:
        try:
            return await self._http.request(method, url, body, {**self._auth, **(headers or {})})
        except OSError as error:
            raise KvError(f"KV {method} could not reach the Cloudflare API: {error}") from None

    @staticmethod
    def _check(result: HttpResult, action: str, key: str) -> None:
        if result.status == 429:
            raise KvRateLimitedError(f"KV {action} {key!r}: HTTP 429, written less than 1 s ago")
        if not 200 <= result.status < 300:
            raise KvError(f"KV {action} {key!r}: HTTP {result.status}: {_api_errors(result)}")


def _api_errors(result: HttpResult) -> str:
    try:
        errors = json.loads(result.body).get("errors") or []
        return "; ".join(f"{e.get('code')} {e.get('message')}" for e in errors) or "no detail"
    except (ValueError, AttributeError):
        return result.body[:200].decode(errors="replace")
