"""The long-lived objects of one app (store, blobs, key ring, ingest, processing).

Built once per app by `create_app`; routes reach them with `services()`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from flask import current_app
from werkzeug.datastructures import Authorization

from server import errors
from server.auditseal import seal_for
from server.blobs import FileBlobStore
from server.clock import utcnow
from server.config import Config
from server.datadir import secret_key
from server.services import cases as case_service
from server.services import collectors as collector_service
from server.services.background import BackgroundProcessing
from server.services.feed_bodies import FeedBodies
from server.services.ingest import IncomingPart, Ingest, IngestResult, Sender
from server.services.keyring import KeyRing
from server.services.matching import match_secret
from server.services.processing import Job, Processor
from server.services.sign_in import CHANNEL_OPENROSA, PasswordSignIn, SignInAttempt, SignInGuard
from server.store import forms as form_store
from server.store.db import Store
from server.store.models import FormVersion

SERVICES_KEY = "fieldcase.services"
log = logging.getLogger("server.services")


@dataclass(frozen=True)
class FormListEntry:
    """One line of a collector's form list."""

    form_id: str
    title: str
    version: str
    md5: str
    has_media: bool


class Services:
    """Everything a request may need, shared by the app's threads."""

    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        if store.audit_seal is None:  # the audit log is signed with this deployment's key
            store.attach_audit(seal_for(config))
        self.blobs = FileBlobStore(config.blob_dir)
        case_service.use_visit_rule(
            case_service.VisitRule(config.first_visit_days, config.next_visit_days)
        )
        self.keyring = KeyRing(store, config.key_passphrase)
        self.token_lookups = collector_service.TokenLookups(store)
        self.ingest = Ingest(store, self.blobs, config.max_part_bytes, self.token_lookups)
        self.last_seen = collector_service.LastSeen(store)
        self.processor = Processor(store, self.blobs, self.keyring, match_secret(config))
        if config.feed_bodies:  # the OData rows rendered ahead of reads (docs/api.md)
            self.processor.feed_bodies = FeedBodies(store)
        self.ingest.resends = self.processor
        self.background = (
            BackgroundProcessing(self.processor)
            if config.background_processing and not config.processing_elsewhere
            else None
        )
        # The one guard of every password sign-in (web login, HTTP Basic, later the API).
        self.sign_in = PasswordSignIn(store, SignInGuard(secret_key(config).encode("utf-8")))

    # Collectors ---------------------------------------------------------------------------

    def authenticate_collector(
        self,
        token: str | None,
        authorization: Authorization | None,
        client: str,
        for_submission: bool = False,
    ) -> Sender:
        """The collector making this request, from its URL token or HTTP Basic credentials.

        HTTP Basic authenticates collector accounts only: any other account, a wrong password,
        an unknown name, a disabled account and a revoked collector all get the same 401, after
        the same one password verification, and count toward the sign-in back-off of `client`.
        `for_submission`: a POST of a submission, whose token may be answered from an earlier
        lookup because its recording checks it again (TokenLookups.find_for_submission).
        """
        if token is not None:
            lookups = self.token_lookups
            found = lookups.find_for_submission(token) if for_submission else lookups.find(token)
            if found is None:
                raise collector_service.token_refused()
            return found
        if authorization is None or authorization.type != "basic":
            raise errors.unauthenticated()  # the challenge Collect waits for
        attempt = SignInAttempt(
            CHANNEL_OPENROSA,
            authorization.username or "",
            authorization.password or "",
            client,
        )
        outcome = self.sign_in.attempt(attempt, collector_service.may_send, utcnow(), remember=True)
        if outcome.retry_after:
            raise errors.too_many_attempts(outcome.retry_after)
        account = outcome.account
        if account is None or account.collector_id is None:
            raise errors.unauthenticated()
        with self.store.read() as connection:
            collector = collector_service.active_collector(connection, account.collector_id)
        if collector is None:  # revoked since the check
            raise errors.unauthenticated()
        return collector

    # Forms --------------------------------------------------------------------------------

    def form_list(self, collector: Sender) -> list[FormListEntry]:
        """Current versions of the forms assigned to the collector."""
        entries = []
        with self.store.reader() as session:
            for form in form_store.assigned_forms(session, collector.id):
                version = form_store.current_version(session, form.id)
                if version is None:
                    continue
                entries.append(
                    FormListEntry(
                        form.xml_form_id,
                        form.title,
                        version.version,
                        version.md5,
                        bool(form_store.attachments(session, version.id)),
                    )
                )
        return entries

    def form_for_collector(self, collector: Sender, form_id: str) -> FormVersion:
        """The current version of a form the collector may download."""
        with self.store.reader() as session:
            form = form_store.by_xml_form_id(session, form_id)
            if form is None:
                raise errors.form_not_found(form_id)
            if not form_store.is_assigned(session, collector.id, form.id):
                raise errors.form_not_assigned(form_id)
            version = form_store.current_version(session, form.id)
            if version is None:
                raise errors.form_not_found(form_id)
            return version

    # Submissions --------------------------------------------------------------------------

    def receive_submission(
        self, collector: Sender, xml: bytes, parts: Sequence[IncomingPart]
    ) -> IngestResult:
        """Store a POST durably, then decrypt and project what is now complete: right away, on
        the background thread (after the answer), or, under `fieldcase serve`, in the
        processing process, which finds it in the store."""
        if self.config.processing_elsewhere:
            return self.ingest.receive(collector, xml, parts)
        if self.background is not None:
            result = self.ingest.receive(collector, xml, parts)
            if result.status == 201 or result.new_parts:
                self.background.submit(Job(result.submission_id, result.stored, result.received))
            return result
        result = self.ingest.receive(collector, xml, parts, self.processor)
        if result.status == 201 or result.new_parts:
            try:
                self.processor.process(result.submission_id, result.stored)
            except Exception as exc:
                # Stored and acknowledged already; decrypt-pending will retry it. The type
                # only: exception text (SQL parameters) may hold a victim's data.
                log.error(
                    "processing submission %s failed: %s", result.submission_id, type(exc).__name__
                )
                self.processor.mark_failed(
                    result.submission_id, f"processing failed ({type(exc).__name__})"
                )
        return result


def services_for(config: Config) -> Services:
    """The Services of a process that serves no requests (the processing process), on a
    store of its own."""
    return Services(config, Store(config.database_url))


def submission_media(services: Services, submission_id: int) -> list[tuple[str, bytes]]:
    """A submission's media files (plain names), decrypted in memory when encrypted.

    Files that cannot be read now (key locked, part missing, too large) are left out.
    """
    from server.services.ingest import MANIFEST_PART
    from server.services.media import ENCRYPTED_SUFFIX, read_media
    from server.store import submissions as submission_store
    from server.store.models import FormVersion

    with services.store.reader() as session:
        submission = submission_store.by_id(session, submission_id)
        if submission is None:
            return []
        parts = {p.name: p for p in submission_store.parts(session, submission_id)}
        version = session.get(FormVersion, submission.form_version_id)
        key_id = version.key_id if version else None
    names = [
        name.removesuffix(ENCRYPTED_SUFFIX)
        for name in parts
        if name != MANIFEST_PART and name != "submission.xml.enc"
    ]
    files = []
    for name in names:
        try:
            files.append(
                (
                    name,
                    read_media(
                        submission, parts, name, services.blobs, services.keyring, key_id
                    ).content,
                )
            )
        except errors.Problem:
            continue
    return files


def services() -> Services:
    """The services of the app handling the current request."""
    found: Services = current_app.extensions[SERVICES_KEY]
    return found
