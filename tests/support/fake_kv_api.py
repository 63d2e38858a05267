"""The Cloudflare API's Workers KV endpoints on loopback, over a KV namespace double.

Answers as the documented API does: `GET/PUT/DELETE .../values/<url-encoded key>` (a missing key
is a 404 with an error envelope; `expiration_ttl` is a query parameter), `GET .../keys?prefix=
&cursor=&limit=` with `{"result": [{"name": ...}], "result_info": {"cursor": ...}}`, a Bearer
token on every call (403 without it), 429 for a second write to a key within a second.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from chatstate.state.backends.kv.client import KvError, KvRateLimitedError
from support.kv_double import KvNamespaceDouble

ACCOUNT_ID = "0123456789abcdef0123456789abcdef"
NAMESPACE_ID = "fedcba9876543210fedcba9876543210"
API_TOKEN = "kv-api-token-never-logged-9f8e7d"


class FakeKvApi:
    def __init__(self, namespace: KvNamespaceDouble | None = None) -> None:
        self.namespace = namespace or KvNamespaceDouble(
            lambda: time.time_ns() // 1_000_000, interleave=False
        )
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/client/v4"

    def start(self) -> FakeKvApi:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self
        prefix = f"/client/v4/accounts/{ACCOUNT_ID}/storage/kv/namespaces/{NAMESPACE_ID}/"

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def _reply(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _envelope(self, status: int, result: Any = None, **extra: Any) -> None:
                errors = [] if status < 400 else [{"code": 10000 + status, "message": result}]
                body = {"success": status < 400, "errors": errors, "messages": [], **extra}
                if status < 400:
                    body["result"] = result
                self._reply(status, json.dumps(body).encode(), "application/json")

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                url = urlsplit(self.path)
                fake.requests.append((method, self.path, dict(self.headers.items())))
                if self.headers.get("authorization") != f"Bearer {API_TOKEN}":
                    self._envelope(403, "Authentication error")
                    return
                if not url.path.startswith(prefix):
                    self._envelope(404, "Could not route to this path")
                    return
                resource = url.path[len(prefix) :]
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                try:
                    if resource == "keys" and method == "GET":
                        page = fake.namespace.list_names(
                            "api", query.get("prefix", ""), query.get("cursor") or None
                        )
                        names = [{"name": name} for name in page.names]
                        info = {"count": len(names), "cursor": page.cursor or ""}
                        self._envelope(200, names, result_info=info)
                    elif resource.startswith("values/"):
                        self._value(method, unquote(resource[len("values/") :]), query, body)
                    else:
                        self._envelope(404, "Could not route to this path")
                except KvRateLimitedError as error:
                    self._envelope(429, str(error))
                except KvError as error:
                    self._envelope(int(str(error)[:3]), str(error))

            def _value(self, method: str, key: str, query: dict[str, str], body: bytes) -> None:
                if method == "GET":
                    value = fake.namespace.read("api", key)
                    if value is None:
                        self._envelope(404, "key not found")
                    else:
                        self._reply(200, value.encode(), "application/octet-stream")
                elif method == "PUT":
                    ttl = query.get("expiration_ttl")
                    fake.namespace.write(
                        "api", key, body.decode(), None if ttl is None else int(ttl)
                    )
                    self._envelope(200, {})
                elif method == "DELETE":
                    fake.namespace.write("api", key, None, None)
                    self._envelope(200, {})

            def do_GET(self) -> None:
                self._serve("GET")

            def do_PUT(self) -> None:
                self._serve("PUT")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

        return Handler
