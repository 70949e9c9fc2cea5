"""Decrypting ODK encrypted submissions (see ../shared/ODK-ENCRYPTION.md for the format).

Per submission: a random AES-256 key wrapped with RSA-OAEP (SHA-256, MGF1-SHA-256); each file
AES-256-CFB128 with PKCS#7 padding and its own IV derived from MD5(instanceID || key); media
first in manifest order, the XML last; a signature over an MD5 of the submission's summary.
Files are decrypted as streams so a 100 MB attachment needs constant memory.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO, Literal

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

try:  # cryptography >= 43 keeps CFB among the "decrepit" modes
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
except ImportError:  # pragma: no cover - older releases
    from cryptography.hazmat.primitives.ciphers.modes import CFB  # type: ignore[no-redef,unused-ignore]

from crypto.errors import DecryptError, MissingPartError, WrongKeyError
from crypto.manifest import Manifest

CHUNK = 1024 * 1024
XML_NAME = "submission.xml"
SignatureResult = Literal["valid", "invalid", "unverifiable"]

__all__ = ["CFB", "DecryptResult", "Decryptor", "decrypt_stream", "iv_sequence"]

PSS = asym_padding.PSS(
    mgf=asym_padding.MGF1(hashes.SHA256()), salt_length=asym_padding.PSS.MAX_LENGTH
)
OAEP = asym_padding.OAEP(
    mgf=asym_padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
)


def iv_sequence(instance_id: str, aes_key: bytes) -> Iterator[bytes]:
    """IVs for files 0, 1, 2...: from the seed, file n bumps byte n % 16 (cumulatively)."""
    iv = bytearray(hashlib.md5(instance_id.encode("utf-8") + aes_key).digest())  # noqa: S324
    n = 0
    while True:
        iv[n % 16] = (iv[n % 16] + 1) % 256
        yield bytes(iv)
        n += 1


def iv_for(instance_id: str, aes_key: bytes, index: int) -> bytes:
    """The IV of file `index` (0-based)."""
    for n, iv in enumerate(iv_sequence(instance_id, aes_key)):
        if n == index:
            return iv
    raise AssertionError("unreachable")  # pragma: no cover


def decrypt_stream(
    aes_key: bytes, iv: bytes, source: BinaryIO, sink: BinaryIO | None, name: str = "file"
) -> str:
    """Decrypt `source` into `sink` (None: discard); returns the MD5 hex of the plaintext.

    Bad padding raises DecryptError: the output is then garbage and must be discarded.
    """
    decryptor = Cipher(algorithms.AES(aes_key), CFB(iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    md5 = hashlib.md5()  # noqa: S324 - the format's checksum, not a security boundary here
    total = 0
    while chunk := source.read(CHUNK):
        total += len(chunk)
        plain = unpadder.update(decryptor.update(chunk))
        md5.update(plain)
        if sink is not None:
            sink.write(plain)
    if total == 0 or total % 16:
        raise DecryptError(f"{name} is truncated: {total} bytes is not a whole number of blocks")
    try:
        plain = unpadder.update(decryptor.finalize()) + unpadder.finalize()
    except ValueError as exc:
        raise DecryptError(
            f"{name} does not decrypt (wrong key, wrong file order or damaged file)"
        ) from exc
    md5.update(plain)
    if sink is not None:
        sink.write(plain)
    return md5.hexdigest()


def signature_text(manifest: Manifest, media_md5: dict[str, str], xml_md5: str) -> str:
    """The text whose MD5 the submission signs (one line per item, each ending in \\n)."""
    lines = [manifest.raw_form_id or manifest.form_id]
    if manifest.version:
        lines.append(manifest.version)
    lines += [manifest.encrypted_key, manifest.instance_id]
    lines += [f"{name.removesuffix('.enc')}::{media_md5[name]}" for name in manifest.media]
    lines.append(f"{XML_NAME}::{xml_md5}")
    return "".join(line + "\n" for line in lines)


@dataclass(frozen=True)
class DecryptResult:
    """What decrypting a submission gave."""

    signature: SignatureResult
    written: tuple[str, ...]  # plaintext names written, media first, submission.xml last
    missing: tuple[str, ...]  # media (.enc names) that were not there


OpenPart = Callable[[str], BinaryIO | None]
WritePart = Callable[[str], AbstractContextManager[BinaryIO]]


class Decryptor:
    """Holds one private key and decrypts submissions with it; the key never leaves."""

    __slots__ = ("__key",)

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        self.__key = private_key

    def __repr__(self) -> str:
        return f"<Decryptor RSA-{self.__key.key_size}>"

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        """The public half (safe to share)."""
        return self.__key.public_key()

    def unwrap_key(self, encrypted_key_b64: str) -> bytes:
        """The submission's AES key; WrongKeyError when this private key does not open it."""
        try:
            wrapped = base64.b64decode(encrypted_key_b64, validate=True)
            aes_key = self.__key.decrypt(wrapped, OAEP)
        except ValueError as exc:
            raise WrongKeyError("the submission was not encrypted for this key") from exc
        if len(aes_key) != 32:
            raise WrongKeyError("the submission key is not a 256-bit AES key")
        return aes_key

    def sign(self, message: bytes) -> bytes:
        """An RSA-PSS (SHA-256, MGF1-SHA-256, maximum salt) signature of `message` (transfer
        packages between servers: crypto/package.py)."""
        return self.__key.sign(message, PSS, hashes.SHA256())

    def check_signature(
        self, manifest: Manifest, media_md5: dict[str, str] | None, xml_md5: str
    ) -> SignatureResult:
        """valid / invalid, or unverifiable when the signature or a media file is missing."""
        if not manifest.signature or media_md5 is None:
            return "unverifiable"
        try:
            signed = self.__key.decrypt(base64.b64decode(manifest.signature), OAEP)
        except ValueError:
            return "invalid"
        expected = hashlib.md5(  # noqa: S324 - the format's digest
            signature_text(manifest, media_md5, xml_md5).encode("utf-8")
        ).digest()
        return "valid" if hmac.compare_digest(signed, expected) else "invalid"

    def decrypt_submission(
        self, manifest: Manifest, open_part: OpenPart, write_part: WritePart | None
    ) -> DecryptResult:
        """Decrypt every file the manifest lists, in IV order; media may be missing.

        `open_part(enc_name)` gives a readable stream or None when the file is absent;
        `write_part(plain_name)` gives a context manager for the output (None: verify only).
        A missing XML raises MissingPartError; missing media make the signature unverifiable.
        """
        aes_key = self.unwrap_key(manifest.encrypted_key)
        ivs = iv_sequence(manifest.instance_id, aes_key)
        media_md5: dict[str, str] = {}
        written: list[str] = []
        missing: list[str] = []
        for name in manifest.media:
            iv = next(ivs)
            source = open_part(name)
            if source is None:
                missing.append(name)
                continue
            plain_name = name.removesuffix(".enc")
            media_md5[name] = self._decrypt_one(aes_key, iv, source, write_part, plain_name, name)
            if write_part is not None:
                written.append(plain_name)
        iv = next(ivs)
        source = open_part(manifest.xml_file)
        if source is None:
            raise MissingPartError(manifest.xml_file)
        xml_md5 = self._decrypt_one(aes_key, iv, source, write_part, XML_NAME, manifest.xml_file)
        if write_part is not None:
            written.append(XML_NAME)
        signature = self.check_signature(manifest, None if missing else media_md5, xml_md5)
        return DecryptResult(signature, tuple(written), tuple(missing))

    @staticmethod
    def _decrypt_one(
        aes_key: bytes,
        iv: bytes,
        source: BinaryIO,
        write_part: WritePart | None,
        plain_name: str,
        enc_name: str,
    ) -> str:
        with source:
            if write_part is None:
                return decrypt_stream(aes_key, iv, source, None, enc_name)
            with write_part(plain_name) as sink:
                return decrypt_stream(aes_key, iv, source, sink, enc_name)
