"""Transfer packages between fieldcase servers: signed, encrypted, for one recipient key.

A package is one UTF-8 JSON object (docs/referrals.md, "Transfer packages"):

    format       "fieldcase-transfer/1"
    recipient    SHA-256 fingerprint of the recipient server's public key (hex)
    sender_key   the sender server's public key, DER SubjectPublicKeyInfo, base64
    wrapped_key  a fresh AES-256 key, RSA-OAEP (SHA-256, MGF1-SHA-256) for the recipient, base64
    nonce        the 96-bit AES-GCM nonce, base64
    ciphertext   AES-256-GCM of the payload (tag appended), with the canonical header
                 (format, recipient, sender_key) as associated data, base64
    signature    RSA-PSS (SHA-256, MGF1-SHA-256, maximum salt) by the sender's key over the
                 canonical JSON of every other member (sorted keys, no spaces), base64

Opening checks the signature first (a changed byte anywhere is refused before anything is
decrypted), then that the package names this server's key, then unwraps and decrypts.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.decrypt import OAEP, PSS, Decryptor
from crypto.errors import CryptoError, WrongKeyError
from crypto.keys import fingerprint, public_key_der

FORMAT = "fieldcase-transfer/1"
MAX_PACKAGE_BYTES = 64 * 1024 * 1024
_MEMBERS = ("format", "recipient", "sender_key", "wrapped_key", "nonce", "ciphertext")


class PackageRefused(CryptoError):
    """A package that is not one, was changed, or does not verify."""


class NotForThisServer(CryptoError):
    """A package sealed for another server's key: it cannot be read here."""


@dataclass(frozen=True)
class OpenedPackage:
    """What a verified package holds, and who signed it."""

    payload: bytes
    sender_fingerprint: str
    sender_key: rsa.RSAPublicKey


def _canonical(members: dict[str, str]) -> bytes:
    return json.dumps(members, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise PackageRefused("a member of the package is not text")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PackageRefused("a member of the package is not base64") from exc


def seal(payload: bytes, recipient: rsa.RSAPublicKey, sender: Decryptor) -> bytes:
    """A package of `payload` only `recipient`'s private key opens, signed by `sender`."""
    aes_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    header = {
        "format": FORMAT,
        "recipient": fingerprint(recipient),
        "sender_key": _b64(public_key_der(sender.public_key)),
    }
    members = {
        **header,
        "wrapped_key": _b64(recipient.encrypt(aes_key, OAEP)),
        "nonce": _b64(nonce),
        "ciphertext": _b64(AESGCM(aes_key).encrypt(nonce, payload, _canonical(header))),
    }
    signed = {**members, "signature": _b64(sender.sign(_canonical(members)))}
    return json.dumps(signed, sort_keys=True, indent=1).encode("utf-8") + b"\n"


def read_header(data: bytes) -> dict[str, str]:
    """The package's members, checked for shape only (nothing verified yet)."""
    if len(data) > MAX_PACKAGE_BYTES:
        raise PackageRefused("the package is larger than any fieldcase package")
    try:
        members = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise PackageRefused("not a fieldcase transfer package (not JSON)") from exc
    if not isinstance(members, dict) or members.get("format") != FORMAT:
        raise PackageRefused(f"not a fieldcase transfer package (format {FORMAT} expected)")
    expected = {*_MEMBERS, "signature"}
    if set(members) != expected or not all(isinstance(v, str) for v in members.values()):
        raise PackageRefused("the package's members are not those of the format")
    return members


def open_package(data: bytes, recipient: Decryptor) -> OpenedPackage:
    """Verify the sender's signature, then decrypt with this server's key."""
    members = read_header(data)
    try:
        sender_key = serialization.load_der_public_key(_unb64(members["sender_key"]))
    except ValueError as exc:
        raise PackageRefused("the sender's key in the package is not a public key") from exc
    if not isinstance(sender_key, rsa.RSAPublicKey):
        raise PackageRefused("the sender's key in the package is not an RSA key")
    unsigned = {name: members[name] for name in _MEMBERS}
    try:
        sender_key.verify(_unb64(members["signature"]), _canonical(unsigned), PSS, hashes.SHA256())
    except InvalidSignature as exc:
        raise PackageRefused("the signature does not verify: the package was changed") from exc
    if members["recipient"] != fingerprint(recipient.public_key):
        raise NotForThisServer(
            "the package was sealed for another server's key "
            f"({members['recipient'][:16]}), not this server's"
        )
    try:
        aes_key = recipient.unwrap_key(members["wrapped_key"])
    except WrongKeyError as exc:
        raise NotForThisServer("this server's key does not open the package") from exc
    header = {name: members[name] for name in ("format", "recipient", "sender_key")}
    try:
        payload = AESGCM(aes_key).decrypt(
            _unb64(members["nonce"]), _unb64(members["ciphertext"]), _canonical(header)
        )
    except (InvalidTag, ValueError) as exc:
        raise PackageRefused("the package does not decrypt: it was changed") from exc
    return OpenedPackage(payload, fingerprint(sender_key), sender_key)
