"""Ed25519 signature checks on Workers, through WebCrypto (`crypto.subtle`), which workerd
implements for Ed25519: no package to vendor, nothing in Python's hot path."""

from __future__ import annotations

import js
from pyodide.ffi import to_js


class WebCryptoEd25519:
    def __init__(self) -> None:
        # Imported keys by their bytes: a bot has one public key, imported once per isolate.
        self._keys: dict[bytes, object] = {}

    async def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        algorithm = to_js({"name": "Ed25519"}, dict_converter=js.Object.fromEntries)
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
