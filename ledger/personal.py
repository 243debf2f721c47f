"""Personal data (issue #14): stored in events only sealed, and erased by deleting a key.

Each person (a subject: their user id) has a data key of their own, a random AES-256 key kept
in `personal_keys`, wrapped (AES-GCM) by the master key, which is derived from
LEDGER_SECRET_KEY and never stored. The personal fields of an event (ledger.contract's
`EventType.personal`) are sealed with the subject's key when the event is made: AES-GCM of the
field's JSON, bound to the subject and the field by its associated data. Erasing a person
replaces their key's row by a tombstone: every sealed copy, in every event and snapshot, in
the store and in any backup made from then on, is unreadable, and a reader shows the field's
erased value (`"[erased]"`). A tombstoned subject gets no new key, so nothing new is sealed for
an erased person.

Emails stay unique without being stored in plain text: the EmailClaim's id is a keyed hash of
the normalised email, its key the data key of the reserved subject EMAIL_INDEX (so rotating
the master key rewraps it and changes no claim id).

Readers never ask one key at a time: `KeyRing.lookup(conn)` gives a function that fetches the
keys of a batch's subjects in one query."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ledger import contract
from ledger.domain.errors import NotFoundError

ERASED = contract.ERASED
# A sealed value: this prefix, then base64url of nonce ‖ ciphertext.
SEALED_PREFIX = "pd1."
# The subject whose key hashes emails into EmailClaim ids.
EMAIL_INDEX = "ledger:email-index"
_NONCE_BYTES = 12
_MASTER_INFO = b"ledger personal data master key v1"

if TYPE_CHECKING:
    import psycopg

    Conn = psycopg.Connection[Any]
# A batch's subjects -> the data keys of those not erased (a subject never seen has none).
KeyLookup = Callable[[Collection[str]], Mapping[str, bytes]]


class SubjectErasedError(NotFoundError):
    """The person was erased: nothing new is recorded about them."""


class MasterKeyError(RuntimeError):
    """The configured secret is not the one the stored keys were wrapped with."""


@dataclass(frozen=True)
class MasterKey:
    """The key every data key is wrapped with, derived from the configured secret."""

    key: bytes

    @classmethod
    def from_secret(cls, secret: str) -> MasterKey:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_MASTER_INFO)
        return cls(hkdf.derive(secret.encode()))

    @property
    def id(self) -> str:
        """A fingerprint stored beside each wrapped key: which master key opens it."""
        return hashlib.sha256(b"ledger master key id" + self.key).hexdigest()[:16]

    def wrap(self, subject: str, data_key: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + AESGCM(self.key).encrypt(nonce, data_key, subject.encode())

    def unwrap(self, subject: str, wrapped: bytes) -> bytes:
        try:
            return AESGCM(self.key).decrypt(
                wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], subject.encode()
            )
        except InvalidTag:
            raise MasterKeyError(
                f"the data key of {subject} does not open with LEDGER_SECRET_KEY"
            ) from None


_SELECT = "SELECT subject_id, wrapped, master_id FROM personal_keys WHERE subject_id = ANY(%s)"
_CREATE = (
    "INSERT INTO personal_keys (subject_id, wrapped, master_id) VALUES (%s, %s, %s) "
    "ON CONFLICT (subject_id) DO NOTHING"
)
_ERASE = (
    "INSERT INTO personal_keys (subject_id, wrapped, master_id, erased_at) "
    "VALUES (%s, NULL, NULL, now()) ON CONFLICT (subject_id) DO UPDATE "
    "SET wrapped = NULL, master_id = NULL, erased_at = coalesce(personal_keys.erased_at, now())"
)


class KeyRing:
    """The data keys in `personal_keys`, opened with one master key."""

    def __init__(self, master: MasterKey) -> None:
        self.master = master

    def key_for(self, conn: Conn, subject: str) -> bytes:
        """The subject's data key, made on first use; SubjectErasedError once erased."""
        found = self._fetch(conn, [subject])
        if subject in found:
            key = found[subject]
            if key is None:
                raise SubjectErasedError(f"user {subject} was erased")
            return key
        wrapped = self.master.wrap(subject, AESGCM.generate_key(256))
        _execute(conn, _CREATE, (subject, wrapped, self.master.id))
        return self.key_for(conn, subject)

    def lookup(self, conn: Conn) -> KeyLookup:
        """Batch lookups on `conn`: the keys of the subjects that have one."""

        def keys(subjects: Collection[str]) -> Mapping[str, bytes]:
            found = self._fetch(conn, subjects)
            return {subject: key for subject, key in found.items() if key is not None}

        return keys

    def erase(self, conn: Conn, subject: str) -> None:
        """Leaves a tombstone in the subject's row: their sealed data can never be read."""
        _execute(conn, _ERASE, (subject,))

    def rewrap(self, conn: Conn, old: MasterKey) -> int:
        """Rewraps every data key wrapped with `old` with this ring's master key; how many."""
        rows = _execute(
            conn,
            "SELECT subject_id, wrapped FROM personal_keys WHERE master_id = %s FOR UPDATE",
            (old.id,),
        ).fetchall()
        for subject, wrapped in rows:
            key = old.unwrap(subject, bytes(wrapped))
            _execute(
                conn,
                "UPDATE personal_keys SET wrapped = %s, master_id = %s WHERE subject_id = %s",
                (self.master.wrap(subject, key), self.master.id, subject),
            )
        return len(rows)

    def _fetch(self, conn: Conn, subjects: Collection[str]) -> dict[str, bytes | None]:
        """Each subject with a row: its key, or None for a tombstone."""
        if not subjects:
            return {}
        found: dict[str, bytes | None] = {}
        for subject, wrapped, master_id in _execute(conn, _SELECT, (list(subjects),)).fetchall():
            if wrapped is None:
                found[subject] = None
                continue
            if master_id != self.master.id:
                raise MasterKeyError(
                    f"the data key of {subject} was wrapped by master key {master_id}, "
                    f"LEDGER_SECRET_KEY gives {self.master.id}: rotate with ledger users rotate-key"
                )
            found[subject] = self.master.unwrap(subject, bytes(wrapped))
        return found


def _execute(conn: Conn, query: str, params: tuple[Any, ...]) -> psycopg.Cursor[Any]:
    """`query` on `conn`, its rows as tuples whatever the connection's row factory."""
    # Here, not at the top: the domain's unit tests import this module without psycopg.
    from psycopg.rows import tuple_row

    return conn.cursor(row_factory=tuple_row).execute(query, params)


def seal(key: bytes, subject: str, field: str, value: Any) -> str:
    """`value` (any JSON value) sealed for `subject`'s `field`."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, orjson.dumps(value), _associated(subject, field))
    return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(key: bytes | AESGCM | None, subject: str, field: str, sealed: str, erased: Any) -> Any:
    """The value `seal` sealed, or `erased` when the subject's key is gone. A reader opening
    many fields of one subject passes `AESGCM(key)`, made once."""
    if key is None:
        return erased
    if not sealed.startswith(SEALED_PREFIX):
        raise ValueError(f"the {field} of {subject} is not sealed")
    cipher = AESGCM(key) if isinstance(key, bytes) else key
    raw = base64.urlsafe_b64decode(sealed[len(SEALED_PREFIX) :])
    plain = cipher.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _associated(subject, field))
    return orjson.loads(plain)


def _associated(subject: str, field: str) -> bytes:
    return f"{subject}/{field}".encode()


def email_digest(index_key: bytes, normalised_email: str) -> str:
    """The keyed hash an EmailClaim's id is made of."""
    return hmac.new(index_key, normalised_email.encode(), hashlib.sha256).hexdigest()


# The process's key ring: set by whatever starts with settings (the Ledger, the CLI), or made
# from the environment's settings on first use.
_ring: KeyRing | None = None


def configure(secret: str) -> KeyRing:
    """Makes the key ring of the master key `secret` gives the process's."""
    global _ring
    if _ring is None or _ring.master != MasterKey.from_secret(secret):
        _ring = KeyRing(MasterKey.from_secret(secret))
    return _ring


def ring() -> KeyRing:
    """The process's key ring."""
    if _ring is None:
        from ledger.settings import Settings

        return configure(Settings().secret_key)
    return _ring
