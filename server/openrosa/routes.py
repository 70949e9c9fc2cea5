"""OpenRosa endpoints. Thin: parse the request, call a service, render the result."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import IO
from urllib.parse import quote, urlsplit
from xml.sax.saxutils import escape

from flask import Blueprint, Response, g, request, send_file

from forms.instance import nfc
from server import errors
from server.access_log import app_version
from server.app_context import Services, services
from server.clock import utcnow
from server.edge import openrosa_response
from server.openrosa.upload import read_upload
from server.services import collector_attachments
from server.services.ingest import Sender

log = logging.getLogger("server.openrosa")

bp = Blueprint("openrosa", __name__)

XFORMS_LIST_NS = "http://openrosa.org/xforms/xformsList"
MANIFEST_NS = "http://openrosa.org/xforms/xformsManifest"


@bp.url_value_preprocessor
def _pop_token(_endpoint: str | None, values: dict[str, object] | None) -> None:
    g.collector_token = values.pop("token", None) if values else None


def check_version(version: str | None) -> None:
    """Refuse a protocol version other than OpenRosa 1.0 (no header: 1.0 assumed)."""
    if version is not None and version.strip() != "1.0":
        raise errors.bad_request(
            "Only OpenRosa version 1.0 is supported.",
            vi="Máy chủ chỉ hỗ trợ OpenRosa phiên bản 1.0.",
        )


def note_sync(found: Services, collector: Sender, user_agent: str | None) -> None:
    """When each phone last synced, and its app version, for the collectors page."""
    found.last_seen.record(collector.id, app_version(user_agent), utcnow())


@bp.before_request
def _before() -> None:
    """Check the protocol header and authenticate the collector."""
    check_version(request.headers.get("X-OpenRosa-Version"))
    g.collector = services().authenticate_collector(
        g.collector_token, request.authorization, request.remote_addr or "unknown"
    )
    note_sync(services(), g.collector, request.headers.get("User-Agent"))


@bp.after_request
def _after(response: Response) -> Response:
    response.headers["X-OpenRosa-Version"] = "1.0"
    # The Date header OpenRosa asks for comes from the HTTP server (gunicorn sends its own,
    # so setting one here would send it twice).
    return response


def _base_url() -> str:
    public_url = services().config.base_url(request.host_url)
    token = g.get("collector_token")
    return f"{public_url}/c/{token}" if token else public_url


def _xml(body: str, status: int = 200) -> Response:
    return Response(body, status=status, content_type="text/xml; charset=utf-8")


@bp.get("/formList")
def form_list() -> Response:
    """The forms assigned to this collector, current versions only."""
    wanted = request.args.get("formID")
    base = _base_url()
    items = []
    for entry in services().form_list(g.collector):
        if wanted and entry.form_id != nfc(wanted):
            continue
        form_url = f"{base}/forms/{escape(entry.form_id)}"
        manifest = f"<manifestUrl>{form_url}/manifest</manifestUrl>" if entry.has_media else ""
        items.append(
            "<xform>"
            f"<formID>{escape(entry.form_id)}</formID>"
            f"<name>{escape(entry.title)}</name>"
            f"<version>{escape(entry.version)}</version>"
            f"<hash>md5:{entry.md5}</hash>"
            f"<downloadUrl>{form_url}/form.xml</downloadUrl>"
            f"{manifest}"
            "</xform>"
        )
    return _xml(
        f'<?xml version="1.0" encoding="UTF-8"?><xforms xmlns="{XFORMS_LIST_NS}">'
        + "".join(items)
        + "</xforms>"
    )


@bp.get("/forms/<form_id>/form.xml")
def form_xml(form_id: str) -> Response:
    """The current XForm."""
    version = services().form_for_collector(g.collector, nfc(form_id))
    return _xml(version.xml)


@bp.get("/forms/<form_id>/manifest")
def form_manifest(form_id: str) -> Response:
    """The media files of the current version as this collector gets them, with MD5 hashes."""
    version = services().form_for_collector(g.collector, nfc(form_id))
    base = f"{_base_url()}/forms/{escape(nfc(form_id))}/attachments"
    files = "".join(
        "<mediaFile>"
        f"<filename>{escape(att.name)}</filename>"
        f"<hash>md5:{att.md5}</hash>"
        f"<downloadUrl>{base}/{escape(att.name)}</downloadUrl>"
        "</mediaFile>"
        for att in collector_attachments.manifest(
            services().store, services().config, g.collector.id, version.id
        )
    )
    return _xml(
        f'<?xml version="1.0" encoding="UTF-8"?><manifest xmlns="{MANIFEST_NS}">{files}</manifest>'
    )


@bp.get("/forms/<form_id>/attachments/<name>")
def form_attachment(form_id: str, name: str) -> Response:
    """One media file of the current version (a per-collector file made for this collector)."""
    version = services().form_for_collector(g.collector, nfc(form_id))
    attachment = collector_attachments.attachment(
        services().store, services().config, g.collector.id, version.id, name
    )
    response = send_file(
        attachment.open(services().blobs),
        mimetype=attachment.content_type,
        download_name=attachment.name,
        etag=f"md5:{attachment.md5}",
        max_age=0,
    )
    response.cache_control.private = True  # per collector: never for a shared cache
    return response


def accept_content_length(found: Services) -> str:
    """What HEAD /submission tells Collect it may send in one POST."""
    return str(found.config.max_request_bytes)


# The POST size Collect splits a submission at when it did not ask the server: after a HEAD
# answered with a Location, the rest of that upload goes there unasked (ODK Collect's
# InstanceServerUploader starts from this contentLength and reads the header only from a HEAD).
COLLECT_UNASKED_BYTES = 10_000_000
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def _origin(scheme: str, netloc: str) -> str:
    """scheme://host[:port] in lower case, without the scheme's default port."""
    scheme, netloc = scheme.lower(), netloc.lower()
    default = _DEFAULT_PORTS.get(scheme)
    if default and netloc.endswith(f":{default}"):
        netloc = netloc[: -len(default) - 1]
    return f"{scheme}://{netloc}"


def submission_location(found: Services, scheme: str, host: str, path: str) -> str | None:
    """The Location HEAD /submission answers with, or None.

    Collect sends a HEAD before each submission of an upload unless an earlier HEAD of that
    upload answered 204 with a Location on the same host: it then posts the rest there without
    asking again, one round trip fewer per submission on a phone's slow network. The Location
    is the URL the phone asked, and is sent only when that is certain: FIELDCASE_PUBLIC_URL is
    set, has no path, and names the very scheme and host (port included) the request came to
    (a proxy that rewrote Host, or a phone that uses another name for the server, gets none:
    Collect refuses a Location on another host, and would fail the upload). Nor is it sent
    when this server takes less in one POST than Collect sends unasked.
    """
    config = found.config
    if not config.public_url_configured or config.max_request_bytes < COLLECT_UNASKED_BYTES:
        return None
    public = urlsplit(config.public_url)
    if public.path.strip("/") or public.query:
        return None
    origin = _origin(public.scheme, public.netloc)
    if _origin(scheme, host) != origin:
        return None
    return origin + quote(path, safe="/")


@bp.route("/submission", methods=["HEAD", "GET"])
def submission_head() -> Response:
    """Collect asks first (HEAD) to learn the size it may send and to be challenged."""
    response = Response(status=204)
    found = services()
    response.headers["X-OpenRosa-Accept-Content-Length"] = accept_content_length(found)
    location = submission_location(
        found, request.scheme, request.host, request.script_root + request.path
    )
    if location is not None:
        response.headers["Location"] = location
    return response


def receive(
    found: Services,
    collector: Sender,
    mimetype: str,
    boundary: str | None,
    content_length: int | None,
    stream: Callable[[], IO[bytes]],
) -> tuple[int, str]:
    """Receive one POST of a submission: its status and the message Collect shows.

    `stream` is called only once the content type was checked (a body over the size limit
    is refused there, 413, after a wrong content type, 415)."""
    if not mimetype.startswith("multipart/"):
        raise errors.unsupported_media_type(
            "Submissions must be sent as multipart/form-data.",
            vi="Bản gửi phải được gửi dạng multipart/form-data.",
        )
    config = found.config
    with read_upload(
        stream(),
        boundary,
        content_length,
        config.max_part_bytes,
        config.max_request_bytes,
    ) as upload:
        result = found.receive_submission(collector, upload.xml, upload.parts)
    # Ids and counts only: never a value of the submission.
    log.info(
        "submission received status=%d submission_id=%d collector_id=%d new_parts=%d",
        result.status,
        result.submission_id,
        collector.id,
        result.new_parts,
    )
    message = (
        "Đã gửi thành công. / Full submission upload was successful!"
        if result.status == 201
        else "Đã nhận trước đó, không mất gì. / Submission already received; nothing was lost."
    )
    return result.status, message


@bp.post("/submission")
def submission_post() -> Response:
    """Receive one POST of a submission (a split submission comes in several)."""
    status, message = receive(
        services(),
        g.collector,
        request.mimetype,
        request.mimetype_params.get("boundary"),
        request.content_length,
        lambda: request.stream,
    )
    return openrosa_response(message, status)
