"""/metrics: off unless asked for, then only to allowed addresses and with the bearer token
when one is set; counts submissions, requests, processing, failed sign-ins, exports."""

from __future__ import annotations

import ipaddress
import re

from flask.testing import FlaskClient

from server.app import create_app
from server.config import Config
from server.store.db import Store
from tests.factories import Deployment, plain_instance, post_submission


def _client(config: Config, store: Store, **changes: object) -> FlaskClient:
    return create_app(config.with_changes(**changes), store).test_client()


def _value(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name + (f"{{{labels}}}" if labels else "")) + r" ([0-9.e+-]+)$"
    found = re.search(pattern, text, re.M)
    return float(found[1]) if found else 0.0


def test_metrics_are_off_by_default(deployment: Deployment) -> None:
    assert deployment.client.get("/metrics").status_code == 404


def test_metrics_count_what_an_operator_watches(
    deployment: Deployment, config: Config, store: Store
) -> None:
    client = _client(config, store, metrics=True)
    before = client.get("/metrics").get_data(as_text=True)
    xml = plain_instance(instance_id="uuid:metrics-1")
    assert post_submission(client, deployment.url_prefix, xml).status_code == 201
    assert post_submission(client, deployment.url_prefix, xml).status_code == 202
    client.get("/login")
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert csrf
    client.post("/login", data={"csrf_token": csrf[1], "username": "admin", "password": "wrong"})
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    after = response.get_data(as_text=True)

    def grew(name: str, labels: str = "") -> float:
        return _value(after, name, labels) - _value(before, name, labels)

    assert grew("fieldcase_submissions_received_total", 'status="201"') == 1
    assert grew("fieldcase_submissions_received_total", 'status="202"') == 1
    assert grew("fieldcase_login_failures_total", 'channel="web"') == 1
    assert grew("fieldcase_processing_duration_seconds_count") >= 1
    assert grew("fieldcase_submissions_processed_total", 'state="decrypted"') >= 1
    assert (
        grew(
            "fieldcase_http_request_duration_seconds_count",
            'method="POST",route="openrosa.submission"',
        )
        == 2
    )
    assert _value(after, "fieldcase_submissions_by_decrypt_state", 'state="decrypted"') == 1
    assert _value(after, "fieldcase_submissions_by_decrypt_state", 'state="pending"') == 0
    assert _value(after, "fieldcase_data_dir_free_bytes") > 0
    assert "fieldcase_export_duration_seconds" in after
    assert deployment.token not in after


def test_metrics_refuse_an_address_outside_the_allow_list(
    deployment: Deployment, config: Config, store: Store
) -> None:
    client = _client(config, store, metrics=True)
    outside = client.get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert outside.status_code == 403
    allowed = _client(
        config, store, metrics=True, metrics_allow=(ipaddress.ip_network("192.0.2.0/24"),)
    ).get("/metrics", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert allowed.status_code == 200


def test_metrics_ask_for_the_bearer_token_when_one_is_set(
    deployment: Deployment, config: Config, store: Store
) -> None:
    client = _client(config, store, metrics=True, metrics_token="scrape-token-0123456789")
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")
    right = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-0123456789"})
    assert right.status_code == 200


def test_metrics_settings_are_read_from_the_environment(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = Config.from_env(
        {
            "FIELDCASE_DATA_DIR": str(tmp_path),
            "FIELDCASE_METRICS": "true",
            "FIELDCASE_METRICS_ALLOW": "10.1.0.0/16, 127.0.0.1",
            "FIELDCASE_METRICS_TOKEN": "t0ken",
        }
    )
    assert config.metrics
    assert [str(n) for n in config.metrics_allow] == ["10.1.0.0/16", "127.0.0.1/32"]
    assert config.metrics_token == "t0ken"
    assert not Config.from_env({"FIELDCASE_DATA_DIR": str(tmp_path)}).metrics


def test_metrics_are_made_once_when_threads_race() -> None:
    """The first requests of a worker arrive together: they must not register twice."""
    import threading

    from server import metrics

    saved = dict(metrics._MADE)
    metrics._MADE.clear()
    from prometheus_client import REGISTRY

    for collector in {id(m): m for m in saved.values()}.values():
        REGISTRY.unregister(collector)
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def first_use() -> None:
        barrier.wait()
        try:
            metrics.count_login_failure("web")
        except BaseException as exc:  # DuplicateTimeseries before the lock
            errors.append(exc)

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert metrics._MADE["login_failures"].labels(channel="web")._value.get() >= 8
