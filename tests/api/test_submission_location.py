"""HEAD /submission answers with a Location only when it is the very URL the phone asked.

ODK Collect sends a HEAD before each submission of an upload unless an earlier HEAD of the
same upload answered 204 with a Location on the same host; it then posts the rest of the
upload there. A Location on another host makes Collect fail the upload, a wrong path loses
it: so the header is sent only when FIELDCASE_PUBLIC_URL says exactly where the phone is.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from server.config import Config
from server.openrosa.routes import COLLECT_UNASKED_BYTES, submission_location
from tests.factories import Deployment, plain_instance, post_submission

OR = {"X-OpenRosa-Version": "1.0"}


@pytest.fixture
def config(config: Config) -> Config:
    """The test client's own origin (http://localhost) is the public URL."""
    return config.with_changes(public_url="http://localhost", public_url_configured=True)


def test_head_names_the_url_asked_and_an_upload_posts_there(deployment: Deployment) -> None:
    client, prefix = deployment.client, deployment.url_prefix
    head = client.head(f"{prefix}/submission", headers=OR)  # the lean route
    assert head.status_code == 204
    location = head.headers["Location"]
    assert location == f"http://localhost{prefix}/submission"
    # Flask's route (GET is Flask's) says the same.
    assert client.get(f"{prefix}/submission", headers=OR).headers["Location"] == location
    # The rest of the upload goes there unasked, as Collect does after a remap.
    remapped = location.removeprefix("http://localhost").removesuffix("/submission")
    for n in range(3):
        xml = plain_instance(instance_id=f"uuid:remapped-{n}")
        assert post_submission(client, remapped, xml).status_code == 201


def test_no_location_for_another_host_scheme_or_port(deployment: Deployment) -> None:
    client, prefix = deployment.client, deployment.url_prefix
    for base in ("http://fieldcase.example", "https://localhost", "http://localhost:8080"):
        head = client.head(f"{prefix}/submission", headers=OR, base_url=base)
        assert head.status_code == 204
        assert "Location" not in head.headers, base
        assert head.headers["X-OpenRosa-Accept-Content-Length"]


def _found(**changes: object) -> Any:
    base = Config(data_dir=None, database_url="sqlite://")  # type: ignore[arg-type]
    return SimpleNamespace(config=base.with_changes(**{"public_url_configured": True, **changes}))


@pytest.mark.parametrize(
    ("public_url", "scheme", "host", "expected"),
    [
        (
            "https://vt.example.org",
            "https",
            "vt.example.org",
            "https://vt.example.org/c/t/submission",
        ),
        (
            "https://vt.example.org",
            "https",
            "VT.example.org:443",
            "https://vt.example.org/c/t/submission",
        ),
        (
            "https://vt.example.org:443",
            "https",
            "vt.example.org",
            "https://vt.example.org/c/t/submission",
        ),
        ("http://10.0.0.5:8080", "http", "10.0.0.5:8080", "http://10.0.0.5:8080/c/t/submission"),
        ("http://10.0.0.5:8080", "http", "10.0.0.5", None),
        ("https://vt.example.org", "http", "vt.example.org", None),  # a proxy's scheme untold
        ("https://vt.example.org", "https", "127.0.0.1:8000", None),  # Host rewritten
        ("https://vt.example.org", "https", "vt.example.org.evil", None),
        ("https://x.org/fieldcase", "https", "x.org", None),  # behind a path: not certain
    ],
)
def test_location_rule(public_url: str, scheme: str, host: str, expected: str | None) -> None:
    found = _found(public_url=public_url)
    assert submission_location(found, scheme, host, "/c/t/submission") == expected


def test_no_location_without_a_public_url_or_below_collects_unasked_size() -> None:
    url = "https://vt.example.org"
    assert submission_location(_found(public_url=url), "https", "vt.example.org", "/submission")
    unset = _found(public_url=url, public_url_configured=False)
    assert submission_location(unset, "https", "vt.example.org", "/submission") is None
    # After a remap Collect posts up to 10 MB without asking: a smaller limit would refuse it.
    small = _found(public_url=url, max_request_bytes=COLLECT_UNASKED_BYTES - 1)
    assert submission_location(small, "https", "vt.example.org", "/submission") is None
