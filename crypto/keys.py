"""Server key pairs: generate, protect with a passphrase, export for forms, unlock.

The private key leaves this module only inside a `Decryptor` (crypto/decrypt.py); it is never
returned unprotected to callers outside the package, printed or logged.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from crypto.decrypt import Decryptor
from crypto.errors import KeyUnlockError
from crypto.pkcs8 import encrypt_pkcs8_pem

ALLOWED_BITS = (2048, 3072, 4096)
# PBKDF2-HMAC-SHA256 rounds protecting stored private keys (OWASP's 2023 figure); the key is
# unlocked once per process, so the cost is paid once.
KDF_ROUNDS = 600_000
# ODK Central's managed keys: PBKDF2-HMAC-SHA256, 128000 rounds, 32-byte key, AES-256-CBC.
CENTRAL_KDF_ROUNDS = 128_000


def generate_private_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    """A new RSA key (2048, 3072 or 4096 bits; public exponent 65537)."""
    if bits not in ALLOWED_BITS:
        raise ValueError(f"key size must be one of {ALLOWED_BITS}, not {bits}")
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _public(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> rsa.RSAPublicKey:
    return key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key


def public_key_der(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> bytes:
    """DER SubjectPublicKeyInfo of the public half."""
    return _public(key).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_key_base64(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> str:
    """The XForm `base64RsaPublicKey` shape: bare base64 of DER SPKI, no PEM armour."""
    return base64.b64encode(public_key_der(key)).decode("ascii")


def public_key_pem(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> bytes:
    """PEM of the public half."""
    return _public(key).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def fingerprint(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> str:
    """SHA-256 hex of the DER SubjectPublicKeyInfo: names a key without revealing anything."""
    return hashlib.sha256(public_key_der(key)).hexdigest()


def load_public_key(data: bytes | str) -> rsa.RSAPublicKey:
    """A public key from PEM or from the bare base64 form shape."""
    raw = data.encode("ascii") if isinstance(data, str) else data
    try:
        if b"-----BEGIN" in raw:
            key = serialization.load_pem_public_key(raw)
        else:
            key = serialization.load_der_public_key(base64.b64decode(raw.strip(), validate=True))
    except ValueError as exc:
        raise KeyUnlockError("not an RSA public key") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyUnlockError("not an RSA public key")
    return key


def protect_private_key(key: rsa.RSAPrivateKey, passphrase: bytes) -> bytes:
    """Encrypted PKCS#8 PEM (PBES2: PBKDF2-HMAC-SHA256 and AES-256-CBC)."""
    if not passphrase:
        raise ValueError("a passphrase is required to protect a private key")
    return encrypt_pkcs8_pem(key, passphrase, KDF_ROUNDS)


def unlock(data: bytes, passphrase: bytes | None) -> Decryptor:
    """A decryptor for a PEM private key (PKCS#1 or PKCS#8, encrypted or not) or an ODK
    Central managed-key JSON. A wrong or missing passphrase raises KeyUnlockError."""
    stripped = data.lstrip()
    if stripped.startswith(b"{"):
        pem = _unlock_central(stripped, passphrase)
        return Decryptor(_load_pem(pem, None))
    return Decryptor(_load_pem(data, passphrase))


def _load_pem(pem: bytes, passphrase: bytes | None) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase or None)
    except TypeError as exc:
        if passphrase:
            raise KeyUnlockError("the key is not encrypted, but a passphrase was given") from exc
        raise KeyUnlockError("the key is encrypted: a passphrase is needed") from exc
    except ValueError as exc:
        if b"ENCRYPTED" in pem:
            raise KeyUnlockError("the passphrase does not unlock the key") from exc
        raise KeyUnlockError("not a PEM private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyUnlockError("not an RSA private key")
    return key


def _unlock_central(data: bytes, passphrase: bytes | None) -> bytes:
    """The PKCS#8 PEM inside a Central managed-key archive {pubkey, privkey, salt, iv}."""
    try:
        archive: dict[str, Any] = json.loads(data)
        salt = base64.b64decode(archive["salt"])
        iv = base64.b64decode(archive["iv"])
        sealed = base64.b64decode(archive["privkey"])
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyUnlockError("not an ODK Central managed-key file") from exc
    if not passphrase:
        raise KeyUnlockError("a Central managed key needs its passphrase")
    storage_key = PBKDF2HMAC(
        algorithm=hashes.SHA256(), length=32, salt=salt, iterations=CENTRAL_KDF_ROUNDS
    ).derive(passphrase)
    try:
        decryptor = Cipher(algorithms.AES(storage_key), modes.CBC(iv)).decryptor()
        padded = decryptor.update(sealed) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        pem = unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise KeyUnlockError("the passphrase does not unlock the Central key") from exc
    if b"PRIVATE KEY" not in pem:
        raise KeyUnlockError("the passphrase does not unlock the Central key")
    return pem
