"""Master-key rotation: every stored credential re-encrypted under a new key, in one transaction.

With the key in a file (``secret_key_file``, default ``<data_dir>/secret.key``) the new key is
written beside it as ``<file>.next`` first; while that file exists every box decrypts with
both keys, so a rotation stopped at any point loses nothing and running it again finishes it.
Once the credentials are re-encrypted, ``.next`` replaces the key file: the old key is gone
and running gateways read the new one from the file on their next credential load. A
passphrase key (``secret_key``, e.g. from the environment) cannot be rewritten by pushgate:
the new key then goes to ``--new-key-file``, which the configuration must name afterwards.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet

from pushgate.config import Settings
from pushgate.credentials import secret_box
from pushgate.errors import ConfigurationError
from pushgate.files import DIR_MODE, sync_dir, write_private
from pushgate.gateway import CLI_ACTOR
from pushgate.security import SecretBox, next_key_file
from pushgate.store.backends import backend_for

ROTATE_ACTION = "master_key.rotate"


@dataclass(frozen=True, slots=True)
class Rotated:
    """What a rotation did: how many credentials, and the file that now holds the key."""

    credentials: int
    key_file: Path
    replaced_in_place: bool
    """True: the configured key file holds the new key; False: the configuration must be
    pointed at ``key_file``."""


async def rotate_master_key(settings: Settings, new_key_file: Path | None = None) -> Rotated:
    """Re-encrypt every stored credential under a new master key."""
    old = secret_box(settings)
    if new_key_file is not None:
        new_key, target, in_place = _key_in(new_key_file), new_key_file, False
    elif settings.secret_key is None:
        target, in_place = settings.key_file, True
        staged = next_key_file(target)
        if not staged.exists():
            write_private(staged, Fernet.generate_key())
        new_key = staged.read_bytes().strip()
    else:
        raise ConfigurationError(
            "The master key is the secret_key passphrase of the configuration (or "
            "PUSHGATE_SECRET_KEY): give --new-key-file PATH for the new key, then set "
            "secret_key_file = PATH in place of secret_key."
        )
    new = SecretBox([new_key])
    backend = backend_for(settings)
    await backend.open()
    try:
        count = await backend.store.reseal_credentials(lambda sealed: new.seal(old.open(sealed)))
        await backend.store.record_audit(
            actor=CLI_ACTOR, app_id=None, action=ROTATE_ACTION, target=f"{count} credentials"
        )
    finally:
        await backend.close()
    if in_place:
        os.replace(next_key_file(target), target)
        sync_dir(target.parent)
    return Rotated(credentials=count, key_file=target, replaced_in_place=in_place)


def _key_in(path: Path) -> bytes:
    """The Fernet key in ``path``; a fresh one is written there (0600) when it is missing."""
    if not path.exists():
        path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        write_private(path, Fernet.generate_key())
    key = path.read_bytes().strip()
    try:
        Fernet(key)
    except ValueError:
        raise ConfigurationError(
            f"{path} holds no master key (a Fernet key: 32 bytes, URL-safe base64); give a "
            "path that does not exist yet to have one made there."
        ) from None
    return key
