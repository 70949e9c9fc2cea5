"""Every real vector decrypts byte for byte with the expected signature result."""

from __future__ import annotations

import base64
import io
import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import pytest

from crypto.decrypt import DecryptResult, iv_sequence
from crypto.encrypt import encrypt_file
from crypto.errors import KeyUnlockError
from crypto.keys import unlock
from crypto.manifest import parse_manifest


def decrypt_dir(
    submission: Path, key: Path, passphrase: bytes | None = None
) -> tuple[DecryptResult, dict[str, bytes]]:
    decryptor = unlock(key.read_bytes(), passphrase)
    manifest = parse_manifest((submission / "submission.xml").read_bytes())
    out: dict[str, bytes] = {}

    @contextmanager
    def write(name: str) -> Iterator[BinaryIO]:
        buffer = io.BytesIO()
        yield buffer
        out[name] = buffer.getvalue()

    def open_part(name: str) -> BinaryIO | None:
        path = submission / name
        return path.open("rb") if path.exists() else None

    return decryptor.decrypt_submission(manifest, open_part, write), out


CASES = [
    # (submission dir, key, expected plaintexts dir, signature)
    (
        "briefcase/encrypted-form/submission",
        "briefcase/encrypted-form/private-key.pem",
        None,
        "valid",
    ),
    (
        "briefcase/encrypted-form-media/submission",
        "briefcase/encrypted-form-media/private-key.pem",
        "briefcase/encrypted-form-media/expected-media",
        "valid",
    ),
    (
        "enketo/basic-media/submission",
        "enketo/private-key.pem",
        "enketo/basic-media/expected",
        "valid",
    ),
    (
        "enketo/unicode-new/submission",
        "enketo/private-key.pem",
        "enketo/unicode-new/expected",
        "valid",
    ),
    # Pre-2025 Enketo hashed non-ASCII text wrongly: decrypts, signature invalid by design.
    (
        "enketo/unicode-old/submission",
        "enketo/private-key.pem",
        "enketo/unicode-old/expected",
        "invalid",
    ),
    (
        "enketo/many-files-no-version/submission",
        "enketo/private-key.pem",
        "enketo/many-files-no-version/expected",
        "valid",
    ),
]


@pytest.mark.parametrize(
    ("submission", "key", "expected", "signature"), CASES, ids=[c[0].split("/")[1] for c in CASES]
)
def test_vector_decrypts(
    vectors: Path, submission: str, key: str, expected: str | None, signature: str
) -> None:
    result, out = decrypt_dir(vectors / submission, vectors / key)
    assert result.signature == signature
    assert result.missing == ()
    if expected:
        expected_dir = vectors / expected
        names = sorted(p.name for p in expected_dir.iterdir())
        # Briefcase's expected folder holds the media only; Enketo's holds the XML too.
        assert set(out) - set(names) <= {"submission.xml"}
        assert set(names) <= set(out)
        for name in names:
            assert out[name] == (expected_dir / name).read_bytes(), name


def test_briefcase_media_follow_the_manifest_order(vectors: Path) -> None:
    manifest = parse_manifest(
        (vectors / "briefcase/encrypted-form-media/submission/submission.xml").read_bytes()
    )
    assert manifest.media == ("1538040007350.jpg.enc", "1538040019351.jpg.enc")


def test_many_files_wrap_the_iv_counter_and_keep_the_empty_file(vectors: Path) -> None:
    submission = vectors / "enketo/many-files-no-version/submission"
    manifest = parse_manifest((submission / "submission.xml").read_bytes())
    assert manifest.version is None
    assert len(manifest.media) == 18
    result, out = decrypt_dir(submission, vectors / "enketo/private-key.pem")
    assert b"" in out.values()
    assert result.written[-1] == "submission.xml"


def test_central_vector_with_missing_media(vectors: Path) -> None:
    folder = vectors / "central-backend/collect-1.22.4-two"
    result, out = decrypt_dir(folder, vectors / "central-backend/private-key.pem")
    assert result.missing == ("1561432532482.jpg.enc",)
    assert result.signature == "unverifiable"
    assert out["submission.xml"] == (folder / "expected-submission.xml").read_bytes()


def test_central_key_and_iv_vectors(vectors: Path) -> None:
    data = json.loads((vectors / "central-backend/key-and-iv-vectors.json").read_text())
    decryptor = unlock((vectors / "central-backend/private-key.pem").read_bytes(), None)
    aes_key = decryptor.unwrap_key(data["base64EncryptedKey"])
    assert base64.b64encode(aes_key).decode() == data["expected_aes_key_b64"]
    iv_test = data["iv_test"]
    ivs = list(
        itertools.islice(
            iv_sequence(iv_test["instanceId"], base64.b64decode(iv_test["aes_key_b64"])), 32
        )
    )
    for index, expected in iv_test["expected_ivs_hex_by_index"].items():
        assert ivs[int(index)].hex() == expected


@pytest.mark.parametrize("name", ["example0", "example1"])
def test_central_managed_keys(vectors: Path, name: str) -> None:
    archive = (vectors / f"central-backend/managed-keys/{name}.json").read_bytes()
    decryptor = unlock(archive, b"supersecret")
    pubkey_pem = base64.b64decode(json.loads(archive)["pubkey"])
    from crypto.keys import load_public_key, public_key_base64

    assert public_key_base64(decryptor.public_key) == public_key_base64(load_public_key(pubkey_pem))
    with pytest.raises(KeyUnlockError, match="passphrase"):
        unlock(archive, b"very-wrong")


def test_encryptor_reproduces_collect_ciphertext(vectors: Path) -> None:
    """Re-encrypting a vector's plaintext with its key and IV gives its bytes exactly."""
    folder = vectors / "briefcase/encrypted-form-media/submission"
    manifest = parse_manifest((folder / "submission.xml").read_bytes())
    decryptor = unlock(
        (vectors / "briefcase/encrypted-form-media/private-key.pem").read_bytes(), None
    )
    aes_key = decryptor.unwrap_key(manifest.encrypted_key)
    _, out = decrypt_dir(folder, vectors / "briefcase/encrypted-form-media/private-key.pem")
    ivs = iv_sequence(manifest.instance_id, aes_key)
    for enc_name in manifest.files:
        plain = out[enc_name.removesuffix(".enc").replace("submission.xml", "submission.xml")]
        assert encrypt_file(aes_key, next(ivs), plain) == (folder / enc_name).read_bytes()
