"""Submissions decrypted per second, next to this machine's raw RSA-2048 private-key rate.

Each submission costs two RSA private-key operations (key unwrap, signature), so the ceiling is
RSA rate / 2; the target is at least 40% of that. Run: .venv/bin/python bench/decrypt.py
"""

from __future__ import annotations

import argparse
import io
import os
import time

from crypto.decrypt import OAEP
from crypto.encrypt import encrypt_submission
from crypto.keys import generate_private_key, protect_private_key, unlock
from crypto.manifest import parse_manifest

XML = (
    "<data id='vt01_intake' version='1'><ghi_chu>"
    + "Nguyễn Thị Lan " * 40
    + "</ghi_chu><meta><instanceID>uuid:b</instanceID></meta></data>"
).encode()


def rsa_rate(seconds: float) -> float:
    key = generate_private_key()
    wrapped = key.public_key().encrypt(os.urandom(32), OAEP)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        key.decrypt(wrapped, OAEP)
        count += 1
    return count / (time.perf_counter() - start)


def decrypt_rate(seconds: float) -> float:
    key = generate_private_key()
    decryptor = unlock(protect_private_key(key, b"bench"), b"bench")
    sealed = [
        encrypt_submission(
            key.public_key(),
            "vt01_intake",
            "1",
            f"uuid:{n}",
            XML,
            [("photo.jpg", os.urandom(20_000))],
        )
        for n in range(50)
    ]
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        item = sealed[count % len(sealed)]
        files = dict(item.files)
        manifest = parse_manifest(item.manifest)
        result = decryptor.decrypt_submission(
            manifest, lambda n, files=files: io.BytesIO(files[n]), None
        )
        assert result.signature == "valid"
        count += 1
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    rsa = rsa_rate(args.seconds)
    subs = decrypt_rate(args.seconds)
    ceiling = rsa / 2
    print(f"RSA-2048 private-key operations/s: {rsa:.0f}")
    print(f"submissions decrypted/s (manifest, unwrap, XML + 20 kB media, signature): {subs:.0f}")
    print(f"ratio to RSA rate / 2: {subs / ceiling:.0%} (target >= 40%)")


if __name__ == "__main__":
    main()
