"""Encrypting a submission exactly as ODK Collect does: for tests, benchmarks and fixtures.

Checked against the real vectors (tests/crypto) so it cannot drift from what phones send.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from crypto.decrypt import CFB, OAEP, XML_NAME, iv_sequence, signature_text
from crypto.manifest import Manifest

COLLECT_NS = "http://www.opendatakit.org/xforms/encrypted"


@dataclass(frozen=True)
class EncryptedSubmission:
    """The manifest and the `.enc` files, in the order Collect sends them."""

    manifest: bytes
    files: tuple[tuple[str, bytes], ...]
    instance_id: str


def encrypt_file(aes_key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """AES-256-CFB128 with PKCS#7 padding (always at least one byte of padding)."""
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(aes_key), CFB(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def encrypt_submission(
    public_key: rsa.RSAPublicKey,
    form_id: str,
    version: str | None,
    instance_id: str,
    xml: bytes,
    media: Sequence[tuple[str, bytes]] = (),
    aes_key: bytes | None = None,
) -> EncryptedSubmission:
    """Encrypt one submission; `aes_key` is random unless given (to reproduce a vector)."""
    aes_key = aes_key or os.urandom(32)
    encrypted_key = base64.b64encode(public_key.encrypt(aes_key, OAEP)).decode("ascii")
    ivs = iv_sequence(instance_id, aes_key)
    files = []
    media_md5 = {}
    for name, content in media:
        enc_name = f"{name}.enc"
        files.append((enc_name, encrypt_file(aes_key, next(ivs), content)))
        media_md5[enc_name] = hashlib.md5(content).hexdigest()  # noqa: S324 - format digest
    files.append((f"{XML_NAME}.enc", encrypt_file(aes_key, next(ivs), xml)))
    manifest = Manifest(
        form_id=form_id,
        version=version,
        encrypted_key=encrypted_key,
        instance_id=instance_id,
        media=tuple(name for name, _ in files[:-1]),
        xml_file=f"{XML_NAME}.enc",
        signature=None,
        raw_form_id=form_id,
    )
    digest = hashlib.md5(  # noqa: S324 - format digest
        signature_text(manifest, media_md5, hashlib.md5(xml).hexdigest()).encode("utf-8")  # noqa: S324
    ).digest()
    signature = base64.b64encode(public_key.encrypt(digest, OAEP)).decode("ascii")
    version_attr = f" version={quoteattr(version)}" if version else ""
    media_xml = "".join(f"<media><file>{escape(name)}</file></media>" for name, _ in files[:-1])
    document = (
        f'<data xmlns="{COLLECT_NS}" id={quoteattr(form_id)}{version_attr} encrypted="yes">'
        f"<base64EncryptedKey>{encrypted_key}</base64EncryptedKey>"
        '<orx:meta xmlns:orx="http://openrosa.org/xforms">'
        f"<orx:instanceID>{escape(instance_id)}</orx:instanceID></orx:meta>"
        f"{media_xml}"
        f"<encryptedXmlFile>{XML_NAME}.enc</encryptedXmlFile>"
        f"<base64EncryptedElementSignature>{signature}</base64EncryptedElementSignature>"
        "</data>"
    )
    return EncryptedSubmission(document.encode("utf-8"), tuple(files), instance_id)
