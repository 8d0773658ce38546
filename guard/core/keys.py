"""Secret keys for keyed operators (hash, surrogate, date shift, encrypt).

A key comes from an environment variable or a key file, never from a
command-line argument, and is never logged. Each operator uses its own
sub-key derived with HMAC-SHA256, so one leaked sub-key reveals no other.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from guard.core.errors import KeyMissingError

DEFAULT_KEY_ENV = "GUARD_KEY"
MIN_KEY_BYTES = 16


def load_key(*, env: str = DEFAULT_KEY_ENV, key_file: str | Path | None = None) -> bytes | None:
    """The master key from `key_file` if given, else from `$env`, else None."""
    if key_file is not None:
        path = Path(key_file)
        if not path.is_file():
            raise KeyMissingError(f"key file {path} not found", hint="create it or set the key variable")
        check_key_file_mode(path)
        key = path.read_bytes().strip()
        source = f"key file {path}"
    else:
        value = os.environ.get(env)
        if value is None:
            return None
        key = value.encode("utf-8").strip()
        source = f"${env}"
    if len(key) < MIN_KEY_BYTES:
        raise KeyMissingError(
            f"the key in {source} is {len(key)} bytes; at least {MIN_KEY_BYTES} are needed",
            hint="generate one with: python -c 'import secrets; print(secrets.token_hex(32))'",
        )
    return key


def check_key_file_mode(path: Path) -> None:
    """Refuse a key file that others can read or write (as ssh refuses such a private key):
    anyone who can read it can undo the hash, surrogate and encrypt operators."""
    if os.name != "posix":
        return
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise KeyMissingError(
            f"key file {path} is accessible by others (mode {mode:04o}); a key must be private",
            hint=f"chmod 600 {path}",
        )


def derive(key: bytes, purpose: str) -> bytes:
    """A 32-byte sub-key for one purpose (e.g. 'hash', 'surrogate')."""
    return hmac.new(key, b"guard/v1/" + purpose.encode("utf-8"), hashlib.sha256).digest()


def keyed_digest(key: bytes, message: str) -> bytes:
    """HMAC-SHA256 of a message under a (sub-)key."""
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


__all__ = ["DEFAULT_KEY_ENV", "MIN_KEY_BYTES", "check_key_file_mode", "derive", "keyed_digest", "load_key"]
