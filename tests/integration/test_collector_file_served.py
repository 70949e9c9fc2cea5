"""The per-collector attachment against a real `fieldcase serve`, fetched as ODK Collect
fetches a form: formList, the XForm, its manifest, then each file with its MD5 checked. Each
phone's `collector.csv` holds its own unit, which the real intake form defaults to."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest

from forms.compiler import SOURCE_DIR, compile_form
from server.app_context import Services
from server.config import Config
from server.services import collectors as collector_service
from server.services.forms import publish_compiled
from server.services.setup import initialise
from server.store import keys as key_store
from server.store.db import Store
from tests.collect_client import CollectClient
from tests.conftest import env_for
from tests.serving import ServerProcess

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("java") is None, reason="ODK Validate needs java"),
]


def _row(form_media: dict[str, bytes]) -> dict[str, str]:
    rows = list(csv.DictReader(io.StringIO(form_media["collector.csv"].decode("utf-8"))))
    assert len(rows) == 1
    return rows[0]


def test_each_phone_gets_its_own_unit_from_a_running_server(
    config: Config, store: Store, tmp_path: Path
) -> None:
    initialise(config, store)
    blobs = Services(config, store).blobs
    with store.session() as session:
        key = key_store.active(session)
        assert key is not None
        intake = compile_form(SOURCE_DIR / "vt01_intake.xlsx", public_key=key.public_key_b64)
        publish_compiled(session, blobs, intake, "test")
        tokens = {
            unit: collector_service.create(session, "http://x", f"phone-{unit}", unit, "t")
            for unit in ("01", "06712", "79")
        }
    env = {**env_for(config), "FIELDCASE_PROVINCE_HOTLINES": "22=0203 3000 111"}
    server = ServerProcess(env, log_path=tmp_path / "server.log")
    server.start()
    try:
        phones = {
            unit: CollectClient(f"{server.url}/c/{created.token}")
            for unit, created in tokens.items()
        }
        forms = {unit: phone.download_form("vt01_intake") for unit, phone in phones.items()}
        with store.session() as session:
            collector_service.revoke(session, tokens["79"].collector.id, "test")
        revoked = phones["79"].get(f"{server.url}/c/{tokens['79'].token}/formList")
    finally:
        server.stop()
    assert b"jr://file-csv/collector.csv" in forms["01"].xml
    assert forms["01"].media["admin_units.csv"] == forms["06712"].media["admin_units.csv"]
    assert _row(forms["01"].media) == {
        "unit_code": "01",
        "province_code": "01",
        "commune_code": "",
        "province_hotline": "",
    }
    assert _row(forms["06712"].media) == {
        "unit_code": "06712",
        "province_code": "22",  # Móng Cái 1 lies in Quảng Ninh
        "commune_code": "06712",
        "province_hotline": "0203 3000 111",
    }
    assert forms["01"].media_md5["collector.csv"] != forms["06712"].media_md5["collector.csv"]
    assert _row(forms["79"].media)["province_code"] == "79"
    assert revoked.status_code == 403
