"""Fuzzing the inputs phones send: random manifests, XML and multipart bodies never crash the
server (no 500) and never write outside the data directory."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.errors import ManifestError
from crypto.manifest import parse_manifest
from tests.factories import Deployment, plain_instance, services_of

xml_ish = st.one_of(
    st.binary(max_size=300),
    st.text(alphabet=st.sampled_from("<>/=\"' abcdeiyxnmtdafl:&;!-?[]DOCTYPE\n"), max_size=300).map(
        str.encode
    ),
    st.builds(
        lambda body: b'<data id="vt_test" encrypted="yes">' + body + b"</data>",
        st.binary(max_size=200),
    ),
)


@settings(max_examples=300, deadline=None)
@given(xml_ish)
def test_manifest_parser_only_raises_its_own_error(data: bytes) -> None:
    with contextlib.suppress(ManifestError):
        parse_manifest(data)


names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(xml=xml_ish, file_name=names, content=st.binary(max_size=100))
def test_submission_endpoint_never_fails_with_500(
    deployment: Deployment, tmp_path: Path, xml: bytes, file_name: str, content: bytes
) -> None:
    data_dir = services_of(deployment.app).config.data_dir
    parent = data_dir.parent
    outside_before = {p for p in parent.rglob("*") if data_dir not in p.parents and p != data_dir}
    for body in (xml, plain_instance()):
        response = deployment.client.post(
            f"{deployment.url_prefix}/submission",
            data={
                "xml_submission_file": (io.BytesIO(body), "submission.xml"),
                file_name: (io.BytesIO(content), file_name),
            },
            content_type="multipart/form-data",
            headers={"X-OpenRosa-Version": "1.0"},
        )
        assert response.status_code < 500, response.get_data(as_text=True)
    outside_after = {p for p in parent.rglob("*") if data_dir not in p.parents and p != data_dir}
    assert outside_after - outside_before == set()
