"""Property-based API testing: schemathesis against the published OpenAPI spec.

A bounded run (few examples per operation), authenticated with an API token; the check is
that no request makes the service answer with a server error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from idpsync.store import Store
from tests.service.support import TOKEN, harness, serve_in_thread

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service on a real port (uvicorn in a thread), with one user synced."""
    tmp = tmp_path_factory.mktemp("schemathesis")
    store = Store.open(f"sqlite:///{tmp / 'd.db'}")
    h = harness(tmp, store)
    server, url = serve_in_thread(h.app)
    answer = httpx.post(f"{url}/api/connectors/hr/sync-user", json={"key": "id-1"}, headers=AUTH)
    assert answer.status_code == 200
    yield url
    server.stop()
    store.close()


def test_no_server_error(base_url: str) -> None:
    schema = schemathesis.openapi.from_dict(httpx.get(f"{base_url}/openapi.json").json())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
        def call(case: Any) -> None:
            response = case.call(base_url=base_url, headers=AUTH)
            case.validate_response(response, checks=[not_a_server_error])

        call()


def test_spec_is_published(base_url: str) -> None:
    spec = httpx.get(f"{base_url}/openapi.json").json()
    assert "/api/connectors/{name}/sync" in spec["paths"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
