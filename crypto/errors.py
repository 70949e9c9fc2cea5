"""Errors of the crypto package, each with a stable code the server and CLI can rely on."""

from __future__ import annotations


class CryptoError(Exception):
    """Base of every error this package raises; the message is fit to show a user."""

    code = "crypto"


class ManifestError(CryptoError):
    """The encrypted-submission manifest is malformed, hostile or incomplete."""

    code = "manifest"


class KeyUnlockError(CryptoError):
    """A private key cannot be loaded: wrong passphrase, or not a key."""

    code = "key_unlock"


class WrongKeyError(CryptoError):
    """The submission's AES key does not decrypt with this private key."""

    code = "wrong_key"


class DecryptError(CryptoError):
    """A file does not decrypt (bad padding: wrong key, IV or file order, or damaged data)."""

    code = "decrypt"


class MissingPartError(CryptoError):
    """A file the manifest lists is not there."""

    code = "missing_part"

    def __init__(self, name: str) -> None:
        super().__init__(f"file {name} listed in the manifest is missing")
        self.name = name
