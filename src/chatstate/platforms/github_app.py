"""GitHub App authentication: installation tokens minted from the App's private key.

A GitHub App proves itself with a JWT (RS256, signed with its private key, valid at most 10
minutes), trades it for an installation's access token (valid an hour), and calls the REST API
with that. Tokens are kept per installation until five minutes before they lapse; the
installation of a repository is asked once (`GET /repos/{owner}/{repo}/installation`).

RS256 is each runtime's: WebCrypto on Workers, `cryptography` locally, behind `RsaSigner`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

JWT_LIFETIME_S = 9 * 60  # GitHub takes at most 10 minutes
CLOCK_DRIFT_S = 60
TOKEN_MARGIN_MS = 5 * 60 * 1000
RSA_ENCRYPTION = bytes.fromhex("300d06092a864886f70d0101010500")  # AlgorithmIdentifier

# A REST call made with a given bearer token: (verb, path, payload, token, what) -> answer.
RestCall = Callable[[str, str, Any, str, str], Awaitable[Any]]


class RsaSigner(Protocol):
    """RSASSA-PKCS1-v1_5 with SHA-256 over `message`, with a PKCS#8 (DER) private key."""

    async def sign(self, pkcs8_der: bytes, message: bytes) -> bytes: ...


class GitHubAppKeyError(ValueError):
    pass


@dataclass(frozen=True)
class GitHubAppAuth:
    """What a GitHub App signs in with: its id, its PEM private key, the runtime's RS256."""

    app_id: str
    private_key: str
    signer: RsaSigner


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def pkcs8_der(pem: str) -> bytes:
    """The private key as PKCS#8 DER, from the PEM GitHub gives (PKCS#1, `BEGIN RSA PRIVATE
    KEY`) or a PKCS#8 one (`BEGIN PRIVATE KEY`); `\\n` written literally counts as a newline,
    so the key fits in one environment variable."""
    text = pem.replace("\\n", "\n").strip()
    found = re.fullmatch(
        r"-----BEGIN (RSA )?PRIVATE KEY-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END \1?PRIVATE KEY-----",
        text,
    )
    if found is None:
        raise GitHubAppKeyError(
            "GITHUB_APP_PRIVATE_KEY must be the App's PEM private key (BEGIN RSA PRIVATE KEY)"
        )
    der = base64.b64decode("".join(found[2].split()))
    if not found[1]:
        return der
    # PKCS#8 wraps PKCS#1: SEQUENCE { INTEGER 0, rsaEncryption, OCTET STRING { key } }.
    inner = b"\x02\x01\x00" + RSA_ENCRYPTION + b"\x04" + _der_length(len(der)) + der
    return b"\x30" + _der_length(len(inner)) + inner


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def app_jwt(app_id: str, key: bytes, signer: RsaSigner, now_s: int) -> str:
    header = _b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    claims = {"iat": now_s - CLOCK_DRIFT_S, "exp": now_s + JWT_LIFETIME_S, "iss": app_id}
    signed = f"{header}.{_b64url(json.dumps(claims).encode())}"
    return f"{signed}.{_b64url(await signer.sign(key, signed.encode()))}"


@dataclass
class _Token:
    value: str
    expires_ms: int


class GitHubAppTokens:
    """Installation tokens of one GitHub App, minted as needed and kept until near expiry."""

    def __init__(self, auth: GitHubAppAuth, call: RestCall, clock: Callable[[], int]) -> None:
        self.app_id = auth.app_id
        self._key = pkcs8_der(auth.private_key)
        self._signer = auth.signer
        self._call = call
        self._clock = clock
        self._installations: dict[str, int] = {}
        self._tokens: dict[int, _Token] = {}

    def remember(self, repository: str, installation_id: int) -> None:
        """A delivery names its installation: no need to ask for it."""
        self._installations[repository] = installation_id

    async def token_for(self, repository: str) -> str:
        now = self._clock()
        installation = self._installations.get(repository)
        if installation is None:
            found = await self._call(
                "GET", f"/repos/{repository}/installation", None, await self._jwt(), "installation"
            )
            installation = int(found["id"])
            self._installations[repository] = installation
        token = self._tokens.get(installation)
        if token is None or token.expires_ms - TOKEN_MARGIN_MS <= now:
            minted = await self._call(
                "POST",
                f"/app/installations/{installation}/access_tokens",
                None,
                await self._jwt(),
                "installation token",
            )
            token = _Token(str(minted["token"]), _expiry_ms(minted.get("expires_at"), now))
            self._tokens[installation] = token
        return token.value

    async def _jwt(self) -> str:
        return await app_jwt(self.app_id, self._key, self._signer, self._clock() // 1000)


def _expiry_ms(stamp: Any, now: int) -> int:
    try:
        return int(datetime.fromisoformat(str(stamp)).timestamp() * 1000)
    except ValueError:
        return now + 55 * 60 * 1000
