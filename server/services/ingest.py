"""Receiving a submission from ODK Collect: nothing acknowledged is ever lost.

The order of work is what makes the guarantee:
1. everything that can refuse the request from its headers and XML is checked first (XML,
   form, version, assignment, file names); a refused request records nothing (a later refusal,
   such as a part over the size limit, can leave blobs no row names);
2. every part is written to the blob store: large ones durably at once, small ones staged;
3. one transaction records the submission and its parts and commits (a transaction shared with
   the other requests of the process waiting at that moment: server/services/recording.py);
   just before it, the staged parts of all those requests are settled (made durable at their
   addresses, server/blobs.py);
4. only then is 201 (new) or 202 (already known) answered; decryption runs after that (in the
   request, or on the background thread under `fieldcase serve`) and can never lose what step 3
   committed.

OpenRosa rules kept here, with the reasons:
- a submission is known by (form, instanceID); the same manifest again is the same submission
  (Collect resends after a lost response, and repeats the manifest in every POST of a split
  upload), answered 202, and the parts not seen before are added;
- a different manifest under a known instanceID is 409 and changes nothing (two phones, or an
  edited form re-sent without deprecatedID: never silently pick one), except a resend: a
  browser client (Enketo online) rebuilds the submission on each retry, so `end` changes and
  an encrypted one carries a new key. When the new POST decrypts to the stored submission's
  data less the form metadata (`RESEND_METADATA`: start, end, deviceid, ...), it is the same
  submission: 202, and the first copy is kept as it is (`_same_submission`). Anything else,
  or content that cannot be compared now (key locked, first copy not decrypted yet), is 409,
  whose message says the earlier copy is safe;
- a plain submission's deprecatedID makes a new submission that supersedes the old one, which
  is kept; for encrypted submissions the same link is made once the XML is decrypted;
- form ids are compared after NFC normalisation (older Collect sent them decomposed).
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO, Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crypto.errors import ManifestError
from crypto.manifest import MAX_MANIFEST_BYTES, Manifest, manifest_from_root
from crypto.names import is_plain_name
from forms.instance import XmlRefused, nfc, parse_xml, plain_header
from server import errors
from server.blobs import BlobStore, BlobStoreUnavailable, BlobTooLarge, Staged
from server.clock import utcnow
from server.services.recording import (
    BatchProjection,
    CredentialWatch,
    GroupCommit,
    NewSubmission,
)
from server.store import forms as form_store
from server.store import submissions as submission_store
from server.store.db import Store
from server.store.models import SubmissionPart

log = logging.getLogger("server.ingest")

MANIFEST_PART = "xml_submission_file"


@dataclass
class IncomingPart:
    """One file of the multipart body."""

    name: str
    stream: BinaryIO
    content_type: str


class Sender(Protocol):
    """Who sends: a collector, known by its id (an ORM Collector or a lighter reference)."""

    @property
    def id(self) -> int:
        """The collector's id."""
        ...


@dataclass(frozen=True)
class Received:
    """What the request already holds, so processing need not read it back from the store."""

    xml: bytes
    manifest: Manifest | None
    contents: dict[str, bytes]  # parts small enough to have stayed in memory, by name


class Processing(BatchProjection, Protocol):
    """What ingest needs of processing to record a complete submission already decrypted:
    `prepare` it before recording, then project it (`BatchProjection`) once inserted."""

    def prepare(
        self,
        form_id: str,
        form_version_id: int,
        key_id: int | None,
        encrypted: bool,
        parts: dict[str, str],
        received: Received | None = None,
    ) -> Any:
        """Decrypted and parsed data, or None when it cannot be done now."""
        ...


@dataclass(frozen=True)
class StoredSubmission:
    """What ingest knows of the submission it recorded, so processing need not read it back."""

    form_id: str
    form_version_id: int
    key_id: int | None
    encrypted: bool
    parts: dict[str, str]  # every part recorded so far: name -> blob sha256
    decrypted: bool


@dataclass(frozen=True)
class IngestResult:
    """What to answer: 201 for a new submission, 202 for one already known."""

    status: int
    submission_id: int
    instance_id: str
    new_parts: int
    stored: StoredSubmission | None = None
    # What the request held (small parts' bytes), for processing after the answer.
    received: Received | None = field(default=None, repr=False)


@dataclass(frozen=True)
class _Header:
    form_id: str
    version: str | None
    instance_id: str
    deprecated_id: str | None
    encrypted: bool
    expected_parts: frozenset[str] | None  # None: any media name (plain submissions)
    manifest: Manifest | None = None  # the encrypted submission's manifest, already parsed


def check_file_name(name: str) -> str:
    """A part's file name must be a plain name (crypto/names.py: no path, no control, format or
    bidi characters) other than the manifest's."""
    if not is_plain_name(name) or name == MANIFEST_PART:
        raise errors.hostile_file_name(name)
    return name


# The store's instance_id and deprecated_id columns hold this many characters.
MAX_INSTANCE_ID_CHARS = 255


def _read_header(xml: bytes) -> _Header:
    header = _parse_header(xml)
    for what, value in (("instanceID", header.instance_id), ("deprecatedID", header.deprecated_id)):
        if value is not None and len(value) > MAX_INSTANCE_ID_CHARS:
            raise errors.malformed_xml(
                f"meta/{what} is longer than {MAX_INSTANCE_ID_CHARS} characters"
            )
    return header


def _parse_header(xml: bytes) -> _Header:
    try:
        root = parse_xml(xml)
    except XmlRefused as exc:
        raise errors.malformed_xml(exc.reason) from None
    if root.get("encrypted", "").strip().lower() == "yes":
        if len(xml) > MAX_MANIFEST_BYTES:
            raise errors.malformed_xml(f"manifest larger than {MAX_MANIFEST_BYTES} bytes")
        try:
            manifest = manifest_from_root(root)
        except ManifestError as exc:
            raise errors.malformed_xml(str(exc)) from None
        return _Header(
            form_id=nfc(manifest.form_id),
            version=manifest.version,
            instance_id=manifest.instance_id,
            deprecated_id=None,
            encrypted=True,
            expected_parts=frozenset([*manifest.media, manifest.xml_file]),
            manifest=manifest,
        )
    try:
        header = plain_header(root)
    except XmlRefused as exc:
        raise errors.malformed_xml(exc.reason) from None
    return _Header(
        header.form_id,
        header.version,
        header.instance_id,
        header.deprecated_id,
        encrypted=False,
        expected_parts=None,
    )


# Form metadata a client fills anew on each try: a resend differing only here is the same
# submission. Top-level questions of those XLSForm metadata types, and meta/instanceName
# (computed, often from `end`).
RESEND_METADATA = frozenset(
    {
        "start",
        "end",
        "today",
        "deviceid",
        "subscriberid",
        "simserial",
        "phonenumber",
        "username",
        "email",
    }
)
RESEND_META_CHILDREN = frozenset({"instanceName", "timeStart", "timeEnd"})


def without_resend_metadata(data: dict[str, Any]) -> dict[str, Any]:
    """A submission's data less what a client fills anew on each try."""
    kept = {key: value for key, value in data.items() if key not in RESEND_METADATA}
    meta = kept.get("meta")
    if isinstance(meta, dict):
        kept["meta"] = {k: v for k, v in meta.items() if k not in RESEND_META_CHILDREN}
    return kept


@dataclass(frozen=True)
class _Earlier:
    """The stored submission a POST with a different manifest collides with."""

    submission_id: int
    form_version_id: int
    data: dict[str, Any] | None  # None when not decrypted yet


class Ingest:
    """Receives submissions into one store and blob store."""

    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        max_part_bytes: int,
        credentials: CredentialWatch | None = None,
    ) -> None:
        """`credentials` learns the credential generation each recording reads (the app's
        TokenLookups, which may then answer a submission's token from memory)."""
        self.store = store
        self.blobs = blobs
        self.max_part_bytes = max_part_bytes
        # Decrypts a colliding POST to tell a resend (set by the app's Services).
        self.resends: Processing | None = None
        self._versions: dict[tuple[str, str], tuple[int, int, int | None]] = {}
        self._group = GroupCommit(store, before_commit=self._settle, watch=credentials)

    def _settle(self, jobs: list[NewSubmission]) -> None:
        self.blobs.settle([job.staged for job in jobs if job.staged is not None])

    def receive(
        self,
        collector: Sender,
        xml: bytes,
        parts: Sequence[IncomingPart],
        processing: Processing | None = None,
    ) -> IngestResult:
        """Check, store durably and record one POST; raise a Problem to refuse it.

        With `processing`, a submission complete in this POST is decrypted before the record
        transaction and written, already decrypted and projected, in that same transaction.
        """
        header = _read_header(xml)
        names = [check_file_name(part.name) for part in parts]
        if len(set(names)) != len(names):
            raise errors.bad_request(
                "The same file name appears twice in one request.",
                vi="Một tên tệp xuất hiện hai lần trong cùng một yêu cầu.",
            )
        if header.expected_parts is not None:
            unexpected = sorted(set(names) - header.expected_parts)
            if unexpected:
                raise errors.bad_request(
                    f"File {unexpected[0]!r} is not listed in the encrypted submission."
                )

        form_pk, version_pk, key_id = self._form_version(collector, header)
        staged = Staged()
        try:
            return self._store_and_record(
                collector, header, (form_pk, version_pk, key_id), xml, parts, staged, processing
            )
        finally:
            self.blobs.discard(staged)  # what was not settled (the request failed)

    def _store_and_record(
        self,
        collector: Sender,
        header: _Header,
        ids: tuple[int, int, int | None],
        xml: bytes,
        parts: Sequence[IncomingPart],
        staged: Staged,
        processing: Processing | None,
    ) -> IngestResult:
        """Store the parts, then record the submission (decrypted first when it can be)."""
        form_pk, version_pk, key_id = ids
        manifest_sha, stored, in_memory = self._store_blobs(xml, parts, staged)
        prepared = None
        present = {MANIFEST_PART: manifest_sha, **{item[0]: item[1] for item in stored}}
        complete = header.expected_parts is None or header.expected_parts <= set(present)
        if processing is not None and complete:
            prepared = processing.prepare(
                header.form_id,
                version_pk,
                key_id,
                header.encrypted,
                present,
                Received(xml, header.manifest, in_memory),
            )

        for attempt in (1, 2):
            try:
                result = self._record(
                    collector,
                    form_pk,
                    version_pk,
                    header,
                    (manifest_sha, len(xml)),
                    stored,
                    staged,
                    (processing, prepared) if processing and prepared else None,
                )
                if isinstance(result, _Earlier):
                    if complete and self._same_submission(
                        result, header, version_pk, key_id, present, xml, in_memory, prepared
                    ):
                        log.info(
                            "resend of submission %d with new metadata: the first is kept",
                            result.submission_id,
                        )
                        return IngestResult(202, result.submission_id, header.instance_id, 0)
                    raise errors.xml_differs(header.instance_id)
                if result.stored is not None:
                    result = replace(
                        result,
                        stored=replace(result.stored, key_id=key_id),
                        received=Received(xml, header.manifest, in_memory),
                    )
                return result
            except IntegrityError:
                # Another request recorded the same instanceID between our read and insert;
                # the second attempt takes the "already known" path.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _same_submission(
        self,
        earlier: _Earlier,
        header: _Header,
        version_pk: int,
        key_id: int | None,
        present: dict[str, str],
        xml: bytes,
        in_memory: dict[str, bytes],
        prepared: Any,
    ) -> bool:
        """True when this POST decrypts to the earlier copy's data, metadata apart."""
        if earlier.data is None or earlier.form_version_id != version_pk:
            return False
        if prepared is None and self.resends is not None:
            prepared = self.resends.prepare(
                header.form_id,
                version_pk,
                key_id,
                header.encrypted,
                present,
                Received(xml, header.manifest, in_memory),
            )
        data = getattr(prepared, "data", None)
        if not isinstance(data, dict):
            return False
        return without_resend_metadata(data) == without_resend_metadata(earlier.data)

    def _form_version(self, collector: Sender, header: _Header) -> tuple[int, int, int | None]:
        """(form, version, key) ids of the submitted form version, checked in this order: the
        form exists, it is assigned to the collector, the version exists.

        Published versions never change, so they are cached for the life of the process; the
        assignment is read for every request (a supervisor may withdraw it at any moment),
        with the collector's credentials (`form_ids`). Those may be remembered from an
        earlier request (TokenLookups.find_for_submission): a form missing from them is read
        from the store before refusing, and one present is checked again when the submission
        is recorded (recording.check_credentials).
        """
        wanted = (header.form_id, header.version or "")
        cached = self._versions.get(wanted)
        assigned_ids: frozenset[int] | None = getattr(collector, "form_ids", None)
        if cached is not None and assigned_ids is not None:
            # A refusal is read from the store: the collector may have been answered from
            # memory (TokenLookups.find_for_submission), from before the form was assigned. An
            # acceptance is checked again where the submission is recorded.
            if cached[0] not in assigned_ids and not self._assigned_now(collector, cached[0]):
                raise errors.form_not_assigned(header.form_id)
            return cached
        with self.store.read() as connection:
            form_pk = cached[0] if cached else form_store.pk_by_xml_form_id(connection, wanted[0])
            if form_pk is None:
                raise errors.form_not_found(header.form_id)
            if not (
                (assigned_ids is not None and form_pk in assigned_ids)
                or form_store.assigned(connection, collector.id, form_pk)
            ):
                raise errors.form_not_assigned(header.form_id)
            if cached is None:
                version = form_store.version_key(connection, form_pk, wanted[1])
                if version is None:
                    raise errors.form_version_unknown(header.form_id, header.version)
                cached = self._versions[wanted] = (form_pk, version.id, version.key_id)
        return cached

    def _assigned_now(self, collector: Sender, form_pk: int) -> bool:
        with self.store.read() as connection:
            return form_store.assigned(connection, collector.id, form_pk)

    def _store_blobs(
        self, xml: bytes, parts: Sequence[IncomingPart], staged: Staged
    ) -> tuple[str, list[tuple[str, str, int, str]], dict[str, bytes]]:
        """Store every part: (manifest sha256, stored parts, small parts' bytes).

        Parts held in memory are staged: they become durable when the record settles them
        (with those of the other requests in its group commit). Large streamed parts are
        written durably at once."""
        in_memory: dict[str, bytes] = {}
        try:
            manifest_sha, _ = self.blobs.put_bytes(xml, staged)
            stored = []
            for part in parts:
                if isinstance(part.stream, io.BytesIO):  # small: the parser kept it in memory
                    content = part.stream.getvalue()
                    if len(content) > self.max_part_bytes:
                        raise BlobTooLarge(self.max_part_bytes)
                    sha, size = self.blobs.put_bytes(content, staged)
                    in_memory[part.name] = content
                else:
                    sha, size = self.blobs.put(part.stream, limit=self.max_part_bytes)
                stored.append((part.name, sha, size, part.content_type))
        except BlobTooLarge:
            raise errors.too_large(self.max_part_bytes) from None
        except BlobStoreUnavailable as exc:
            log.error("blob store refused a write: %s", exc)
            raise errors.storage_unavailable() from None
        return manifest_sha, stored, in_memory

    def _record(
        self,
        collector: Sender,
        form_pk: int,
        version_pk: int,
        header: _Header,
        manifest: tuple[str, int],
        stored: list[tuple[str, str, int, str]],
        staged: Staged,
        ready: tuple[Processing, Any] | None = None,
    ) -> IngestResult | _Earlier:
        manifest_sha, manifest_size = manifest
        parts = [(MANIFEST_PART, manifest_sha, manifest_size, "text/xml"), *stored]
        with _blob_errors():
            recorded = self._group.record(
                NewSubmission(
                    collector.id,
                    form_pk,
                    version_pk,
                    header.instance_id,
                    header.deprecated_id,
                    header.encrypted,
                    parts,
                    ready[1] if ready else None,
                    ready[0] if ready else None,
                    staged,
                    getattr(collector, "credential", None),
                    header.form_id,
                )
            )
        if recorded is None:  # known: the group commit settled its parts all the same
            return self._record_known(form_pk, header, manifest_sha, stored)
        return IngestResult(
            201,
            recorded.submission_id,
            header.instance_id,
            len(stored),
            StoredSubmission(
                header.form_id,
                version_pk,
                None,
                header.encrypted,
                {name: sha for name, sha, _size, _type in parts},
                recorded.decrypted,
            ),
        )

    def _record_known(
        self,
        form_pk: int,
        header: _Header,
        manifest_sha: str,
        stored: list[tuple[str, str, int, str]],
    ) -> IngestResult | _Earlier:
        """A POST for a known instanceID: 202 with the parts not seen before, or the earlier
        submission when the manifest differs (a resend, or 409)."""
        with self.store.session() as session:
            existing = submission_store.by_instance(
                session, form_pk, header.instance_id, for_update=True
            )
            if existing is None:
                raise LookupError(header.instance_id)
            if existing.manifest_sha256 != manifest_sha:
                data = existing.data if existing.decrypt_state == "decrypted" else None
                return _Earlier(existing.id, existing.form_version_id, dict(data) if data else None)
            parts = {p.name: p.blob_sha256 for p in submission_store.parts(session, existing.id)}
            new = [item for item in stored if item[0] not in parts]
            _add_parts(session, existing.id, new, parts)
            if new:
                existing.updated_at = utcnow()
                if existing.decrypt_state != "decrypted":
                    # To be looked at again, like a submission just received (the processing
                    # process finds those in the store).
                    existing.decrypt_state, existing.decrypt_reason = "pending", "received"
            return IngestResult(
                202,
                existing.id,
                header.instance_id,
                len(new),
                StoredSubmission(
                    header.form_id,
                    existing.form_version_id,
                    None,
                    existing.encrypted,
                    parts,
                    existing.decrypt_state == "decrypted",
                ),
            )


@contextlib.contextmanager
def _blob_errors() -> Iterator[None]:
    """Parts the disk could not make durable refuse the POST (503): nothing is acknowledged,
    so the phone sends it again."""
    try:
        yield
    except BlobStoreUnavailable as exc:
        log.error("blob store could not make parts durable: %s", exc)
        raise errors.storage_unavailable() from None


def _add_parts(
    session: Session,
    submission_id: int,
    items: list[tuple[str, str, int, str]],
    parts: dict[str, str],
) -> None:
    """Record stored blobs as parts of a submission; `parts` gains their names."""
    for name, sha, size, content_type in items:
        submission_store.add_part(
            session,
            SubmissionPart(
                submission_id=submission_id,
                name=name,
                blob_sha256=sha,
                size=size,
                content_type=content_type,
            ),
        )
        parts[name] = sha
