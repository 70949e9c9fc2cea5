"""An Argon2 hasher that counts its verifications, for tests that check how many an attempt
costs (exactly one, whether the name exists or not)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from argon2 import PasswordHasher

from server.security import passwords


class CountingHasher(PasswordHasher):
    """argon2-cffi's hasher, with a count of `verify` calls (the real verification runs)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.verifications = 0
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self._lock:
            self.verifications += 1
        return super().verify(hash, password)


@contextmanager
def counting_verifications(cheap: bool = True) -> Iterator[CountingHasher]:
    """Count the verifications made inside the block (test-sized costs when `cheap`)."""
    hasher = CountingHasher(time_cost=1, memory_cost=256, parallelism=1) if cheap else None
    hasher = hasher or CountingHasher()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_hasher", hasher)
        yield hasher
