"""HMAC-signed, expiring download URLs for the embedded local storage.

The signature covers (export id, storage key, expiry), so a URL cannot be turned into
another export's URL, pointed at another object, or kept alive past its expiry.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import tempfile
from pathlib import Path


def sign(secret: str, *, export_id: int, key: str, expires: int) -> str:
    message = f"{export_id}\n{key}\n{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_matches(
    secret: str, *, export_id: int, key: str, expires: int, signature: str
) -> bool:
    """True when `signature` is the one `sign` gives for these values (expiry not checked)."""
    expected = sign(secret, export_id=export_id, key=key, expires=expires)
    return hmac.compare_digest(expected, signature)


def verify(
    secret: str, *, export_id: int, key: str, expires: int, signature: str, now: int
) -> bool:
    """True when `signature` is right for these values and `now` (epoch s) is before expiry."""
    matches = signature_matches(
        secret, export_id=export_id, key=key, expires=expires, signature=signature
    )
    return matches and now < expires


def load_or_create_secret(path: Path) -> str:
    """The secret stored in `path`; a new random one is stored there first when it is absent.

    The file is written whole under a temporary name (mode 0600) and linked into place, so
    a reader never sees a partial secret and, of several processes creating it at once,
    exactly one wins and all use its secret.
    """
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "w") as out:  # mkstemp creates the file with mode 0600
            out.write(secrets.token_urlsafe(32) + "\n")
            out.flush()
            os.fsync(out.fileno())
        # FileExistsError: another process got there first, and its secret is the one.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return _read_secret(path)


def _read_secret(path: Path) -> str:
    secret = path.read_text().strip()
    if not secret:
        raise ValueError(f"the signing secret file {path} is empty; delete it to generate one")
    return secret
