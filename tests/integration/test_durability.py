"""Nothing acknowledged is lost: SIGKILL the server in the middle of a stream of submissions."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from server.app_context import Services
from server.config import Config
from server.store.db import Store
from server.store.models import Submission
from tests.conftest import env_for
from tests.factories import plain_instance
from tests.serving import ServerProcess
from tests.streaming import SubmissionStream, prepare

pytestmark = pytest.mark.slow


def test_sigkill_mid_stream_loses_no_acknowledged_submission(
    config: Config, store: Store, tmp_path: Path
) -> None:
    public_key, token = prepare(config, store)
    server = ServerProcess(env_for(config), log_path=tmp_path / "server.log")
    server.start()
    stream = SubmissionStream(server.url, token, public_key)
    stream.start()
    try:
        assert stream.wait_for(20)
        server.kill()
        stream.stop()
        server.start()
        # What was committed but not yet decrypted when the process died is decrypted now.
        Services(config, store).processor.process_pending()
    finally:
        stream.stop()
        server.stop()

    with store.session() as session:
        rows = {s.instance_id: s for s in session.scalars(select(Submission))}
    acknowledged = stream.acknowledged
    assert [i for i in acknowledged if i not in rows] == []
    assert all(rows[i].decrypt_state == "decrypted" for i in acknowledged)
    assert all(rows[i].signature == "valid" for i in acknowledged)

    # The server decrypted every one of them; nothing of what they hold reached its log.
    log_text = (tmp_path / "server.log").read_text(encoding="utf-8", errors="replace")
    assert "Listening at" in log_text, "the server log was not captured"
    full_name = "Nguyễn Thị Lan"
    assert full_name.encode() in plain_instance()  # what every submission of the stream holds
    assert full_name not in log_text
