"""The secrets key of the tests' stores (what EXPORTS_SECRETS_KEY would be) and its box."""

from __future__ import annotations

from exports_pipeline.sealing import SecretBox

TEST_SECRETS_KEY = "the secrets key of the tests, 32+ bytes"
BOX = SecretBox.from_key(TEST_SECRETS_KEY)
