"""`fieldcase demo seed`: plainly fake cases through the OpenRosa path (encrypted, every
form), refused on a deployment that holds real submissions."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from server.cli import main
from server.config import Config
from server.store.db import Store
from server.store.models import Case, Form, Submission
from tests.factories import plain_instance, post_submission

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("java") is None, reason="publishing runs ODK Validate"),
]


def _published(runner: CliRunner) -> None:
    assert runner.invoke(main, ["init"]).exit_code == 0
    published = runner.invoke(main, ["forms", "publish"])
    assert published.exit_code == 0, published.output


def test_seed_sends_fake_encrypted_cases_of_every_form(runner: CliRunner, store: Store) -> None:
    _published(runner)
    result = runner.invoke(main, ["demo", "seed", "--cases", "2", "--seed", "7"])
    assert result.exit_code == 0, result.output
    with store.session() as session:
        forms = session.scalar(select(func.count()).select_from(Form)) or 0
        submissions = session.scalars(select(Submission)).all()
        assert result.output.strip().splitlines()[-1] == (
            f"2 fake cases: {2 * forms} submissions sent, 0 refused"
        )
        assert len(submissions) == 2 * forms
        encrypted_forms = set(session.scalars(select(Form.id).where(Form.encrypted)).all())
        assert len(encrypted_forms) >= 7  # all but the outreach log, which names no one
        assert all(s.encrypted == (s.form_id in encrypted_forms) for s in submissions)
        assert {s.decrypt_state for s in submissions} == {"decrypted"}
        assert {s.unit_check for s in submissions} == {"accepted"}
        assert session.scalar(select(func.count()).select_from(Case)) == 2
        intake = next(s for s in submissions if s.data.get("pii"))
        assert intake.data["pii"]["full_name"].startswith("GIẢ LẬP / DEMO")
    again = runner.invoke(main, ["demo", "seed", "--cases", "1"])
    assert again.exit_code == 2  # seeded once: a second run would mix two demo sets


def test_seed_refuses_a_deployment_with_real_submissions(
    runner: CliRunner, store: Store, config: Config
) -> None:
    _published(runner)
    from server.app import create_app
    from tests.factories import add_collector, publish, simple_xform

    app = create_app(config, store)
    publish(app, simple_xform())
    token, _ = add_collector(app, "real-phone")
    assert post_submission(app.test_client(), f"/c/{token}", plain_instance()).status_code == 201
    refused = runner.invoke(main, ["demo", "seed", "--cases", "5"])
    assert refused.exit_code == 2
    assert "real submissions" in refused.output
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Submission)) == 1
