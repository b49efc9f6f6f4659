"""API keys (random, stored as hashes) and encryption of stored credentials.

API keys carry 32 random bytes, so a plain SHA-256 is a safe way to store them: there is
nothing to brute-force. Credential key material is encrypted with Fernet (AES-128-CBC +
HMAC) under a key from configuration or a file in the data directory.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pushgate.errors import ConfigurationError

ADMIN_PREFIX = "pgadm_"
APP_PREFIX = "pgapp_"


def new_api_key(prefix: str) -> str:
    """A fresh random API key with a recognisable prefix."""
    return prefix + secrets.token_urlsafe(32)


def hash_api_key(api_key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def key_matches(api_key: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented key with a stored hash."""
    return hmac.compare_digest(hash_api_key(api_key), stored_hash)


def display_prefix(api_key: str) -> str:
    """The first characters of a key, enough to tell keys apart in listings."""
    return api_key[:12]


class SecretBox:
    """Encrypts and decrypts credential material at rest."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._fernet = Fernet(key)

    def derived_key(self, purpose: str) -> bytes:
        """A Fernet key for another use (e.g. console sessions), derived with HKDF-SHA256.

        A token made for one purpose never opens under another, and the stored credentials'
        key is never used for anything else.
        """
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()
        ).derive(base64.urlsafe_b64decode(self._key))
        return base64.urlsafe_b64encode(derived)

    @classmethod
    def from_passphrase(cls, passphrase: str) -> SecretBox:
        """A box keyed by a configured secret of any length."""
        digest = hashlib.sha256(passphrase.encode()).digest()
        return cls(base64.urlsafe_b64encode(digest))

    @classmethod
    def from_key_file(cls, path: Path) -> SecretBox:
        """A box keyed by ``path``, created with mode 0600 when missing."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(Fernet.generate_key())
        return cls(path.read_bytes().strip())

    def seal(self, plaintext: bytes) -> bytes:
        """Encrypt."""
        return self._fernet.encrypt(plaintext)

    def open(self, sealed: bytes) -> bytes:
        """Decrypt; a wrong key is a configuration error, not a crash."""
        try:
            return self._fernet.decrypt(sealed)
        except InvalidToken:
            raise ConfigurationError(
                "A stored credential cannot be decrypted: the secret key changed since it was "
                "uploaded. Restore the previous secret_key or upload the credential again.",
                code="secret_key_mismatch",
            ) from None
