"""The server key pair as the admin page shows and rotates it.

Rotating makes a new key pair for new form versions; old keys are kept (retired) because
submissions made with them still need them to decrypt. Forms must be published again to
carry the new public key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from crypto import keys as crypto_keys
from server import errors
from server.config import Config
from server.datadir import ensure_data_dir, write_private_file
from server.services.keyring import KeyRing
from server.store import audit
from server.store import keys as key_store
from server.store import submissions as submission_store
from server.store.db import Store
from server.store.models import ServerKey, Submission


@dataclass(frozen=True)
class KeyState:
    """One key pair as listed on the admin page."""

    id: int
    fingerprint: str
    bits: int
    created_at: datetime
    retired_at: datetime | None
    unlocked: bool


def key_states(store: Store, keyring: KeyRing) -> list[KeyState]:
    """Every key, newest first, and whether the configured passphrase unlocks it.

    The key ring opens its own transaction to unlock a key, so the keys are read first and
    the transaction closed before asking it (SQLite allows one writer at a time).
    """
    with store.session() as session:
        keys = [
            (k.id, k.fingerprint, k.bits, k.created_at, k.retired_at)
            for k in reversed(key_store.all_keys(session))
        ]
    return [
        KeyState(*key, unlocked=not keyring.locked and keyring.decryptor(key[0]) is not None)
        for key in keys
    ]


def rotate(session: Session, config: Config, actor: str) -> ServerKey:
    """Make a new active key pair, protected with the configured passphrase."""
    passphrase = config.key_passphrase
    if not passphrase:
        raise errors.validation_failed(
            "The key passphrase is not configured (FIELDCASE_KEY_PASSPHRASE), so a new key "
            "could not be protected."
        )
    private_key = crypto_keys.generate_private_key()
    public_b64 = crypto_keys.public_key_base64(private_key)
    fingerprint = crypto_keys.fingerprint(private_key.public_key())
    protected = crypto_keys.protect_private_key(private_key, passphrase.encode("utf-8"))
    key = key_store.add(session, fingerprint, public_b64, protected, private_key.key_size)
    ensure_data_dir(config)
    write_private_file(
        config.key_dir / f"server-key-{fingerprint[:16]}.pem", protected.decode("ascii")
    )
    audit.append(session, actor, "key.rotate", f"key:{fingerprint[:16]}")
    return key


def waiting_to_decrypt(session: Session) -> tuple[Sequence[Submission], int]:
    """The submissions not decrypted yet (the first ones), and how many there are in all."""
    return submission_store.not_decrypted(session), submission_store.count_not_decrypted(session)


def active_key(session: Session) -> ServerKey | None:
    """The key pair new form versions are encrypted to, or None before `fieldcase init`."""
    return key_store.active(session)
