"""After ingest: decrypt (when encrypted), parse and project a submission into the case store.

Never destroys: a submission that cannot be processed now keeps its parts and gets a precise
`decrypt_reason` (which part is missing, the key is locked, a file does not decrypt); it is
tried again when another part arrives or by `fieldcase decrypt-pending`. The slow work (RSA,
AES) runs outside any transaction; the result is written in one short transaction that first
checks nobody else finished the same submission.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from crypto.errors import CryptoError
from crypto.manifest import parse_manifest
from forms.case_fields import describe
from forms.instance import XmlRefused, get_path, instance_data, parse_xml, repeat_paths_of_xform
from server import metrics
from server.blobs import BlobStore
from server.services import cases as case_service
from server.services.decrypting import decrypt_stored
from server.services.edits import link_edit
from server.services.feed_bodies import FeedBodies
from server.services.ingest import MANIFEST_PART, Received, StoredSubmission
from server.services.keyring import KeyRing
from server.store import submissions as submission_store
from server.store.db import Store
from server.store.models import FormVersion

log = logging.getLogger("server.processing")
PENDING_BATCH = 100


@dataclass(frozen=True)
class Outcome:
    """The state a submission ended in, and why when it is not decrypted."""

    submission_id: int
    state: str
    reason: str | None = None
    signature: str | None = None


class Processor:
    """Turns stored submissions into parsed data and cases."""

    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        keyring: KeyRing,
        match_secret: bytes | None = None,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.keyring = keyring
        # Keys the person match keys of projected cases (server/services/matching.py).
        self.match_secret = match_secret
        self._repeat_paths: dict[int, list[str]] = {}
        # Renders the OData feed's row bodies of what was just decrypted (None: not here).
        self.feed_bodies: FeedBodies | None = None

    def process(
        self,
        submission_id: int,
        stored: StoredSubmission | None = None,
        received: Received | None = None,
    ) -> Outcome:
        """Decrypt and project one submission if it can be done now; idempotent.

        `stored` is what ingest just recorded (and `received` what the request still holds);
        without them the submission is read back.
        """
        return self.process_batch([Job(submission_id, stored, received)])[0]

    def process_batch(self, jobs: Sequence[Job]) -> list[Outcome]:
        """Decrypt several submissions outside any transaction, then write them all and project
        their cases in one transaction; an outcome per job, in order.

        A submission that cannot be decrypted now keeps its parts and gets the reason; one that
        is already decrypted (by another worker, say) is left as it is.
        """
        started = time.perf_counter()
        known = {job.submission_id: job.stored for job in jobs if job.stored is not None}
        missing = [job.submission_id for job in jobs if job.stored is None]
        known.update(self._read_back(missing))
        results: dict[int, Outcome | Prepared] = {}
        for job in jobs:
            stored = known.get(job.submission_id)
            if stored is None:
                results[job.submission_id] = Outcome(job.submission_id, "missing")
            elif stored.decrypted:
                results[job.submission_id] = Outcome(job.submission_id, "decrypted")
            else:
                results[job.submission_id] = self._decrypt(job.submission_id, stored, job.received)
        written: set[int] = set()  # decrypted by the transaction below
        if any(
            not isinstance(result, Outcome) or result.state != "decrypted"
            for result in results.values()
        ):
            with self.store.transaction() as connection:
                written = self._write(connection, results)
        outcomes = [
            result for job in jobs if isinstance(result := results[job.submission_id], Outcome)
        ]
        for outcome in outcomes:
            # The state and the reason (a crypto or parser message, never a value).
            log.info(
                "submission processed submission_id=%d state=%s reason=%s",
                outcome.submission_id,
                outcome.state,
                outcome.reason or "-",
            )
        metrics.observe_processing(time.perf_counter() - started, [o.state for o in outcomes])
        if self.feed_bodies is not None:
            # After the transaction that wrote them (committed: nothing below can undo it),
            # so an analyst's first read of them sends stored bodies. Also those decrypted
            # as they were recorded (ingest's `prepare`): only rows without a body are
            # rendered (server/services/feed_bodies.py; it never raises). Those this batch
            # decrypted had none (its write of their data deleted any): not looked up.
            decrypted: dict[str, list[int]] = {}
            for outcome in outcomes:
                stored = known.get(outcome.submission_id)
                if outcome.state == "decrypted" and stored is not None:
                    decrypted.setdefault(stored.form_id, []).append(outcome.submission_id)
            if decrypted:
                self.feed_bodies.render_new(decrypted, written)
        return outcomes

    def _decrypt(
        self, submission_id: int, stored: StoredSubmission, received: Received | None
    ) -> Outcome | Prepared:
        try:
            xml, signature = self._plaintext(
                stored.parts, stored.encrypted, stored.key_id, received
            )
        except _NotYet as wait:
            return Outcome(submission_id, "pending", wait.reason)
        except CryptoError as exc:
            return Outcome(submission_id, "failed", str(exc))
        except Exception as exc:  # a part unreadable in the blob store, say
            return Outcome(submission_id, "failed", f"processing failed ({type(exc).__name__})")
        try:
            data = instance_data(parse_xml(xml), self._repeats_of(stored.form_version_id))
        except Exception as exc:  # XmlRefused from parse_xml: the decrypted XML is unreadable
            # Named "Problem" as when the reader raised the 400.2 Problem (the reason stays).
            name = "Problem" if isinstance(exc, XmlRefused) else type(exc).__name__
            return Outcome(submission_id, "failed", f"the decrypted XML cannot be read ({name})")
        return Prepared(stored.form_id, hashlib.sha256(xml).hexdigest(), data, signature)

    def _write(self, connection: Connection, results: dict[int, Outcome | Prepared]) -> set[int]:
        """Write every result into its submission (replacing each Prepared by its outcome);
        the ids of those it wrote decrypted (their data: no feed body is left of them)."""
        rows = submission_store.processing_rows(connection, list(results))
        to_project: list[ToProject] = []
        updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for submission_id, result in list(results.items()):
            row = rows.get(submission_id)
            if row is None or row.decrypt_state == "decrypted":
                if isinstance(result, Prepared):
                    results[submission_id] = Outcome(
                        submission_id, "decrypted", signature=result.signature
                    )
                continue
            if isinstance(result, Outcome):
                if result.state in ("pending", "failed"):
                    values = {"decrypt_state": result.state, "decrypt_reason": result.reason}
                else:
                    continue
            else:
                values = result.columns
                to_project.append((submission_id, row.form_id, row.deprecated_id, result))
            updates.setdefault(tuple(values), []).append({"b_id": submission_id, **values})
        for same_columns in updates.values():
            submission_store.set_columns_many(connection, same_columns)
        written = set()
        for outcome in self.project_batch(connection, to_project) if to_project else []:
            results[outcome.submission_id] = outcome
            if outcome.state == "decrypted":
                written.add(outcome.submission_id)
        return written

    def _read_back(self, ids: list[int]) -> dict[int, StoredSubmission]:
        """What processing needs of submissions recorded earlier (a sweep, decrypt-pending)."""
        if not ids:
            return {}
        with self.store.read() as connection:
            rows = submission_store.to_process(connection, ids)
            parts = submission_store.part_digests(connection, ids)
        return {
            row.id: StoredSubmission(
                row.xml_form_id,
                row.form_version_id,
                row.key_id,
                row.encrypted,
                parts.get(row.id, {}),
                row.decrypt_state == "decrypted",
            )
            for row in rows
        }

    def _repeats_of(self, form_version_id: int) -> list[str]:
        if form_version_id not in self._repeat_paths:
            with self.store.reader() as session:
                version = session.get(FormVersion, form_version_id)
                if version is None:
                    raise LookupError(form_version_id)
                return self._repeats(version)
        return self._repeat_paths[form_version_id]

    def _repeats(self, version: FormVersion) -> list[str]:
        if version.id not in self._repeat_paths:
            self._repeat_paths[version.id] = repeat_paths_of_xform(version.xml)
        return self._repeat_paths[version.id]

    def _plaintext(
        self,
        parts: dict[str, str],
        encrypted: bool,
        key_id: int | None,
        received: Received | None = None,
    ) -> tuple[bytes, str | None]:
        manifest_bytes = received.xml if received else self.blobs.read(parts[MANIFEST_PART])
        if not encrypted:
            return manifest_bytes, None
        manifest = (received.manifest if received else None) or parse_manifest(manifest_bytes)
        missing = [name for name in (*manifest.media, manifest.xml_file) if name not in parts]
        if missing:
            raise _NotYet(f"waiting for part {missing[0]}")
        key_ids = [key_id] if key_id is not None else self.keyring.all_key_ids()
        if self.keyring.locked:
            raise _NotYet("the server key is locked (FIELDCASE_KEY_PASSPHRASE is not set)")
        decryptors = [d for k in key_ids if (d := self.keyring.decryptor(k)) is not None]
        if not decryptors:
            raise _NotYet("the server key does not unlock with the configured passphrase")
        return decrypt_stored(
            decryptors, manifest, parts, self.blobs, received.contents if received else None
        )

    def prepare(
        self,
        form_id: str,
        form_version_id: int,
        key_id: int | None,
        encrypted: bool,
        parts: dict[str, str],
        received: Received | None = None,
    ) -> Prepared | None:
        """Decrypt and parse a complete submission before it is recorded, or None.

        None whenever it cannot be done now (a part missing, key locked, any error): the
        submission is then recorded as received and processed the usual way.
        """
        try:
            xml, signature = self._plaintext(parts, encrypted, key_id, received)
            data = instance_data(parse_xml(xml), self._repeats_of(form_version_id))
        except Exception:
            return None
        return Prepared(form_id, hashlib.sha256(xml).hexdigest(), data, signature)

    def project(
        self,
        connection: Connection,
        submission_id: int,
        form_pk: int,
        deprecated_id: str | None,
        prepared: Prepared,
    ) -> Outcome:
        """Project a submission whose decrypted columns are written into its case.

        In a savepoint: if the projection fails, the submission keeps its data and is marked
        failed with the reason, and what the caller records is kept.
        """
        signature = prepared.signature
        try:
            with connection.begin_nested():
                codes = self._edit_links(
                    connection, submission_id, form_pk, deprecated_id, prepared
                )
                case_service.project_cases(connection, codes, self.match_secret)
                if not prepared.described["case_code"]:
                    case_service.judge_outside_cases(connection, [submission_id])
        except DBAPIError:
            raise  # the database itself failed: the caller's whole transaction is lost
        except Exception as exc:
            log.error("projecting submission %s failed: %s", submission_id, type(exc).__name__)
            reason = f"projection failed ({type(exc).__name__})"
            submission_store.set_columns(
                connection, submission_id, {"decrypt_state": "failed", "decrypt_reason": reason}
            )
            return Outcome(submission_id, "failed", reason, signature)
        return Outcome(submission_id, "decrypted", prepared.columns["decrypt_reason"], signature)

    def project_batch(self, connection: Connection, items: Sequence[ToProject]) -> list[Outcome]:
        """`project` for several submissions at once: one savepoint and one projection of all
        their cases; if that fails, each is projected on its own so only the failing one is
        marked failed."""
        try:
            with connection.begin_nested():
                codes: set[str] = set()
                for item in items:
                    codes |= self._edit_links(connection, *item)
                case_service.project_cases(connection, codes, self.match_secret)
                case_service.judge_outside_cases(
                    connection,
                    [item[0] for item in items if not item[3].described["case_code"]],
                )
        except DBAPIError:
            raise
        except Exception:
            return [self.project(connection, *item) for item in items]
        return [
            Outcome(
                submission_id,
                "decrypted",
                prepared.columns["decrypt_reason"],
                prepared.signature,
            )
            for submission_id, _form, _deprecated, prepared in items
        ]

    @staticmethod
    def _edit_links(
        connection: Connection,
        submission_id: int,
        form_pk: int,
        deprecated_id: str | None,
        prepared: Prepared,
    ) -> set[str]:
        """Link an edit to the submission it replaces (only within one unit: see
        server/services/edits.py); the cases to project again."""
        case_code = prepared.described["case_code"]
        codes = {case_code} if case_code else set()
        named = get_path(prepared.data, "deprecatedID")
        if not deprecated_id and isinstance(named, str) and named:
            # An encrypted edit names the submission it replaces only inside its XML.
            deprecated_id = named
            submission_store.set_columns(connection, submission_id, {"deprecated_id": named})
        if deprecated_id:
            unit_code = submission_store.unit_code_of(connection, submission_id)
            left = link_edit(connection, submission_id, form_pk, deprecated_id, unit_code)
            if left:
                codes.add(left)
        return codes

    def mark_failed(self, submission_id: int, reason: str) -> None:
        """Record why processing stopped; the parts stay and it can be tried again."""
        with self.store.transaction() as connection:
            row = submission_store.processing_rows(connection, [submission_id]).get(submission_id)
            if row is not None and row.decrypt_state != "decrypted":
                submission_store.set_columns(
                    connection, submission_id, {"decrypt_state": "failed", "decrypt_reason": reason}
                )

    def process_pending(self) -> list[Outcome]:
        """Try every submission not decrypted yet."""
        with self.store.reader() as session:
            ids = submission_store.pending_ids(session)
        outcomes = []
        for start in range(0, len(ids), PENDING_BATCH):
            batch = ids[start : start + PENDING_BATCH]
            try:
                outcomes += self.process_batch([Job(submission_id) for submission_id in batch])
                continue
            except Exception as exc:  # tried again one submission at a time
                log.error("processing a batch failed: %s", type(exc).__name__)
            for submission_id in batch:
                try:
                    outcomes.append(self.process(submission_id))
                except Exception as exc:  # one bad submission must not stop the others
                    reason = f"processing failed ({type(exc).__name__})"
                    self.mark_failed(submission_id, reason)
                    outcomes.append(Outcome(submission_id, "failed", reason))
        return outcomes


@dataclass
class Prepared:
    """A submission decrypted and parsed, ready to be written."""

    form_id: str
    xml_sha256: str
    data: dict[str, Any]
    signature: str | None

    @cached_property
    def described(self) -> dict[str, Any]:
        """The columns the data gives (case_code, units, event date)."""
        return describe(self.form_id, self.data)

    @cached_property
    def columns(self) -> dict[str, Any]:
        """The submission columns a successful decryption writes.

        Not its units: a submission is seen in its collector's unit, set when it was
        received, whatever the answers say (the unit rule checks the answers against it).
        """
        described = self.described
        return {
            "decrypt_state": "decrypted",
            "decrypt_reason": (
                "the signature does not match: review before use"
                if self.signature == "invalid"
                else None
            ),
            "signature": self.signature,
            "data": self.data,
            "xml_sha256": self.xml_sha256,
            "case_code": described["case_code"],
            "event_date": described["event_date"],
        }


# (submission id, form id, deprecatedID known at ingest, prepared data)
ToProject = tuple[int, int, "str | None", Prepared]


@dataclass(frozen=True)
class Job:
    """A submission to process, with what its request still holds when there is one."""

    submission_id: int
    stored: StoredSubmission | None = None
    received: Received | None = None


class _NotYet(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
