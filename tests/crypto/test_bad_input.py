"""Bad input gives a clear error and writes nothing outside --out."""

from __future__ import annotations

import io
import os
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from crypto.decrypt import Decryptor, decrypt_stream, iv_sequence
from crypto.encrypt import encrypt_file, encrypt_submission
from crypto.errors import DecryptError, KeyUnlockError, ManifestError, WrongKeyError
from crypto.keys import generate_private_key, protect_private_key, unlock
from crypto.manifest import parse_manifest
from server.cli import main

XML = "<data id='f'><ten>Nguyễn Văn A</ten></data>".encode()


def write_submission(
    folder: Path, key: rsa.RSAPrivateKey, media: list[tuple[str, bytes]] | None = None
) -> Path:
    sealed = encrypt_submission(
        key.public_key(),
        "f",
        "1",
        "uuid:bad",
        XML,
        media if media is not None else [("a.jpg", b"A" * 40)],
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "submission.xml").write_bytes(sealed.manifest)
    for name, content in sealed.files:
        (folder / name).write_bytes(content)
    return folder


def key_file(tmp_path: Path, key: rsa.RSAPrivateKey, passphrase: bytes | None = None) -> Path:
    path = tmp_path / "key.pem"
    if passphrase:
        path.write_bytes(protect_private_key(key, passphrase))
    else:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
    return path


def run_decrypt(key: Path, submission: Path, out: Path, *extra: str):
    return CliRunner().invoke(
        main, ["decrypt", "--key", str(key), *extra, str(submission), "--out", str(out)]
    )


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


def test_cli_decrypts_with_a_protected_pkcs8_key(
    tmp_path: Path,
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    submission = write_submission(tmp_path / "in", rsa_key)
    passphrase = tmp_path / "pass"
    passphrase.write_text("mật khẩu dài\n", encoding="utf-8")
    key = key_file(tmp_path, rsa_key, "mật khẩu dài".encode())
    result = run_decrypt(key, submission, tmp_path / "out", "--passphrase-file", str(passphrase))
    assert result.exit_code == 0, result.output
    assert result.output == "signature: valid\n"
    assert (tmp_path / "out/submission.xml").read_bytes() == XML
    assert (tmp_path / "out/a.jpg").read_bytes() == b"A" * 40
    assert files_under(tmp_path / "out") == ["a.jpg", "submission.xml"]


def test_cli_wrong_key_is_one_line_and_writes_nothing(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    submission = write_submission(tmp_path / "in", rsa_key)
    other = key_file(tmp_path, generate_private_key())
    result = run_decrypt(other, submission, tmp_path / "out")
    assert result.exit_code != 0
    assert result.output.strip().count("\n") == 0
    assert "not encrypted for this key" in result.output
    assert files_under(tmp_path / "out") == []


def test_cli_wrong_passphrase(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    submission = write_submission(tmp_path / "in", rsa_key)
    key = key_file(tmp_path, rsa_key, b"right passphrase")
    wrong = tmp_path / "wrong"
    wrong.write_text("wrong passphrase", encoding="utf-8")
    result = run_decrypt(key, submission, tmp_path / "out", "--passphrase-file", str(wrong))
    assert result.exit_code != 0
    assert "passphrase does not unlock" in result.output


def test_cli_missing_file(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    submission = write_submission(tmp_path / "in", rsa_key)
    (submission / "a.jpg.enc").unlink()
    result = run_decrypt(key_file(tmp_path, rsa_key), submission, tmp_path / "out")
    assert result.exit_code != 0
    assert "a.jpg.enc" in result.output
    assert "missing" in result.output


def test_cli_tampered_and_truncated_files(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    submission = write_submission(tmp_path / "in", rsa_key)
    enc = submission / "submission.xml.enc"
    data = bytearray(enc.read_bytes())
    data[-1] ^= 0x55
    enc.write_bytes(bytes(data))
    result = run_decrypt(key_file(tmp_path, rsa_key), submission, tmp_path / "out")
    assert result.exit_code != 0
    assert "does not decrypt" in result.output
    assert files_under(tmp_path / "out") == []
    enc.write_bytes(bytes(data[:-5]))
    truncated = run_decrypt(key_file(tmp_path, rsa_key), submission, tmp_path / "out2")
    assert "truncated" in truncated.output


def test_swapped_media_order_is_detected(rsa_key: rsa.RSAPrivateKey) -> None:
    sealed = encrypt_submission(
        rsa_key.public_key(),
        "f",
        None,
        "uuid:s",
        XML,
        [("a.jpg", b"first" * 10), ("b.jpg", b"second" * 10)],
    )
    files = dict(sealed.files)
    files["a.jpg.enc"], files["b.jpg.enc"] = files["b.jpg.enc"], files["a.jpg.enc"]
    manifest = parse_manifest(sealed.manifest)
    # CFB with a wrong IV garbles only the first block, so the padding may still look right:
    # the signature is what catches a wrong order.
    try:
        result = Decryptor(rsa_key).decrypt_submission(
            manifest, lambda n: io.BytesIO(files[n]), None
        )
    except DecryptError:
        return
    assert result.signature == "invalid"


def test_wrong_key_object(rsa_key: rsa.RSAPrivateKey) -> None:
    sealed = encrypt_submission(rsa_key.public_key(), "f", None, "uuid:w", XML)
    with pytest.raises(WrongKeyError):
        Decryptor(generate_private_key()).decrypt_submission(
            parse_manifest(sealed.manifest), lambda n: io.BytesIO(dict(sealed.files)[n]), None
        )


@pytest.mark.parametrize(
    "manifest",
    [
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
        b'<data id="f" encrypted="yes">&b;</data>',
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<data id="f" encrypted="yes">&x;</data>',
        b"<data id='f' encrypted='yes'>" + b"<x>" * 10 + b"</data>",
        b"<data id='f'><base64EncryptedKey>a</base64EncryptedKey></data>",
    ],
)
def test_hostile_or_broken_manifests(manifest: bytes) -> None:
    with pytest.raises(ManifestError):
        parse_manifest(manifest)


def test_huge_manifest_is_refused_before_parsing() -> None:
    huge = b"<data id='f' encrypted='yes'>" + b" " * (50 * 1024 * 1024) + b"</data>"
    with pytest.raises(ManifestError, match="larger than"):
        parse_manifest(huge)


@pytest.mark.parametrize(
    "name", ["../x.enc", "/etc/passwd.enc", "a/b.enc", "..\\x.enc", ".enc", "x.jpg", "a\x00.enc"]
)
def test_path_like_file_names_are_refused(name: str) -> None:
    manifest = (
        f"<data id='f' encrypted='yes'><base64EncryptedKey>a</base64EncryptedKey>"
        f"<meta><instanceID>uuid:p</instanceID></meta><media><file>{name}</file>"
        "</media><encryptedXmlFile>submission.xml.enc</encryptedXmlFile></data>"
    )
    with pytest.raises(ManifestError):
        parse_manifest(manifest.replace("\x00", "&#0;").encode())


def test_missing_elements_are_named() -> None:
    base = "<data id='f' encrypted='yes'>{}</data>"
    with pytest.raises(ManifestError, match="base64EncryptedKey"):
        parse_manifest(base.format("").encode())
    with pytest.raises(ManifestError, match="instanceID"):
        parse_manifest(base.format("<base64EncryptedKey>a</base64EncryptedKey>").encode())


def test_pem_key_errors(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    protected = protect_private_key(rsa_key, b"one passphrase")
    with pytest.raises(KeyUnlockError, match="passphrase is needed"):
        unlock(protected, None)
    with pytest.raises(KeyUnlockError, match="does not unlock"):
        unlock(protected, b"another")
    with pytest.raises(KeyUnlockError, match="not a PEM"):
        unlock(b"hello", None)
    assert "PRIVATE" not in repr(unlock(protected, b"one passphrase"))


def test_keys_generate(tmp_path: Path) -> None:
    passphrase = tmp_path / "pass"
    passphrase.write_text("passphrase for keys", encoding="utf-8")
    out = tmp_path / "keys"
    result = CliRunner().invoke(
        main, ["keys", "generate", "--out", str(out), "--passphrase-file", str(passphrase)]
    )
    assert result.exit_code == 0, result.output
    private = (out / "private-key.pem").read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in private
    assert oct(os.stat(out / "private-key.pem").st_mode & 0o777) == "0o600"
    unlock(private, b"passphrase for keys")
    again = CliRunner().invoke(main, ["keys", "generate", "--out", str(out)])
    assert again.exit_code != 0
    assert "never overwritten" in again.output


def test_streaming_a_large_file_uses_constant_memory(tmp_path: Path) -> None:
    aes_key, size = os.urandom(32), 100 * 1024 * 1024
    iv = next(iv_sequence("uuid:big", aes_key))
    source = tmp_path / "big.enc"
    # Build the ciphertext block by block so the test itself stays small in memory.
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

    from crypto.decrypt import CFB

    encryptor = Cipher(algorithms.AES(aes_key), CFB(iv)).encryptor()
    padder = padding.PKCS7(128).padder()
    chunk = b"\x42" * (1024 * 1024)
    with source.open("wb") as handle:
        for _ in range(size // len(chunk)):
            handle.write(encryptor.update(padder.update(chunk)))
        handle.write(encryptor.update(padder.finalize()) + encryptor.finalize())
    tracemalloc.start()
    with source.open("rb") as src, (tmp_path / "big").open("wb") as dst:
        decrypt_stream(aes_key, iv, src, dst)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 20 * 1024 * 1024
    assert (tmp_path / "big").stat().st_size == size
    assert encrypt_file(aes_key, iv, b"") != b""
