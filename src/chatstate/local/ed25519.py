"""Ed25519 signature checks for the local runtime, through `cryptography` (the `local` extra).

On Cloudflare the same port is WebCrypto's (chatstate.cloudflare.ed25519)."""

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
