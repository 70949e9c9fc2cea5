"""Export zips never carry a path a phone chose (issue 13, item 10).

Phones send hostile instanceIDs through the real OpenRosa POST (plain and encrypted); files with
hostile names stand for parts stored before the part-name rule was tightened (the POST refuses
them now, tests/api/test_part_names.py), so their stored names are set directly. Then
`fieldcase export submissions --attachments` runs and every entry name of the zip is checked.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select, update

from crypto.names import is_plain_name
from exports.entry_names import media_file_name, media_folder
from server.cli import main
from server.store.models import Submission, SubmissionPart
from tests.factories import (
    Deployment,
    add_collector,
    plain_instance,
    post_submission,
    publish,
    server_public_key,
    services_of,
    simple_xform,
)
from tests.submissions import encrypted_instance

COLLECT_ID = "uuid:6f1c2b7e-2f4a-4d7b-9a55-0c4d3e2b1a90"
HOSTILE_IDS = [
    "..\\..\\..\\Startup/evil.bat",  # what the outside review put in a zip
    "uuid:..\\..\\..\\Startup",
    "uuid:../../../etc/cron.d/x",
    "C:\\Windows\\System32\\evil",
    "/etc/passwd",
    "uuid:6F1C2B7E-2F4A-4D7B-9A55-0C4D3E2B1A90",  # not canonical: would share Collect's folder
    "uuid:\u202egpj.exe",
    "uuid:" + "x" * 250,  # as long as the store keeps
]
# Stored names that the part-name rule now refuses at the door.
HOSTILE_PART_NAMES = [
    "..\\..\\Startup\\evil.bat",
    "..",
    "evil\u202egpj.exe",
    "photo.jpg\n",
    "CON.jpg",
    "x:y.jpg",
    "a/b.jpg",
    "ảnh ",
]
_ENTRY = re.compile(
    r"media/(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|id-[0-9a-f]{20})/([^/]+)"
)


def _safe_entry(name: str) -> bool:
    if name in ("vt_test.csv", "vt_test-minors.csv", "media/index.csv"):
        return True
    match = _ENTRY.fullmatch(name)
    return (
        bool(match)
        and is_plain_name(match.group(1))
        and media_file_name(match.group(1)) == (match.group(1))
    )


def _export(runner: CliRunner, out: Path) -> zipfile.ZipFile:
    result = runner.invoke(
        main, ["export", "submissions", "--form", "vt_test", "--out", str(out), "--attachments"]
    )
    assert result.exit_code == 0, result.output
    return zipfile.ZipFile(out)


def test_hostile_instance_ids_and_part_names_never_make_a_zip_path(
    deployment: Deployment, runner: CliRunner, tmp_path: Path
) -> None:
    client, prefix = deployment.client, deployment.url_prefix
    for number, instance_id in enumerate([COLLECT_ID, *HOSTILE_IDS]):
        xml = plain_instance(instance_id=instance_id, case_code=f"01-2025-{number:06d}")
        files = {f"photo{number}.jpg": f"photo of {number}".encode()}
        response = post_submission(client, prefix, xml, files)
        assert response.status_code == 201, (instance_id, response.get_data(as_text=True))
    # One submission whose parts were stored under names the door refuses today.
    xml = plain_instance(instance_id="uuid:legacy", case_code="01-2025-legacy")
    legacy = {f"legacy{n}.jpg": f"legacy {n}".encode() for n in range(len(HOSTILE_PART_NAMES))}
    assert post_submission(client, prefix, xml, legacy).status_code == 201
    with services_of(deployment.app).store.session() as session:
        legacy_id = session.scalars(
            select(Submission.id).where(Submission.instance_id == "uuid:legacy")
        ).one()
        for n, name in enumerate(HOSTILE_PART_NAMES):
            session.execute(
                update(SubmissionPart)
                .where(SubmissionPart.submission_id == legacy_id)
                .where(SubmissionPart.name == f"legacy{n}.jpg")
                .values(name=name)
            )

    work = tmp_path / "work"  # tmp_path holds the data directory too
    work.mkdir()
    with _export(runner, work / "export.zip") as archive:
        names = archive.namelist()
        unsafe = [name for name in names if not _safe_entry(name)]
        assert unsafe == []
        assert not [n for n in names if "\\" in n or ".." in n or n.startswith("/")]
        assert len(names) == len(set(names))
        # Collect's own ids keep a readable folder; every file is there, byte for byte.
        folder = "media/6f1c2b7e-2f4a-4d7b-9a55-0c4d3e2b1a90"
        assert archive.read(f"{folder}/photo0.jpg") == b"photo of 0"
        for number, instance_id in enumerate(HOSTILE_IDS, start=1):
            entry = f"{media_folder(instance_id)}/photo{number}.jpg"
            assert archive.read(entry) == f"photo of {number}".encode()
        legacy_folder = media_folder("uuid:legacy")
        legacy_entries = sorted(n for n in names if n.startswith(legacy_folder + "/"))
        assert len(legacy_entries) == len(HOSTILE_PART_NAMES)
        assert sorted(archive.read(n) for n in legacy_entries) == sorted(legacy.values())
        # The index matches every folder to its submission's KEY.
        index = list(csv.reader(io.StringIO(archive.read("media/index.csv").decode("utf-8-sig"))))
        assert index[0] == ["KEY", "file"]
        keys = {row[1]: row[0] for row in index[1:]}
        assert set(keys) == {n for n in names if n.startswith("media/") and n != "media/index.csv"}
        assert keys[f"{media_folder(HOSTILE_IDS[0])}/photo1.jpg"] == HOSTILE_IDS[0]
        # Extracting it anywhere writes only inside the target folder.
        target = work / "unzipped"
        archive.extractall(target)
    written = [p for p in work.rglob("*") if p.is_file()]
    assert all(p.is_relative_to(target) or p.name == "export.zip" for p in written)


def test_an_encrypted_submission_with_a_hostile_instance_id(
    deployment: Deployment, runner: CliRunner, tmp_path: Path
) -> None:
    public_key = server_public_key(deployment.app)
    publish(deployment.app, simple_xform(form_id="vt_test", version="2", public_key=public_key))
    token, _ = add_collector(deployment.app, "phone-enc")
    instance_id = "uuid:..\\..\\..\\Startup"
    manifest, files = encrypted_instance(
        public_key, "vt_test", "2", instance_id, media=[("ảnh hồ sơ.jpg", b"\xff\xd8\xffphoto")]
    )
    response = post_submission(deployment.client, f"/c/{token}", manifest, dict(files))
    assert response.status_code == 201, response.get_data(as_text=True)
    with _export(runner, tmp_path / "export.zip") as archive:
        names = archive.namelist()
        assert [n for n in names if not _safe_entry(n)] == []
        entry = f"{media_folder(instance_id)}/ảnh hồ sơ.jpg"
        assert archive.read(entry) == b"\xff\xd8\xffphoto"


def test_an_instance_id_longer_than_the_store_keeps_is_refused_clearly(
    deployment: Deployment,
) -> None:
    # It used to reach the database: PostgreSQL refused the row and the phone got a 500.
    for instance_id in ("uuid:" + "x" * 251, "x" * 100_000):
        response = post_submission(
            deployment.client, deployment.url_prefix, plain_instance(instance_id=instance_id)
        )
        assert response.status_code == 400
        assert "meta/instanceID is longer than 255 characters" in response.get_data(as_text=True)
    edit = plain_instance(deprecated_id="uuid:" + "y" * 251)
    response = post_submission(deployment.client, deployment.url_prefix, edit)
    assert response.status_code == 400
    assert "meta/deprecatedID is longer than 255 characters" in response.get_data(as_text=True)
    with services_of(deployment.app).store.session() as session:
        assert session.scalars(select(Submission.id)).all() == []


def test_folder_and_file_names() -> None:
    assert media_folder(COLLECT_ID) == "media/6f1c2b7e-2f4a-4d7b-9a55-0c4d3e2b1a90"
    assert media_folder("uuid:legacy") == media_folder("uuid:legacy")  # stable
    assert media_folder("uuid:a") != media_folder("uuid:A")
    assert re.fullmatch(r"media/id-[0-9a-f]{20}", media_folder("..\\evil"))
    assert media_file_name("1712345678901.jpg") == "1712345678901.jpg"
    assert media_file_name("Ảnh giấy giới thiệu.jpg") == "Ảnh giấy giới thiệu.jpg"
    assert re.fullmatch(r"file-[0-9a-f]{16}\.bat", media_file_name("..\\..\\evil.bat"))
    # The real extension stays, so the listing shows what the file is.
    assert re.fullmatch(r"file-[0-9a-f]{16}\.exe", media_file_name("evil\u202egpj.exe"))
    assert re.fullmatch(r"file-[0-9a-f]{16}\.jpg", media_file_name("nul.jpg"))
    assert re.fullmatch(r"file-[0-9a-f]{16}", media_file_name("photo.jpg\n"))
