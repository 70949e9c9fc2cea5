"""`fieldcase init`: make a data directory ready to serve, once.

Running it again on an initialised data directory changes nothing and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from crypto import keys as crypto_keys
from server.auditseal import seal_for
from server.config import Config
from server.datadir import ensure_data_dir, secret_key, write_private_file
from server.errors import ConfigError
from server.i18n_text import vi_en
from server.security.passwords import generate_password, hash_password, password_problem
from server.store import audit
from server.store import keys as key_store
from server.store import users as user_store
from server.store.db import Store


@dataclass
class InitResult:
    """What `init` did; `admin_password` is set only when it was generated here."""

    already_initialised: bool
    admin_username: str | None = None
    admin_password: str | None = None
    key_fingerprint: str | None = None


def initialise(config: Config, store: Store) -> InitResult:
    """Migrate the store, make the server key pair and the first admin, if not done yet."""
    ensure_data_dir(config)
    store.migrate()
    secret_key(config)
    if store.audit_seal is None:
        store.attach_audit(seal_for(config))  # makes the audit key once, like the secret
    with store.session() as session:
        if user_store.count_admins(session) and key_store.active(session):
            return InitResult(already_initialised=True)

        result = InitResult(already_initialised=False)
        if not user_store.count_admins(session) and config.admin_password:
            # Checked before anything is made, so a refused password leaves nothing behind.
            problem = password_problem(config.admin_password, config.admin_username)
            if problem:
                raise ConfigError(f"FIELDCASE_ADMIN_PASSWORD: {vi_en(problem)}")
        if key_store.active(session) is None:
            passphrase = config.key_passphrase
            if not passphrase:
                raise ConfigError(
                    "FIELDCASE_KEY_PASSPHRASE (or FIELDCASE_KEY_PASSPHRASE_FILE) must be set: "
                    "it protects the server's private key and is needed to decrypt submissions."
                )
            private_key = crypto_keys.generate_private_key()
            public_b64 = crypto_keys.public_key_base64(private_key)
            fingerprint = crypto_keys.fingerprint(private_key.public_key())
            protected = crypto_keys.protect_private_key(private_key, passphrase.encode("utf-8"))
            key_store.add(session, fingerprint, public_b64, protected, private_key.key_size)
            # A copy beside the database, so the key survives a lost database too.
            write_private_file(
                config.key_dir / f"server-key-{fingerprint[:16]}.pem", protected.decode("ascii")
            )
            result.key_fingerprint = fingerprint
            audit.append(session, "system", "key.generate", f"key:{fingerprint[:16]}")

        if not user_store.count_admins(session):
            username = config.admin_username
            password = config.admin_password
            if not password:
                password = generate_password(username)
                result.admin_password = password
            if user_store.by_username(session, username) is not None:
                raise ConfigError(f"a user named {username!r} exists but is not an admin")
            user_store.add(session, username, hash_password(password), "admin")
            result.admin_username = username
            audit.append(session, "system", "user.add", f"user:{username}", {"role": "admin"})
        return result
