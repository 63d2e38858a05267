"""The JS globals the glue uses, as workerd presents them to Python (checked on workerd)."""

from __future__ import annotations

from typing import Any


class WebSocket:
    """One end of a WebSocketPair; the tests read what the server end sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed = False
        self.close_code: int | None = None

    def send(self, text: str) -> None:
        if self.closed:
            raise RuntimeError("WebSocket send() after close")
        self.sent.append(text)

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = True
        self.close_code = code


class _Pair:
    """Not subscriptable from Python, as on workerd: `Object.values` gives its two ends."""

    def __init__(self) -> None:
        self._ends = (WebSocket(), WebSocket())


class WebSocketPair:
    @staticmethod
    def new() -> _Pair:
        return _Pair()


class JsObject(dict):  # type: ignore[type-arg]
    """A plain JS object made from entries."""


class Object:
    @staticmethod
    def fromEntries(entries: Any) -> JsObject:
        return JsObject(entries)

    @staticmethod
    def values(value: Any) -> list[Any]:
        if isinstance(value, _Pair):
            return list(value._ends)
        return list(vars(value).values())


class _CryptoKey:
    def __init__(self, raw: bytes, kind: str = "Ed25519") -> None:
        self.raw = raw
        self.kind = kind


class ArrayBuffer:
    """What WebCrypto resolves to: bytes Python reads with to_bytes(), as Pyodide's JsBuffer."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def to_bytes(self) -> bytes:
        return self._data


class _Subtle:
    """WebCrypto as workerd implements it, for what the glue uses: Ed25519 (a raw 32-byte
    public key; verify gives false for a signature that does not match, of any length) and
    RSASSA-PKCS1-v1_5 with SHA-256 (a PKCS#8 private key; sign)."""

    async def importKey(
        self, fmt: str, key_data: Any, algorithm: Any, extractable: bool, usages: Any
    ) -> _CryptoKey:
        fields = dict(algorithm)
        if fmt == "pkcs8" and fields == {"name": "RSASSA-PKCS1-v1_5", "hash": "SHA-256"}:
            if list(usages) != ["sign"]:
                raise RuntimeError("SyntaxError: an RSA private key only signs")
            return _CryptoKey(bytes(key_data), "RSASSA-PKCS1-v1_5")
        if fmt != "raw" or fields.get("name") != "Ed25519" or list(usages) != ["verify"]:
            raise RuntimeError("NotSupportedError: only raw Ed25519 verify keys in the double")
        if len(bytes(key_data)) != 32:
            raise RuntimeError("DataError: Ed25519 raw keys are 32 bytes")
        return _CryptoKey(bytes(key_data))

    async def verify(self, algorithm: Any, key: _CryptoKey, signature: Any, data: Any) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            Ed25519PublicKey.from_public_bytes(key.raw).verify(bytes(signature), bytes(data))
        except (InvalidSignature, ValueError):
            return False
        return True

    async def sign(self, algorithm: Any, key: _CryptoKey, data: Any) -> ArrayBuffer:
        from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
        from cryptography.hazmat.primitives.hashes import SHA256
        from cryptography.hazmat.primitives.serialization import load_der_private_key

        if key.kind != "RSASSA-PKCS1-v1_5":
            raise RuntimeError("InvalidAccessError: the key cannot sign")
        private = load_der_private_key(key.raw, password=None)
        assert isinstance(private, RSAPrivateKey)
        return ArrayBuffer(private.sign(bytes(data), PKCS1v15(), SHA256()))


class _Crypto:
    subtle = _Subtle()


crypto = _Crypto()
