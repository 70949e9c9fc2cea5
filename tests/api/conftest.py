"""An initialised deployment with one published form and one collector."""

from __future__ import annotations

import pytest
from flask import Flask

from server.config import Config
from server.services.setup import initialise
from server.store.db import Store
from tests.factories import Deployment, add_collector, publish, simple_xform


@pytest.fixture
def deployment(app: Flask, config: Config, store: Store) -> Deployment:
    """Server key and admin made, `vt_test` v1 published (plain), collector `phone-1`."""
    initialise(config, store)
    publish(app, simple_xform(), {"admin_units.csv": "code,name\n01,Hà Nội\n".encode()})
    token, collector_id = add_collector(app)
    return Deployment(app, app.test_client(), token, f"/c/{token}", collector_id, None)
