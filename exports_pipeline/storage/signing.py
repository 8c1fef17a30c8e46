"""HMAC-signed, expiring download URLs for the embedded local storage.

The signature covers (export id, storage key, expiry), so a URL cannot be turned into
another export's URL, pointed at another object, or kept alive past its expiry.
"""

from __future__ import annotations

import hashlib
import hmac


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
