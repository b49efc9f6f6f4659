"""API keys (random, stored as hashes) and encryption of stored credentials.

API keys carry 32 random bytes, so a plain SHA-256 is a safe way to store them: there is
nothing to brute-force. Credential key material is encrypted with Fernet (AES-128-CBC +
HMAC) under a key from configuration (a passphrase, e.g. from the environment) or a key file,
by default in the data directory, or wherever ``secret_key_file`` says.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pushgate.errors import ConfigurationError
from pushgate.files import private_dir, tighten

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
    """Encrypts and decrypts credential material at rest.

    The first key encrypts; every key decrypts (Fernet's MultiFernet), so a master-key
    rotation that stopped half way still opens every credential. A box read from a key file
    reads it again when a credential does not open (the key was rotated by
    ``pushgate admin rotate-master-key`` while this process ran).
    """

    def __init__(self, keys: list[bytes], *, source: Path | None = None) -> None:
        self._source = source
        self._use(keys)

    def _use(self, keys: list[bytes]) -> None:
        self._keys = keys
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    @property
    def key_file(self) -> Path | None:
        """The key file this box was read from; None for a configured passphrase."""
        return self._source

    def derived_key(self, purpose: str) -> bytes:
        """A Fernet key for another use (e.g. console sessions), derived with HKDF-SHA256.

        A token made for one purpose never opens under another, and the stored credentials'
        key is never used for anything else.
        """
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()
        ).derive(base64.urlsafe_b64decode(self._keys[0]))
        return base64.urlsafe_b64encode(derived)

    @classmethod
    def from_passphrase(cls, passphrase: str) -> SecretBox:
        """A box keyed by a configured secret of any length."""
        return cls([passphrase_key(passphrase)])

    @classmethod
    def from_key_file(cls, path: Path) -> SecretBox:
        """A box keyed by ``path`` (created 0600 when missing), and by the next key while a
        rotation is under way."""
        if not path.exists():
            private_dir(path.parent)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(Fernet.generate_key())
        tighten(path)
        return cls(_file_keys(path), source=path)

    def seal(self, plaintext: bytes) -> bytes:
        """Encrypt, with the key file's current key (uploads are rare: the file read is
        cheap, and nothing is sealed under a key a rotation just retired)."""
        if self._source is not None:
            self._use(_file_keys(self._source))
        return self._fernet.encrypt(plaintext)

    def open(self, sealed: bytes) -> bytes:
        """Decrypt; a wrong key is a configuration error, not a crash."""
        try:
            return self._fernet.decrypt(sealed)
        except InvalidToken:
            if self._source is not None and _file_keys(self._source) != self._keys:
                self._use(_file_keys(self._source))
                return self.open(sealed)
            raise ConfigurationError(
                "A stored credential cannot be decrypted: the secret key changed since it was "
                "uploaded. Restore the previous secret_key or upload the credential again.",
                code="secret_key_mismatch",
            ) from None


def passphrase_key(passphrase: str) -> bytes:
    """The Fernet key of a configured passphrase."""
    return base64.urlsafe_b64encode(hashlib.sha256(passphrase.encode()).digest())


def next_key_file(path: Path) -> Path:
    """Where a master-key rotation keeps the new key until every credential uses it."""
    return path.with_name(path.name + ".next")


def _file_keys(path: Path) -> list[bytes]:
    staged = next_key_file(path)
    current = path.read_bytes().strip()
    return [staged.read_bytes().strip(), current] if staged.exists() else [current]
