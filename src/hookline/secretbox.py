"""Encryption of webhook secrets at rest (AES-256-GCM).

The key is derived from ``HOOKLINE_SECRET_KEY`` with scrypt and a fixed, versioned salt, so
every process of a deployment derives the same key from the same passphrase without sharing
any other state. Each secret is sealed with a fresh 96-bit nonce and bound to the id of its
webhook (associated data), so a ciphertext copied onto another row does not open.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

_VERSION = "v1"
_SALT = b"hookline/secretbox/v1"
_NONCE_BYTES = 12


class SecretBoxError(Exception):
    """A sealed secret could not be opened (wrong HOOKLINE_SECRET_KEY or damaged data)."""


class SecretBox:
    """Seals and opens short secrets with a key derived from a passphrase."""

    def __init__(self, passphrase: str) -> None:
        kdf = Scrypt(salt=_SALT, length=32, n=2**14, r=8, p=1)
        self._aead = AESGCM(kdf.derive(passphrase.encode("utf-8")))

    def seal(self, plaintext: str, context: str) -> str:
        """Encrypt ``plaintext`` bound to ``context`` (the webhook id)."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        return f"{_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def open(self, token: str, context: str) -> str:
        """Decrypt a value made by :meth:`seal` with the same context."""
        version, _, payload = token.partition(".")
        if version != _VERSION:
            raise SecretBoxError("unknown secret format")
        try:
            raw = base64.urlsafe_b64decode(payload.encode("ascii"))
            nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
            return self._aead.decrypt(nonce, sealed, context.encode("utf-8")).decode("utf-8")
        except (InvalidTag, ValueError) as exc:
            raise SecretBoxError(
                "a webhook secret cannot be decrypted: is HOOKLINE_SECRET_KEY the same "
                "in every process of this deployment?"
            ) from exc
