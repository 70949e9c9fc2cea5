"""An HTTP client that behaves like ODK Collect when it gets forms and sends a submission.

Getting forms: GET formList, then each form's downloadUrl and, when listed, its manifestUrl and
every media file of the manifest, whose MD5 must match the manifest's (Collect keeps that hash
to decide later whether a file changed).

Sending: Collect first sends HEAD to /submission (to be challenged for credentials and to learn
the accepted size), then POSTs multipart/form-data with `xml_submission_file` and the files.
When the files exceed the accepted size it splits them over several POSTs, each repeating the
same XML. A lost response is retried: the server must answer a repeat with 202.
"""

from __future__ import annotations

import hashlib
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import requests

OPENROSA = {"X-OpenRosa-Version": "1.0"}


@dataclass
class SendReport:
    """What the server answered, POST by POST."""

    statuses: list[int] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        """True when the last POST was answered 201 or 202."""
        return bool(self.statuses) and self.statuses[-1] in (201, 202)


@dataclass
class DownloadedForm:
    """A form as the phone keeps it: its XForm and its media files by name, with their hashes."""

    form_id: str
    version: str
    xml: bytes
    media: dict[str, bytes] = field(default_factory=dict)
    media_md5: dict[str, str] = field(default_factory=dict)


def _children(element: ET.Element) -> dict[str, str]:
    return {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in element}


class CollectClient:
    """Gets forms from and sends submissions to one server URL, as a phone would."""

    def __init__(
        self, server_url: str, auth: tuple[str, str] | None = None, timeout: float = 30.0
    ) -> None:
        self.server_url = server_url.rstrip("/")
        self.session = requests.Session()
        self.auth = auth
        self.timeout = timeout
        self.accepted_bytes: int | None = None

    def get(self, url: str) -> requests.Response:
        """GET with the OpenRosa header; answers a 401 challenge with the credentials."""
        response = self.session.get(url, headers=OPENROSA, timeout=self.timeout)
        if response.status_code == 401 and self.auth:
            response = self.session.get(url, headers=OPENROSA, auth=self.auth, timeout=self.timeout)
        return response

    def form_list(self) -> list[dict[str, str]]:
        """The forms the server lists for this phone (formID, version, hash, URLs)."""
        response = self.get(f"{self.server_url}/formList")
        response.raise_for_status()
        return [_children(xform) for xform in ET.fromstring(response.content)]

    def download_form(self, form_id: str) -> DownloadedForm:
        """A listed form with every file of its manifest; each file's MD5 is checked."""
        entry = next(f for f in self.form_list() if f["formID"] == form_id)
        form = self.get(entry["downloadUrl"])
        form.raise_for_status()
        found = DownloadedForm(form_id, entry["version"], form.content)
        if not entry.get("manifestUrl"):
            return found
        manifest = self.get(entry["manifestUrl"])
        manifest.raise_for_status()
        for media_file in ET.fromstring(manifest.content):
            item = _children(media_file)
            content = self.get(item["downloadUrl"])
            content.raise_for_status()
            md5 = hashlib.md5(content.content).hexdigest()
            if item["hash"] != f"md5:{md5}":
                raise AssertionError(f"{item['filename']}: manifest says {item['hash']}, got {md5}")
            found.media[item["filename"]] = content.content
            found.media_md5[item["filename"]] = md5
        return found

    def head(self) -> requests.Response:
        """HEAD /submission; answers a 401 challenge with the credentials, as Collect does."""
        response = self.session.head(
            f"{self.server_url}/submission", headers=OPENROSA, timeout=self.timeout
        )
        if response.status_code == 401 and self.auth:
            response = self.session.head(
                f"{self.server_url}/submission",
                headers=OPENROSA,
                auth=self.auth,
                timeout=self.timeout,
            )
        if response.status_code == 204:
            self.accepted_bytes = int(response.headers["X-OpenRosa-Accept-Content-Length"])
        return response

    def submit(
        self,
        xml: bytes,
        files: list[tuple[str, bytes]] | None = None,
        split_bytes: int | None = None,
        retries: int = 3,
    ) -> SendReport:
        """Send one submission, split into several POSTs when the files exceed `split_bytes`."""
        report = SendReport()
        if self.accepted_bytes is None:
            self.head()
        limit = split_bytes or self.accepted_bytes or 10_000_000
        batches: list[list[tuple[str, bytes]]] = [[]]
        size = len(xml)
        for name, content in files or []:
            if batches[-1] and size + len(content) > limit:
                batches.append([])
                size = len(xml)
            batches[-1].append((name, content))
            size += len(content)
        for batch in batches:
            status = self._post(xml, batch, retries)
            report.statuses.append(status)
            if status not in (201, 202):
                break
        return report

    def _post(self, xml: bytes, batch: list[tuple[str, bytes]], retries: int) -> int:
        multipart = [("xml_submission_file", ("submission.xml", xml, "text/xml"))]
        multipart += [
            (name, (name, content, "application/octet-stream")) for name, content in batch
        ]
        for attempt in range(retries + 1):
            try:
                response = self.session.post(
                    f"{self.server_url}/submission",
                    files=multipart,
                    headers=OPENROSA,
                    auth=self.auth,
                    timeout=self.timeout,
                )
                return response.status_code
            except requests.ConnectionError:
                if attempt == retries:
                    return 0
                time.sleep(0.2 * (attempt + 1))
        return 0
