"""Files only this user may read: the data dir 0700, its files 0600.

The store holds device tokens, Web Push keys and message text, and the key file decrypts the
credentials: nobody else on the host has a reason to read them. Modes are set when a file is
made (no window in which it is readable) and tightened on files an older version left 0644.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Make ``path`` (and missing parents) 0700, or tighten it to 0700."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o777 != DIR_MODE:
        path.chmod(DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 unless it exists; tighten it to 0600 if it does."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        tighten(path)
    return path


def tighten(path: Path) -> None:
    """Mode 0600 for an existing file (nothing when it does not exist)."""
    try:
        if path.stat().st_mode & 0o777 != FILE_MODE:
            path.chmod(FILE_MODE)
    except FileNotFoundError:
        pass


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (a crash leaves the old or the new file),
    fsynced, mode 0600."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    sync_dir(path.parent)


def sync_dir(path: Path) -> None:
    """fsync a directory, so a rename in it survives a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
