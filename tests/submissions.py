"""Encrypted submissions for tests, made as ODK Collect makes them (crypto.encrypt)."""

from __future__ import annotations

from crypto.encrypt import encrypt_submission
from crypto.keys import load_public_key
from tests.factories import plain_instance


def encrypted_instance(
    public_key_b64: str,
    form_id: str = "vt_test",
    version: str = "1",
    instance_id: str = "uuid:x",
    media: list[tuple[str, bytes]] | None = None,
    **fields: object,
) -> tuple[bytes, list[tuple[str, bytes]]]:
    """(manifest XML, [(NAME.enc, bytes)...]) for a filled-in `simple_xform` instance."""
    xml = plain_instance(form_id=form_id, version=version, instance_id=instance_id, **fields)  # type: ignore[arg-type]
    sealed = encrypt_submission(
        load_public_key(public_key_b64),
        form_id,
        version,
        instance_id,
        xml,
        media or [(f"photo-{instance_id[-4:]}.jpg", b"\xff\xd8jpeg")],
    )
    return sealed.manifest, list(sealed.files)
