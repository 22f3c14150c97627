"""Subject keys: how the hub names a child in its audit log and register without naming them.

A subject key is HMAC-SHA256, under a secret of the hub's own, of one strong identifier
(``nhs_number:9434765919``). The same child gets the same keys everywhere, so a subject access
request ("who has seen my information?") finds every disclosure by computing the keys of the
child's identifiers; without the secret a key cannot be reversed by trying every NHS number,
as a plain hash could. The secret is made once, stored in the store sealed with the key ring
(so every API and worker process shares it and it survives key rotation), and never logged.
"""

from __future__ import annotations

import hmac
import secrets
import threading

from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from hub.canonical import utcnow
from hub.canonical.people import ChildIdentifiers
from hub.crypto import KeyRing, Sealed
from hub.store.database import Database
from hub.store.tables import HubSecret

SUBJECT_KEY_ROW = "subject-key"
SCHEMES = ("nhs_number", "upn", "directory_id", "la_child_id", "caf_child_id")


def normalise(scheme: str, value: str) -> str:
    """One spelling per identifier: NHS numbers without spaces, UPNs in capitals."""
    value = value.strip()
    if scheme == "nhs_number":
        return "".join(value.split())
    if scheme == "upn":
        return value.upper()
    return value


class SubjectKeys:
    """Computes subject keys; loads (or on first use creates) the hub's secret from the store."""

    def __init__(self, database: Database, keyring: KeyRing, secret: bytes | None = None):
        self.database = database
        self.keyring = keyring
        self._secret = secret
        self._lock = threading.Lock()

    def load(self) -> bool:
        """Load the secret now if the schema has its table; True when loaded.

        Called at start-up, outside any transaction: on SQLite a first use inside a write
        transaction would wait on itself.
        """
        if self._secret is not None:
            return True
        if not inspect(self.database.engine).has_table(HubSecret.__tablename__):
            return False
        self._load_or_create()
        return True

    def _load_or_create(self) -> bytes:
        with self._lock:
            if self._secret is not None:
                return self._secret
            try:
                with self.database.transaction() as session:
                    row = session.get(HubSecret, SUBJECT_KEY_ROW, with_for_update=True)
                    if row is None:
                        secret = secrets.token_bytes(32)
                        sealed = self.keyring.seal(secret, f"hub-secret:{SUBJECT_KEY_ROW}")
                        session.add(HubSecret(name=SUBJECT_KEY_ROW, created_at=utcnow(),
                                              key_id=sealed.key_id, secret_sealed=sealed.blob))
                    else:
                        secret = self._open(row)
            except IntegrityError:
                # another process created it first; read theirs
                with self.database.transaction() as session:
                    secret = self._open(session.get(HubSecret, SUBJECT_KEY_ROW, with_for_update=True))
            self._secret = secret
            return secret

    def _open(self, row: HubSecret) -> bytes:
        secret = self.keyring.open(Sealed(row.key_id, row.secret_sealed), f"hub-secret:{SUBJECT_KEY_ROW}")
        if row.key_id != self.keyring.active_key_id:
            resealed = self.keyring.seal(secret, f"hub-secret:{SUBJECT_KEY_ROW}")
            row.key_id, row.secret_sealed = resealed.key_id, resealed.blob
        return secret

    @property
    def secret(self) -> bytes:
        return self._secret if self._secret is not None else self._load_or_create()

    def key(self, scheme: str, value: str) -> str:
        if scheme not in SCHEMES:
            raise ValueError(f"{scheme!r} is not a strong child identifier ({', '.join(SCHEMES)})")
        message = f"{scheme}:{normalise(scheme, value)}".encode()
        return hmac.digest(self.secret, message, "sha256").hex()

    def keys_for(self, identifiers: ChildIdentifiers | None) -> tuple[str, ...]:
        """The subject keys of every strong identifier the child record carries."""
        if identifiers is None:
            return ()
        return tuple(
            self.key(scheme, value) for scheme in SCHEMES
            if (value := getattr(identifiers, scheme)) is not None and value.strip()
        )

    def keys_of(self, values: dict[str, str | None]) -> tuple[str, ...]:
        """Subject keys from ``{scheme: value}`` as a caller names a child (API, CLI)."""
        return tuple(self.key(scheme, value) for scheme, value in values.items() if value)
