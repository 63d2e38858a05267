"""Signatures for the local runtime, through `cryptography` (the `local` extra): Ed25519 checks
of Discord's interactions, and RS256 for a GitHub App's JWTs. On Cloudflare the same ports are
WebCrypto's (chatstate.cloudflare.signing)."""

from __future__ import annotations

from chatstate.config import ConfigError


class CryptographyEd25519:
    def __init__(self) -> None:
        try:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        except ImportError:
            raise ConfigError(
                "DISCORD_PUBLIC_KEY is set, and checking Discord's Ed25519 signatures locally "
                "needs the cryptography package: pip install 'chatstate[local]'"
            ) from None
        self._key_type = Ed25519PublicKey

    async def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature

        try:
            self._key_type.from_public_bytes(public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


class CryptographyRsaSigner:
    def __init__(self) -> None:
        try:
            from cryptography.hazmat.primitives.serialization import load_der_private_key
        except ImportError:
            raise ConfigError(
                "GITHUB_APP_ID is set, and signing a GitHub App's tokens locally needs the "
                "cryptography package: pip install 'chatstate[local]'"
            ) from None
        self._load = load_der_private_key

    async def sign(self, pkcs8_der: bytes, message: bytes) -> bytes:
        from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
        from cryptography.hazmat.primitives.hashes import SHA256

        key = self._load(pkcs8_der, password=None)
        if not isinstance(key, RSAPrivateKey):
            raise ValueError("the GitHub App's key is not an RSA key")
        return key.sign(message, PKCS1v15(), SHA256())
