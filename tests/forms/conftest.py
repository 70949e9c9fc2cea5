"""The eight forms compiled once per session, with ODK Validate."""

from __future__ import annotations

import shutil

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from crypto.keys import generate_private_key, public_key_base64
from forms.compiler import CompiledForm, compile_all


@pytest.fixture(scope="session")
def form_key() -> rsa.RSAPrivateKey:
    """The key the forms are encrypted for."""
    return generate_private_key()


@pytest.fixture(scope="session")
def compiled(form_key: rsa.RSAPrivateKey) -> dict[str, CompiledForm]:
    """Every form by id, compiled and validated."""
    if shutil.which("java") is None:
        pytest.skip("java is needed by ODK Validate")
    return {f.form_id: f for f in compile_all(public_key=public_key_base64(form_key))}
