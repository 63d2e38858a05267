"""Signatures on Workers, through WebCrypto (`crypto.subtle`, which workerd implements): Ed25519
checks of Discord's interactions, and RS256 for a GitHub App's JWTs. No package to vendor."""

from __future__ import annotations

import js
from pyodide.ffi import to_js


def _algorithm(**fields: str) -> object:
    return to_js(fields, dict_converter=js.Object.fromEntries)


class WebCryptoEd25519:
    def __init__(self) -> None:
        # Imported keys by their bytes: a bot has one public key, imported once per isolate.
        self._keys: dict[bytes, object] = {}

    async def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        algorithm = _algorithm(name="Ed25519")
        key = self._keys.get(public_key)
        if key is None:
            key = await js.crypto.subtle.importKey(
                "raw", to_js(public_key), algorithm, False, to_js(["verify"])
            )
            self._keys[public_key] = key
        try:
            valid = await js.crypto.subtle.verify(algorithm, key, to_js(signature), to_js(message))
        except Exception:
            return False  # a signature of the wrong length is an error, not a False
        return bool(valid)


class WebCryptoRsaSigner:
    def __init__(self) -> None:
        self._keys: dict[bytes, object] = {}

    async def sign(self, pkcs8_der: bytes, message: bytes) -> bytes:
        algorithm = _algorithm(name="RSASSA-PKCS1-v1_5", hash="SHA-256")
        key = self._keys.get(pkcs8_der)
        if key is None:
            key = await js.crypto.subtle.importKey(
                "pkcs8", to_js(pkcs8_der), algorithm, False, to_js(["sign"])
            )
            self._keys[pkcs8_der] = key
        signature = await js.crypto.subtle.sign(algorithm, key, to_js(message))
        return bytes(signature.to_bytes())
