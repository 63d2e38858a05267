"""Signing in to the console: the admin token once, then a session cookie.

A session is stateless: `<id>.<expiry>.<mac>`, signed with the admin token, so every runtime
(and every Durable Object) checks it without storage, and changing the token signs everyone
out. State-changing requests also need the session's CSRF token in a header, and a same-origin
`Origin` when the browser sends one; the cookie is SameSite=Strict besides.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from http.cookies import SimpleCookie

from chatstate.http.messages import HttpRequest

COOKIE = "chat_console"
CSRF_HEADER = "x-console-csrf"
SESSION_TTL_MS = 12 * 3600 * 1000


@dataclass(frozen=True)
class Session:
    id: str
    expires_at: int
    csrf_token: str


def _mac(admin_token: str, message: str) -> str:
    return hmac.new(admin_token.encode(), message.encode(), hashlib.sha256).hexdigest()


def token_matches(admin_token: str, given: str) -> bool:
    return hmac.compare_digest(admin_token.encode(), given.encode())


def _session(admin_token: str, session_id: str, expires_at: int) -> Session:
    return Session(session_id, expires_at, _mac(admin_token, f"csrf:{session_id}")[:32])


def new_session(admin_token: str, now_ms: int) -> tuple[Session, str]:
    """A session and its cookie value."""
    session_id = secrets.token_hex(12)
    expires_at = now_ms + SESSION_TTL_MS
    signed = f"{session_id}.{expires_at}"
    return _session(admin_token, session_id, expires_at), f"{signed}.{_mac(admin_token, signed)}"


def session_of(request: HttpRequest, admin_token: str, now_ms: int) -> Session | None:
    """The request's valid session, or None (no cookie, a forged one, or expired)."""
    cookies = SimpleCookie()
    try:
        cookies.load(request.header("cookie") or "")
    except Exception:
        return None
    morsel = cookies.get(COOKIE)
    if morsel is None:
        return None
    parts = morsel.value.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    session_id, expiry, mac = parts
    if not hmac.compare_digest(mac, _mac(admin_token, f"{session_id}.{expiry}")):
        return None
    if int(expiry) <= now_ms:
        return None
    return _session(admin_token, session_id, int(expiry))


def is_https(request: HttpRequest) -> bool:
    return request.scheme == "https" or request.header("x-forwarded-proto") == "https"


def session_cookie(request: HttpRequest, value: str, max_age_s: int) -> str:
    secure = "; Secure" if is_https(request) else ""
    return f"{COOKIE}={value}; Path=/; Max-Age={max_age_s}; HttpOnly; SameSite=Strict{secure}"


def same_origin(request: HttpRequest) -> bool:
    """Whether a state-changing request comes from the console's own pages, by the headers a
    browser sets and a page cannot forge: Sec-Fetch-Site, else Origin against Host."""
    site = request.header("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.header("origin")
    if origin is None:
        return True
    host = request.header("host") or ""
    return origin.split("://", 1)[-1] == host


def csrf_ok(request: HttpRequest, session: Session) -> bool:
    given = request.header(CSRF_HEADER) or ""
    return same_origin(request) and hmac.compare_digest(given, session.csrf_token)
