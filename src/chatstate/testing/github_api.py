"""GitHub's REST API for issue comments and reactions, as documented, answered for tests.

Paths are below the API's root (`GITHUB_API_BASE`): `POST /repos/{owner}/{repo}/issues/{n}/comments`
(201, the comment), `PATCH` / `DELETE /repos/{owner}/{repo}/issues/comments/{id}` (200 / 204),
the same under `pulls/comments/` for review comments, and reactions on comments and issues:
`POST .../reactions` (201, or 200 when the user already reacted so), `GET .../reactions`,
`DELETE .../reactions/{id}` (204). A missing or wrong token gets 401 "Bad credentials", an
unknown comment 404, a body over 65,536 characters or an unknown reaction 422 "Validation
Failed", as GitHub answers them.

A GitHub App signs in as GitHub documents: `GET /repos/{owner}/{repo}/installation` and `POST
/app/installations/{id}/access_tokens` take a JWT (RS256 over the App's key, `iss` its id,
at most 10 minutes long), checked against the App's public key; the installation token they
mint (an hour long) then works as a token does.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

BODY_LIMIT = 65_536
CONTENTS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")
REPO = r"(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)"
INSTALLATION_ID = 4242
ROUTES = [
    ("POST", rf"/repos/{REPO}/issues/(?P<number>\d+)/comments", "issues.comments.create"),
    ("PATCH", rf"/repos/{REPO}/(?P<kind>issues|pulls)/comments/(?P<id>\d+)", "comments.update"),
    ("DELETE", rf"/repos/{REPO}/(?P<kind>issues|pulls)/comments/(?P<id>\d+)", "comments.delete"),
    ("POST", rf"/repos/{REPO}/(?P<target>.+)/reactions", "reactions.create"),
    ("GET", rf"/repos/{REPO}/(?P<target>.+)/reactions", "reactions.list"),
    ("DELETE", rf"/repos/{REPO}/(?P<target>.+)/reactions/(?P<reaction>\d+)", "reactions.delete"),
]
Record = Callable[[str, dict[str, Any]], None]


class Failed(Exception):
    def __init__(self, status: int, message: str, errors: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.status = status
        self.answer: dict[str, Any] = {
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
        }
        if errors:
            self.answer["errors"] = errors


class FakeGitHubApi:
    def __init__(
        self,
        token: str,
        bot_login: str,
        record: Record,
        *,
        app_id: str = "",
        app_public_key_pem: bytes = b"",
        clock: Callable[[], int] = lambda: int(time.time()),
    ) -> None:
        self.token = token
        self.bot_login = bot_login
        self._record = record
        self.app_id = app_id
        self._app_public_key_pem = app_public_key_pem
        self._clock = clock
        # Installation tokens minted, with their expiry (unix seconds).
        self.installation_tokens: dict[str, int] = {}
        self._ids = itertools.count(5000)
        # Comments by (repo, kind, id): their bodies; reactions by (repo, target): [(id, content)].
        self.comments: dict[tuple[str, str, int], str] = {}
        self.reactions: dict[tuple[str, str], list[tuple[int, str]]] = {}

    def answer(
        self, verb: str, path: str, authorization: str | None, payload: dict[str, Any]
    ) -> tuple[int, Any]:
        route, _, query = path.partition("?")
        app_routes = (r"/app/installations/\d+/access_tokens", rf"/repos/{REPO}/installation")
        if any(re.fullmatch(pattern, route) for pattern in app_routes):
            return self._as_app(verb, route, authorization)
        if not self._authorized(authorization):
            return 401, Failed(401, "Bad credentials").answer
        for method, pattern, name in ROUTES:
            matched = re.fullmatch(pattern, route)
            if method == verb and matched:
                try:
                    status, answer = getattr(self, "_" + name.replace(".", "_"))(
                        matched.groupdict(), payload, query
                    )
                except Failed as failed:
                    return failed.status, failed.answer
                self._record(name, {"path": route, **payload})
                return status, answer
        return 404, Failed(404, "Not Found").answer

    def _authorized(self, authorization: str | None) -> bool:
        given = (authorization or "").removeprefix("Bearer ")
        if self.token and given == self.token:
            return True
        return self.installation_tokens.get(given, 0) > self._clock()

    def _as_app(self, verb: str, route: str, authorization: str | None) -> tuple[int, Any]:
        if not self._valid_jwt((authorization or "").removeprefix("Bearer ")):
            message = "A JSON web token could not be decoded"
            return 401, Failed(401, message).answer
        if verb == "GET" and route.endswith("/installation"):
            self._record("apps.installation", {"path": route})
            return 200, {"id": INSTALLATION_ID, "app_id": int(self.app_id)}
        if verb == "POST" and route.endswith("/access_tokens"):
            token = f"ghs_installation{next(self._ids)}"
            expires = self._clock() + 3600
            self.installation_tokens[token] = expires
            self._record("apps.access_token", {"path": route})
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))
            return 201, {"token": token, "expires_at": stamp}
        return 404, Failed(404, "Not Found").answer

    def _valid_jwt(self, jwt: str) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
        from cryptography.hazmat.primitives.hashes import SHA256
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        parts = jwt.split(".")
        if len(parts) != 3 or not self._app_public_key_pem:
            return False
        key = load_pem_public_key(self._app_public_key_pem)
        assert isinstance(key, RSAPublicKey)

        def unb64(text: str) -> bytes:
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

        try:
            key.verify(unb64(parts[2]), f"{parts[0]}.{parts[1]}".encode(), PKCS1v15(), SHA256())
            header, claims = json.loads(unb64(parts[0])), json.loads(unb64(parts[1]))
        except (InvalidSignature, ValueError):
            return False
        now = self._clock()
        return (
            header.get("alg") == "RS256"
            and str(claims.get("iss")) == self.app_id
            and claims.get("iat", now + 1) <= now + 60
            and now < claims.get("exp", 0) <= now + 600 + 60
        )

    def _comment(self, repo: str, kind: str, ident: int, body: str) -> dict[str, Any]:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return {
            "id": ident,
            "body": body,
            "user": {"login": self.bot_login, "id": 1, "type": "Bot"},
            "created_at": now,
            "updated_at": now,
            "html_url": f"https://github.com/{repo}#issuecomment-{ident}",
        }

    @staticmethod
    def _body(payload: dict[str, Any]) -> str:
        body = payload.get("body")
        if not isinstance(body, str) or not body:
            raise Failed(422, "Validation Failed", [{"field": "body", "code": "missing_field"}])
        if len(body) > BODY_LIMIT:
            raise Failed(
                422,
                "Validation Failed",
                [
                    {
                        "resource": "IssueComment",
                        "code": "custom",
                        "field": "body",
                        "message": f"body is too long (maximum is {BODY_LIMIT} characters)",
                    }
                ],
            )
        return body

    def _issues_comments_create(
        self, at: dict[str, str], payload: dict[str, Any], query: str
    ) -> tuple[int, Any]:
        body = self._body(payload)
        ident = next(self._ids)
        self.comments[(at["repo"], "issues", ident)] = body
        return 201, self._comment(at["repo"], "issues", ident, body)

    def _existing(self, at: dict[str, str]) -> tuple[str, str, int]:
        key = (at["repo"], at["kind"], int(at["id"]))
        if key not in self.comments:
            raise Failed(404, "Not Found")
        return key

    def _comments_update(
        self, at: dict[str, str], payload: dict[str, Any], query: str
    ) -> tuple[int, Any]:
        key = self._existing(at)
        self.comments[key] = self._body(payload)
        return 200, self._comment(key[0], key[1], key[2], self.comments[key])

    def _comments_delete(
        self, at: dict[str, str], payload: dict[str, Any], query: str
    ) -> tuple[int, Any]:
        del self.comments[self._existing(at)]
        return 204, None

    def _reactions_create(
        self, at: dict[str, str], payload: dict[str, Any], query: str
    ) -> tuple[int, Any]:
        content = payload.get("content")
        if content not in CONTENTS:
            raise Failed(422, "Validation Failed", [{"field": "content", "code": "invalid"}])
        given = self.reactions.setdefault((at["repo"], at["target"]), [])
        for ident, existing in given:
            if existing == content:
                return 200, self._reaction(ident, content)
        ident = next(self._ids)
        given.append((ident, content))
        return 201, self._reaction(ident, content)

    def _reaction(self, ident: int, content: str) -> dict[str, Any]:
        return {"id": ident, "content": content, "user": {"login": self.bot_login, "id": 1}}

    def _reactions_list(
        self, at: dict[str, str], payload: dict[str, Any], query: str
    ) -> tuple[int, Any]:
        wanted = dict(parse_qsl(query))
        given = self.reactions.get((at["repo"], at["target"]), [])
        return 200, [
            self._reaction(ident, content)
            for ident, content in given
            if "content" not in wanted or wanted["content"] == content
        ]

    def _reactions_delete(
        self, at: dict[str, str], payload: dict[str, Any], query: str
    ) -> tuple[int, Any]:
        given = self.reactions.get((at["repo"], at["target"]), [])
        kept = [(i, c) for i, c in given if i != int(at["reaction"])]
        if len(kept) == len(given):
            raise Failed(404, "Not Found")
        self.reactions[(at["repo"], at["target"])] = kept
        return 204, None
