"""HTTP clients an attacker (or a colleague) would use: a browser-like web session with CSRF
tokens, an ODK Collect-like phone that fills and encrypts the real forms, raw sockets, and
connections from a chosen loopback address (so each one is another client to the server).
"""

from __future__ import annotations

import html
import itertools
import re
import socket
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

import requests
from multipart import content_disposition_quote
from requests.adapters import HTTPAdapter

from crypto.encrypt import encrypt_submission
from crypto.keys import load_public_key
from tests.collect_client import OPENROSA, CollectClient

XFORMS = "{http://www.w3.org/2002/xforms}"
JR_TEMPLATE = "{http://openrosa.org/javarosa}template"
TIMEOUT = 60.0

_addresses = (f"127.{a}.{b}.{c}" for a in range(20, 250) for b in range(256) for c in range(1, 255))
_address_lock = threading.Lock()


def fresh_client() -> str:
    """A loopback address no request of this run has come from yet: a new client."""
    with _address_lock:
        return next(_addresses)


class _FromAddress(HTTPAdapter):
    """Opens every connection from one local address."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def session_from(address: str | None = None) -> requests.Session:
    """A requests session whose connections come from `address` (default: 127.0.0.1)."""
    session = requests.Session()
    if address:
        session.mount("http://", _FromAddress(address))
    return session


def csrf_of(page: str) -> str:
    """The CSRF token of the first form on a page."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    if not match:
        raise AssertionError("no CSRF token on the page")
    return match.group(1)


class Web:
    """A browser on the web view: keeps its cookies, sends each form with its CSRF token."""

    def __init__(self, base: str, address: str | None = None) -> None:
        self.base = base
        self.address = address or "127.0.0.1"
        self.session = session_from(address)
        self.searches = 0  # case searches made (each counts toward the hourly limit)
        self._token: str | None = None

    def get(self, path: str, **kwargs: object) -> requests.Response:
        """GET without following redirects."""
        kwargs.setdefault("allow_redirects", False)
        kwargs.setdefault("timeout", TIMEOUT)
        return self.session.get(self.base + path, **kwargs)  # type: ignore[arg-type]

    def post(
        self,
        path: str,
        data: dict[str, str] | None = None,
        token_from: str = "/",
        *,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """POST a form as the page at `token_from` would send it (with its CSRF token, which
        belongs to the browser's session: read from that page once, then kept)."""
        for _ in range(2):
            if self._token is None:
                self._token = csrf_of(self.get(token_from, headers=headers).text)
            answer = self.session.post(
                self.base + path,
                data={"csrf_token": self._token, **(data or {})},
                files=files,
                headers=headers,
                allow_redirects=False,
                timeout=TIMEOUT,
            )
            if answer.status_code != 400 or "This form has expired" not in answer.text:
                break
            self._token = None  # the session changed: read the token again, as a reload does
        return answer

    def login(
        self,
        username: str,
        password: str,
        next_raw: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """Open /login (with `?next=` exactly as written in a link), then sign in."""
        query = f"?next={next_raw}" if next_raw is not None else ""
        page = self.session.get(
            f"{self.base}/login{query}", headers=headers, allow_redirects=False, timeout=TIMEOUT
        ).text
        form = page[page.find('id="login-form"') :]  # not the language switch's `next`
        hidden = re.search(r'<input[^>]*name="next"[^>]*value="([^"]*)"', form)
        self._token = None  # a sign-in starts a new session, with a new token
        return self.session.post(
            f"{self.base}/login",
            data={
                "csrf_token": csrf_of(form),
                "next": html.unescape(hidden.group(1)) if hidden else "",
                "username": username,
                "password": password,
            },
            headers=headers,
            allow_redirects=False,
            timeout=TIMEOUT,
        )

    def signed_in(self, username: str, password: str) -> Web:
        """Sign in or fail loudly (used for the accounts the attacks act as)."""
        answer = self.login(username, password)
        if answer.status_code != 302:
            raise AssertionError(f"{username} could not sign in: {answer.status_code}")
        return self

    def search(self, words: str) -> requests.Response:
        """A case search (POSTed, as the page does)."""
        self.searches += 1
        return self.post(
            "/cases", {"q": words, "status": "", "unit": "", "sort": "newest"}, "/cases"
        )

    def reveal(self, kind: str, record_id: int) -> requests.Response:
        """Reveal a case's or a submission's identifying fields, with a reason; the page."""
        self.post(
            f"/{kind}/{record_id}/reveal",
            {"reason": "Kiểm tra theo yêu cầu của lãnh đạo / review"},
            f"/{kind}/{record_id}",
        )
        return self.get(f"/{kind}/{record_id}")


def case_codes_on(page: str) -> list[str]:
    """The case codes a case list shows."""
    return re.findall(r'class="case-link">([^<]+)</a>', page)


def check_digits(province: str, year: str, serial: str) -> str:
    """ISO 7064 MOD 97-10 over the eleven digits, as the forms compute them."""
    return f"{98 - (int(province + year + serial) * 100) % 97:02d}"


def case_code(province: str, serial: str, year: str = "2025") -> str:
    """A valid case code `PP-YYYY-NNNNN-CC`."""
    return f"{province}-{year}-{serial}-{check_digits(province, year, serial)}"


@dataclass(frozen=True)
class PhoneForm:
    """What a phone learns from downloading a form."""

    form_id: str
    version: str
    public_key: str | None  # base64 RSA key when the form is encrypted
    skeleton: ET.Element


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _plain_copy(element: ET.Element) -> ET.Element | None:
    """The instance element without namespaces and without repeat templates."""
    if element.get(JR_TEMPLATE) is not None:
        return None
    copy = ET.Element(_local(element.tag))
    for name in ("id", "version"):
        if element.get(name) is not None:
            copy.set(name, element.get(name) or "")
    copy.text = element.text
    for child in element:
        child_copy = _plain_copy(child)
        if child_copy is not None:
            copy.append(child_copy)
    return copy


class Phone:
    """ODK Collect on one server URL (a token URL, or the plain URL with Basic credentials)."""

    def __init__(self, url: str, auth: tuple[str, str] | None = None) -> None:
        self.url = url.rstrip("/")
        self.client = CollectClient(self.url, auth=auth, timeout=TIMEOUT)
        self.auth = auth
        self._forms: dict[str, PhoneForm] = {}

    def form(self, form_id: str) -> PhoneForm:
        """Download a form (formList, then its XForm), as Collect does once."""
        if form_id not in self._forms:
            session = self.client.session
            listing = session.get(f"{self.url}/formList", headers=OPENROSA, auth=self.auth)
            listing.raise_for_status()
            download = re.search(
                rf"<formID>{re.escape(form_id)}</formID>.*?<downloadUrl>([^<]+)</downloadUrl>",
                listing.text,
                re.S,
            )
            if not download:
                raise AssertionError(f"{form_id} is not in this phone's form list")
            xform = session.get(html.unescape(download.group(1)), headers=OPENROSA, auth=self.auth)
            xform.raise_for_status()
            root = ET.fromstring(xform.content)
            model = root.find(f".//{XFORMS}model")
            assert model is not None
            instance = next(i for i in model.iter(f"{XFORMS}instance") if i.get("id") is None)
            data = _plain_copy(next(iter(instance)))
            assert data is not None
            submission = model.find(f"{XFORMS}submission")
            key = submission.get("base64RsaPublicKey") if submission is not None else None
            self._forms[form_id] = PhoneForm(form_id, data.get("version") or "", key, data)
        return self._forms[form_id]

    def instance(
        self,
        form_id: str,
        values: dict[str, str],
        instance_id: str,
        deprecated_id: str | None = None,
    ) -> bytes:
        """The form's instance filled in: each value goes to the field of that name."""
        form = self.form(form_id)
        data = _plain_copy(form.skeleton)
        assert data is not None
        fields = {element.tag: element for element in data.iter() if len(element) == 0}
        for name, value in values.items():
            if name not in fields:
                raise KeyError(f"{form_id} has no field {name!r}")
            fields[name].text = value
        meta = data.find("meta")
        assert meta is not None
        fields["instanceID"].text = instance_id
        if deprecated_id:
            ET.SubElement(meta, "deprecatedID").text = deprecated_id
        return ET.tostring(data, encoding="utf-8")

    def send(
        self,
        form_id: str,
        values: dict[str, str],
        files: Sequence[tuple[str, bytes]] = (),
        instance_id: str | None = None,
        deprecated_id: str | None = None,
    ) -> tuple[int, str]:
        """Fill, encrypt (when the form says so) and send; the last status and the id."""
        instance_id = instance_id or f"uuid:{uuid.uuid4()}"
        xml = self.instance(form_id, values, instance_id, deprecated_id)
        form = self.form(form_id)
        if form.public_key:
            sealed = encrypt_submission(
                load_public_key(form.public_key), form_id, form.version, instance_id, xml, files
            )
            xml, files = sealed.manifest, list(sealed.files)
        report = self.client.submit(xml, list(files))
        return (report.statuses[-1] if report.statuses else 0), instance_id

    def post_raw(self, xml: bytes, files: Iterable[tuple[str, bytes]]) -> requests.Response:
        """POST a multipart body written byte by byte: each name reaches the server as
        written (quoted the WHATWG way, as browsers and OkHttp do)."""
        body = (
            b'--B\r\nContent-Disposition: form-data; name="xml_submission_file"; '
            b'filename="submission.xml"\r\nContent-Type: text/xml\r\n\r\n' + xml + b"\r\n"
        )
        for name, content in files:
            quoted = content_disposition_quote(name).encode("utf-8")
            body += b"--B\r\nContent-Disposition: form-data; name=" + quoted + b"; filename="
            body += quoted + b"\r\nContent-Type: application/octet-stream\r\n\r\n"
            body += content + b"\r\n"
        return self.client.session.post(
            f"{self.url}/submission",
            data=body + b"--B--\r\n",
            headers={**OPENROSA, "Content-Type": "multipart/form-data; boundary=B"},
            auth=self.auth,
            timeout=TIMEOUT,
        )


def raw_request(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send bytes on a new connection and read the answer until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except TimeoutError:
            pass
    return answer


def basic_from(
    url: str, username: str, password: str, address: str, path: str = "/formList"
) -> tuple[int, dict[str, str], str, float]:
    """One OpenRosa request with HTTP Basic from `address`, on a new connection: status,
    headers, body and seconds taken."""
    session = session_from(address)
    try:
        started = time.perf_counter()
        answer = session.get(
            url + path,
            headers=OPENROSA,
            auth=(username, password),
            timeout=TIMEOUT,
            allow_redirects=False,
        )
        took = time.perf_counter() - started
    finally:
        session.close()
    return answer.status_code, dict(answer.headers), answer.text, took


@dataclass(frozen=True)
class SubmissionSeen:
    """What the admin's submission page says about one submission."""

    id: int
    instance_id: str
    unit_check: str | None
    decrypted: bool
    case_id: int | None
    page: str


class Ledger:
    """Finds, through an admin's pages, the submission each phone sent (by its instanceID),
    once the server has decrypted it and applied the unit rule."""

    def __init__(self, admin: Web) -> None:
        self.admin = admin
        self.known: dict[int, str] = {}  # submission id -> instanceID

    def _read(self, submission_id: int) -> SubmissionSeen:
        page = self.admin.get(f"/submissions/{submission_id}").text
        instance = re.search(r'<h1>[^<]*<small class="code-text">([^<]*)</small>', page)
        check = re.search(r'id="unit-check" class="unit-([a-z_]+)"', page)
        case = re.search(r'href="/cases/(\d+)"', page.split('id="review"')[0])
        instance_id = html.unescape(instance.group(1)) if instance else ""
        self.known[submission_id] = instance_id
        return SubmissionSeen(
            submission_id,
            instance_id,
            check.group(1) if check else None,
            "This submission is not decrypted yet" not in page,  # the browser reads English
            int(case.group(1)) if case else None,
            page,
        )

    def find(
        self,
        form_id: str,
        instance_id: str,
        timeout: float = 45.0,
        until: Callable[[SubmissionSeen], bool] | None = None,
    ) -> SubmissionSeen:
        """The submission once decrypted and checked by the unit rule, or once `until` holds
        (or as it is when `timeout` ends)."""
        done = until or (lambda seen: seen.decrypted and seen.unit_check is not None)
        deadline = time.monotonic() + timeout
        seen: SubmissionSeen | None = None
        for pause in itertools.chain([0.0], itertools.repeat(0.3)):
            time.sleep(pause)
            ids = [
                int(i)
                for i in re.findall(
                    r'href="/submissions/(\d+)" class="submission-link"',
                    self.admin.get(f"/forms/{quote(form_id)}/submissions").text,
                )
            ]
            match = [i for i in ids if self.known.get(i) == instance_id]
            for submission_id in match or [i for i in ids if i not in self.known]:
                candidate = self._read(submission_id)
                if candidate.instance_id == instance_id:
                    seen = candidate
                    break
            if seen and done(seen):
                return seen
            if time.monotonic() > deadline:
                break
        if seen is None:
            raise AssertionError(f"{instance_id} of {form_id} never appeared to the admin")
        return seen
