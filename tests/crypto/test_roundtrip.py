"""Encrypt as Collect does, then decrypt: random XML, Vietnamese text, 0..40 files."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.decrypt import Decryptor
from crypto.encrypt import encrypt_submission
from crypto.manifest import parse_manifest

names = st.from_regex(r"[a-z0-9_]{1,12}\.(jpg|m4a|csv)", fullmatch=True)
texts = st.text(alphabet=st.sampled_from("aăâđêôơưAĂÂĐÊÔƠƯ ếởữỵ<&>\"'\n"), max_size=200)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    body=texts,
    media=st.lists(
        st.tuples(names, st.binary(max_size=300)), max_size=40, unique_by=lambda item: item[0]
    ),
    version=st.one_of(st.none(), st.from_regex(r"[0-9a-z]{1,10}", fullmatch=True)),
)
def test_round_trip(
    rsa_key: rsa.RSAPrivateKey, body: str, media: list[tuple[str, bytes]], version: str | None
) -> None:
    from xml.sax.saxutils import escape

    xml = f"<data id='thử'><ghi_chu>{escape(body)}</ghi_chu></data>".encode()
    sealed = encrypt_submission(rsa_key.public_key(), "thử_nghiệm", version, "uuid:rt", xml, media)
    manifest = parse_manifest(sealed.manifest)
    assert manifest.version == version
    files = dict(sealed.files)
    out: dict[str, bytes] = {}

    @contextmanager
    def write(name: str) -> Iterator[BinaryIO]:
        buffer = io.BytesIO()
        yield buffer
        out[name] = buffer.getvalue()

    result = Decryptor(rsa_key).decrypt_submission(
        manifest, lambda name: io.BytesIO(files[name]), write
    )
    assert result.signature == "valid"
    assert out.pop("submission.xml") == xml
    assert out == dict(media)
