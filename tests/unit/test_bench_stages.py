"""bench/stages.py: py-spy's raw stacks sorted into ingest stages, waits left out of the shares."""

from __future__ import annotations

from bench.stages import OTHER, WAITING, breakdown, stage_of, table

SERVE = "process 1:serve;ThreadWorker.handle (gunicorn/workers/gthread.py:532)"
VIEW = f"{SERVE};Flask.wsgi_app (flask/app.py:1511);submission_post (server/openrosa/routes.py:159)"


def test_authentication_sql_counts_to_authentication_not_to_sql() -> None:
    frames = [
        *SERVE.split(";"),
        "Services.authenticate_collector (server/app_context.py:83)",
        "Connection.execute (sqlalchemy/engine/base.py:1450)",
        "DefaultDialect.do_execute (sqlalchemy/engine/default.py:1192)",
    ]
    assert stage_of(frames).startswith("collector auth")


def test_a_thread_blocked_on_a_lock_or_fsync_is_waiting_not_cpu() -> None:
    assert stage_of(
        [*VIEW.split(";"), "GroupCommit.record (server/services/recording.py:207)"]
    ) == (WAITING)
    assert stage_of([*VIEW.split(";"), "FileBlobStore._sync (server/blobs.py:279)"]) == WAITING
    # The same blob code doing work (not in the fsync leaf) is CPU of its stage.
    assert stage_of(
        [*VIEW.split(";"), "FileBlobStore._temporary (server/blobs.py:299)"]
    ).startswith("blob write")


def test_processing_sql_and_decryption_are_their_own_rows() -> None:
    thread = [
        "Thread.run (threading.py:982)",
        "BackgroundProcessing._run (server/services/background.py:110)",
    ]
    sql = [
        *thread,
        "set_columns_many (server/store/submissions.py:230)",
        "DefaultDialect.do_execute (sqlalchemy/engine/default.py:1192)",
    ]
    rsa = [*thread, "Decryptor.unwrap_key (crypto/decrypt.py:139)"]
    assert stage_of(sql) == "processing: SQL"
    assert stage_of(rsa).startswith("decrypt")
    assert stage_of(["Thread.run (threading.py:982)"]) == OTHER


def test_shares_leave_waiting_samples_out() -> None:
    lines = [
        f"{SERVE};Services.authenticate_collector (server/app_context.py:83) 3\n",
        f"{SERVE};write (gunicorn/util.py:348) 1\n",
        f"{VIEW};GroupCommit.record (server/services/recording.py:207) 96\n",
    ]
    counts = breakdown(lines)
    assert counts[WAITING] == 96
    rendered = table(counts, per_submission_ms=4.0)
    assert "| collector auth (incl. its SQL, last_seen) | 75.0% | 3.00 |" in rendered
    assert "| HTTP server (gunicorn, sockets) | 25.0% | 1.00 |" in rendered


def test_the_lean_submission_route_is_its_own_row_not_flask() -> None:
    # gunicorn calls the app through Flask.__call__, so the lean route's stacks have a Flask
    # frame at their root; its own work must not be counted as Flask's.
    lean = [
        *SERVE.split(";"),
        "Flask.__call__ (flask/app.py:1536)",
        "ClientAddress.__call__ (server/proxies.py:55)",
        "SubmissionRoute._answer (server/openrosa/fast.py:90)",
        "parse_options_header (werkzeug/http.py:400)",
    ]
    assert stage_of(lean).startswith("lean submission route")
    # Flask's own request work still counts to Flask.
    assert stage_of(
        [
            *SERVE.split(";"),
            "Flask.__call__ (flask/app.py:1536)",
            "Flask.wsgi_app (flask/app.py:1511)",
        ]
    ).startswith("Flask/werkzeug")
