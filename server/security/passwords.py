"""Passwords: Argon2id hashing behind a per-process gate, the rules a chosen password must meet,
and generated passwords.

Argon2id with argon2-cffi's defaults (RFC 9106's second recommended set: 3 passes over
64 MiB in 4 lanes) costs about 0.2 s of two cores and 64 MiB of memory per hash or
verification. Every thread that verifies at once holds its own 64 MiB, so a burst of sign-ins
on a worker of 8 threads took half a gigabyte and left no CPU for other requests. The gate
lets one computation run at a time per process (both cores are already used by its lanes) and
only a few wait for it; a caller beyond that gets 503.2 at once instead of a hung thread.
"""

from __future__ import annotations

import itertools
import re
import secrets
import threading
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server import errors

_hasher = PasswordHasher()

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1000
# A name shorter than this is not looked for inside the password: any two letters occur in
# ordinary words ("an", "ha"), so refusing them would refuse good passphrases.
MIN_NAME_PART = 3
MIN_DISTINCT_CHARACTERS = 5

# A hash of a random password, verified against when the user does not exist so a wrong user
# name takes as long as a wrong password. Made at the first sign-in, not at import, so that a
# worker starts without 0.2 s of Argon2 (and with the hasher in force then).
_DUMMY_HASH: str | None = None
_dummy_lock = threading.Lock()


def _dummy_hash() -> str:
    global _DUMMY_HASH
    with _dummy_lock:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
        return _DUMMY_HASH


# The rules' messages (English msgids, translated in server/translations).
TOO_SHORT = "Passwords must have at least 12 characters."
TOO_LONG = "Passwords must have at most 1000 characters."
CONTAINS_NAME = "The password must not contain the user name."
REPETITIVE = (
    "The password must not be one character or a short pattern repeated, and needs at least "
    "5 different characters."
)
COMMON = "This password is too common: it is on the list of passwords that attackers try first."


class VerificationGate:
    """At most `slots` Argon2 computations at once in this process, and at most `max_waiting`
    callers waiting for one; a caller that cannot get a turn gets 503.2 (`sign_in_busy`)."""

    def __init__(self, slots: int = 1, max_waiting: int = 4, wait_seconds: float = 10.0) -> None:
        self.slots = slots
        self.max_waiting = max_waiting
        self.wait_seconds = wait_seconds
        self._turns = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._waiting = 0

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold one of the slots for the block."""
        with self._lock:
            if self._waiting >= self.max_waiting:
                raise errors.sign_in_busy()
            self._waiting += 1
        try:
            acquired = self._turns.acquire(timeout=self.wait_seconds)
        finally:
            with self._lock:
                self._waiting -= 1
        if not acquired:
            raise errors.sign_in_busy()
        try:
            yield
        finally:
            self._turns.release()


_gate = VerificationGate()


def configure_gate(threads: int) -> None:
    """Size the gate for a worker of `threads` threads: one computation at a time, and a
    quarter of the threads at most waiting, so the others stay free for everything else."""
    global _gate
    _gate = VerificationGate(slots=1, max_waiting=max(2, threads // 4))


def hash_password(password: str) -> str:
    """An Argon2id hash of `password`."""
    with _gate.turn():
        return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; the same work whether or not the hash exists."""
    with _gate.turn():
        try:
            matched = _hasher.verify(password_hash or _dummy_hash(), password)
        except (VerificationError, InvalidHashError):
            return False
    return matched and password_hash is not None


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)


# Letters and digits that cannot be mistaken for one another when read aloud or typed on a
# phone (no 0/o, 1/l/i).
_GENERATED_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_GENERATED_GROUPS = 4
_GENERATED_GROUP_LENGTH = 5


def generate_password(username: str | None = None) -> str:
    """A random password for a new account or a reset, printed once: four groups of five
    (about 99 bits), easy to type on a phone. It meets every rule of `password_problem`."""
    while True:
        password = "-".join(
            "".join(secrets.choice(_GENERATED_ALPHABET) for _ in range(_GENERATED_GROUP_LENGTH))
            for _ in range(_GENERATED_GROUPS)
        )
        if password_problem(password, username) is None:
            return password


# Rules on chosen passwords -----------------------------------------------------------------

_NOT_A_LETTER_AT_THE_ENDS = re.compile(r"^[\W\d_]+|[\W\d_]+$")
_NAME_SEPARATORS = re.compile(r"[._\-\s]+")
# Digits and signs read as letters ("p@ssw0rd", "m4tkh4u").
_LEET = str.maketrans({"@": "a", "4": "a", "0": "o", "1": "i", "3": "e", "5": "s", "$": "s"})
_LEET_MORE = str.maketrans({"1": "l", "7": "t", "!": "i", "9": "g"})


def fold(text: str) -> str:
    """Text compared without case, Vietnamese diacritics or spaces: "Mật Khẩu" -> "matkhau"."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    kept = (c for c in decomposed if not unicodedata.combining(c) and not c.isspace())
    return "".join(kept).casefold()


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (server/security/common_passwords.txt), folded."""
    text = resources.files("server.security").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(
        fold(line) for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def _is_common(password: str) -> bool:
    """On the list as it is, or once digits and signs around it are taken away
    ("Sunshine2024!") or read as letters ("p@ssw0rd")."""
    listed = common_passwords()
    folded = fold(password)
    candidates = {folded, _NOT_A_LETTER_AT_THE_ENDS.sub("", folded)}
    for candidate in list(candidates):
        candidates.add(candidate.translate(_LEET))
        candidates.add(candidate.translate(_LEET).translate(_LEET_MORE))
    for candidate in list(candidates):
        candidates.add(_NOT_A_LETTER_AT_THE_ENDS.sub("", candidate))
    return any(candidate in listed for candidate in candidates if candidate)


def _is_repetitive(password: str) -> bool:
    """One character or a piece repeated ("aaaaaaaaaaaa", "viewAviewAviewA", "abcabcabcabc"),
    a run of consecutive characters ("123456789012", "abcdefghijkl"), or too few different
    characters ("abababababac")."""
    text = password.casefold()
    if len(set(text)) < MIN_DISTINCT_CHARACTERS:
        return True
    length = len(text)
    for size in range(1, length // 2 + 1):
        if (text[:size] * (length // size + 1))[:length] == text:
            return True
    return _is_run(text)


def _is_run(text: str) -> bool:
    """Each character one step after (or before) the previous one; digits go round 9 -> 0."""

    def step(a: str, b: str) -> int | None:
        if a.isdigit() and b.isdigit():
            return (int(b) - int(a)) % 10
        if a.isascii() and b.isascii() and a.isalpha() and b.isalpha():
            return (ord(b) - ord(a)) % 26
        return None

    steps = {step(a, b) for a, b in itertools.pairwise(text)}
    return steps in ({1}, {9}, {25})


def _name_parts(username: str) -> set[str]:
    folded = fold(username)
    parts = {folded, _NAME_SEPARATORS.sub("", folded), *_NAME_SEPARATORS.split(folded)}
    return {part for part in parts if len(part) >= MIN_NAME_PART}


def password_problem(password: str, username: str | None = None) -> str | None:
    """Why a chosen password is not acceptable (one of the rule messages above), or None.

    The rules: at least 12 characters; not containing the user name or a part of it of 3
    letters or more (compared without case, diacritics, spaces or the separators . _ -); not
    one character or a short piece repeated, nor a run like 123456789012; not on the shipped
    list of common passwords, also with digits or signs added around it.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        return TOO_SHORT
    if len(password) > MAX_PASSWORD_LENGTH:
        return TOO_LONG
    if username:
        folded = fold(password)
        if any(part in folded for part in _name_parts(username)):
            return CONTAINS_NAME
    if _is_repetitive(password):
        return REPETITIVE
    if _is_common(password):
        return COMMON
    return None
