"""The real vectors (../shared/vectors) and one RSA key per session (generation is slow)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from crypto.keys import generate_private_key

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors"


@pytest.fixture(scope="session")
def vectors() -> Path:
    """The vectors folder, or a skip saying why."""
    if not VECTORS.is_dir():
        pytest.skip(f"{VECTORS} is absent: the vector tests need ../shared beside the project")
    return VECTORS


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    """A 2048-bit key for round trips."""
    return generate_private_key()
