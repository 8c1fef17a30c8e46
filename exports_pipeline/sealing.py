"""Secrets sealed at rest: what the store keeps of a secret (a webhook endpoint's signing
secret now, a destination's credentials later) is a Fernet token (AES-128-CBC with an
HMAC-SHA256, from the `cryptography` package) under the service's one secrets key.

The key is `EXPORTS_SECRETS_KEY` (any string of at least 32 bytes), else a random one
generated once into `EXPORTS_HOME`/secrets-key (mode 0600) and shared by every process of
that home, like the signing secret. Fernet's own key is derived from it with HKDF-SHA256,
so any long enough string serves. A store's sealed secrets open with the key they were
sealed with only: keep it (and back it up) with the store.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from exports_pipeline.private_files import load_or_create_secret

# Binds the derived key to this one use of the secrets key.
_HKDF_INFO = b"exports-pipeline: secrets sealed at rest"


class SecretUnreadable(ValueError):
    """A sealed secret that this key does not open: sealed under another key, or damaged."""


@dataclass(frozen=True)
class SecretBox:
    """Seals secrets for the store and opens what it sealed."""

    _fernet: Fernet = field(repr=False)

    @classmethod
    def from_key(cls, key: str) -> SecretBox:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO)
        return cls(Fernet(base64.urlsafe_b64encode(derived.derive(key.encode()))))

    def seal(self, secret: str) -> str:
        """`secret` as the store keeps it: a Fernet token (ASCII), new random IV each time."""
        return self._fernet.encrypt(secret.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        """The secret `seal` made `sealed` of; `SecretUnreadable` when this key did not."""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise SecretUnreadable(
                "a sealed secret does not open with this secrets key (EXPORTS_SECRETS_KEY, "
                "else EXPORTS_HOME/secrets-key): it was sealed under another key"
            ) from None


def secret_box(key: str | None, key_file: Path) -> SecretBox:
    """The box of the key `key`, else of the key kept in (and generated once into)
    `key_file`."""
    return SecretBox.from_key(key or load_or_create_secret(key_file, what="secrets key"))
