"""Encrypted PKCS#8 with a strong PBKDF2 iteration count.

`cryptography` writes encrypted PKCS#8 only with OpenSSL's default of 2,048 PBKDF2 rounds and
offers no setting for more. This module builds the same standard structure (RFC 8018 PBES2:
PBKDF2-HMAC-SHA256 + AES-256-CBC) with a chosen count; any OpenSSL-based tool, and
`load_pem_private_key`, reads it with the passphrase alone.
"""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

# DER object identifiers.
_OID_PBES2 = bytes.fromhex("06092a864886f70d01050d")  # 1.2.840.113549.1.5.13
_OID_PBKDF2 = bytes.fromhex("06092a864886f70d01050c")  # 1.2.840.113549.1.5.12
_OID_HMAC_SHA256 = bytes.fromhex("06082a864886f70d0209")  # 1.2.840.113549.2.9
_OID_AES256_CBC = bytes.fromhex("060960864801650304012a")  # 2.16.840.1.101.3.4.1.42
_NULL = b"\x05\x00"


def _der(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(encoded)]) + encoded + content


def _seq(*items: bytes) -> bytes:
    return _der(0x30, b"".join(items))


def _int(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def encrypt_pkcs8_pem(key: rsa.RSAPrivateKey, passphrase: bytes, rounds: int) -> bytes:
    """PEM `ENCRYPTED PRIVATE KEY` protected by PBKDF2-HMAC-SHA256 (`rounds`) + AES-256-CBC."""
    plain = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    salt, iv = os.urandom(16), os.urandom(16)
    kek = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=rounds).derive(
        passphrase
    )
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(kek), modes.CBC(iv)).encryptor()
    sealed = encryptor.update(padder.update(plain) + padder.finalize()) + encryptor.finalize()
    algorithm = _seq(
        _OID_PBES2,
        _seq(
            _seq(_OID_PBKDF2, _seq(_der(0x04, salt), _int(rounds), _seq(_OID_HMAC_SHA256, _NULL))),
            _seq(_OID_AES256_CBC, _der(0x04, iv)),
        ),
    )
    der = _seq(algorithm, _der(0x04, sealed))
    body = base64.encodebytes(der).decode("ascii").replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return (
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
        + "\n".join(lines)
        + "\n-----END ENCRYPTED PRIVATE KEY-----\n"
    ).encode("ascii")
