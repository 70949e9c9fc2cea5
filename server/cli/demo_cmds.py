"""`fieldcase demo seed --cases N`: fill a fresh deployment with plainly fake cases.

For training sessions and evaluation. Every fake case is one submission of every published
form (server/services/demo.py), encrypted as ODK Collect encrypts it and sent through the
OpenRosa edge of the app (the WSGI app in this process, the same code `serve` runs), so it
is stored, decrypted and projected like a real one. Refused on a deployment that holds any
submission not sent by the demo collector.
"""

from __future__ import annotations

import io
import random

import click

from crypto.encrypt import encrypt_submission
from crypto.keys import load_public_key
from server.cli.common import fail, load_config, open_store
from server.services import collectors as collector_service
from server.services import demo


@click.group("demo")
def demo_group() -> None:
    """Fake data for training and evaluation."""


@demo_group.command("seed")
@click.option("--cases", default=200, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--seed", "random_seed", default=None, type=int, help="Repeatable fake data.")
def seed(cases: int, random_seed: int | None) -> None:
    """Send CASES fake cases (every published form each) through the OpenRosa path."""
    from server.app import create_app

    config = load_config()
    store = open_store(config)
    with store.session() as session:
        if demo.real_submissions(session):
            fail(
                "kho dữ liệu này đã có bản gửi thật; dữ liệu giả chỉ dùng cho triển khai mới. / "
                "this deployment holds real submissions; fake cases go only into a fresh one.",
                code=2,
            )
        forms = demo.demo_forms(session)
        if not forms:
            fail(
                "chưa có biểu mẫu nào được công bố / no form is published: "
                "run `fieldcase forms publish`"
            )
        collector = collector_service.collector_by_name(session, demo.DEMO_COLLECTOR)
        if collector is not None:
            fail(
                f"người thu thập {demo.DEMO_COLLECTOR} đã có; thu hồi hoặc dùng kho mới. / "
                f"collector {demo.DEMO_COLLECTOR} exists already (seeded before).",
                code=2,
            )
        created = collector_service.create(
            session, config.public_url, demo.DEMO_COLLECTOR, demo.DEMO_PROVINCE, "cli"
        )
        token = created.token
    app = create_app(config, store)
    client = app.test_client()
    rng = random.Random(random_seed)
    sent = refused = 0
    for serial, code in enumerate(demo.case_codes(cases, rng), start=1):
        for form in forms:
            xml, instance_id = demo.fake_instance(form, code, serial, rng)
            files: dict[str, bytes] = {}
            if form.public_key_b64:
                sealed = encrypt_submission(
                    load_public_key(form.public_key_b64),
                    form.form_id,
                    form.version,
                    instance_id,
                    xml,
                )
                xml, files = sealed.manifest, dict(sealed.files)
            data: dict[str, object] = {
                "xml_submission_file": (io.BytesIO(xml), "submission.xml", "text/xml")
            }
            for name, content in files.items():
                data[name] = (io.BytesIO(content), name, "application/octet-stream")
            response = client.post(
                f"/c/{token}/submission",
                data=data,
                content_type="multipart/form-data",
                headers={"X-OpenRosa-Version": "1.0", "User-Agent": "fieldcase-demo-seed"},
            )
            if response.status_code == 201:
                sent += 1
            else:
                refused += 1
    store.dispose()
    click.echo(f"{cases} fake cases: {sent} submissions sent, {refused} refused")
    if refused:
        raise SystemExit(1)


COMMANDS = [demo_group]
