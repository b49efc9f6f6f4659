"""The master key's box: a rotation stopped half way still opens every credential."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet

from pushgate.security import SecretBox, next_key_file


def test_a_half_done_rotation_opens_old_and_new_and_seals_with_the_new(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    old_box = SecretBox.from_key_file(path)
    under_old = old_box.seal(b"old")
    next_key_file(path).write_bytes(Fernet.generate_key())
    box = SecretBox.from_key_file(path)
    under_new = box.seal(b"new")
    assert box.open(under_old) == b"old" and box.open(under_new) == b"new"
    assert SecretBox([next_key_file(path).read_bytes()]).open(under_new) == b"new"
    os.replace(next_key_file(path), path)  # the rotation's last step
    assert old_box.open(under_new) == b"new"  # a running process reads the file again
