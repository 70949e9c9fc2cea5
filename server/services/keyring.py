"""The server's unlocked private keys, held only inside decryptor objects.

Keys are unlocked with FIELDCASE_KEY_PASSPHRASE the first time they are needed. Without the
passphrase the ring is locked: submissions are still received and stored, and wait.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from crypto import keys as crypto_keys
from crypto.errors import KeyUnlockError
from server.store import keys as key_store
from server.store.db import Store

log = logging.getLogger("server.keyring")


class KeyRing:
    """Decryptors by key id, unlocked lazily and kept for the life of the process."""

    def __init__(self, store: Store, passphrase: str | None) -> None:
        self._store = store
        self._passphrase = passphrase
        self._decryptors: dict[int, Any] = {}
        self._lock = threading.Lock()

    @property
    def locked(self) -> bool:
        """True when no passphrase was given."""
        return not self._passphrase

    def decryptor(self, key_id: int) -> Any | None:
        """The decryptor of one key, or None when locked or the passphrase is wrong."""
        if self._passphrase is None:
            return None
        with self._lock:
            if key_id in self._decryptors:
                return self._decryptors[key_id]
            with self._store.reader() as session:
                key = key_store.by_id(session, key_id)
                pem = key.private_key_pem if key else None
            if pem is None:
                return None
            try:
                decryptor = crypto_keys.unlock(pem, self._passphrase.encode("utf-8"))
            except KeyUnlockError:
                log.error("the configured passphrase does not unlock server key %s", key_id)
                return None
            self._decryptors[key_id] = decryptor
            return decryptor

    def all_key_ids(self) -> list[int]:
        """Every key the store holds, newest first."""
        with self._store.session() as session:
            return [key.id for key in reversed(key_store.all_keys(session))]
