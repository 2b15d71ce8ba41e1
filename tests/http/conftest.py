from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from idpsync.http import set_testing
from tests.http.servers import Certificate, Tinyproxy, self_signed

SECRET = "s3cr3t-Zq9xWv-client-secret"
"""The client secret every test uses; it must never appear in any output."""


@pytest.fixture(autouse=True)
def no_sleep() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


@pytest.fixture(scope="session")
def cert(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed(tmp_path_factory.mktemp("tls"), ["127.0.0.1", "localhost"])


@pytest.fixture(scope="session")
def tinyproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tinyproxy]:
    proxy = Tinyproxy(tmp_path_factory.mktemp("proxy"))
    yield proxy
    proxy.stop()


@pytest.fixture(scope="session")
def strict_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tinyproxy]:
    """A tinyproxy that only allows CONNECT to port 443, so it refuses our test ports."""
    proxy = Tinyproxy(tmp_path_factory.mktemp("strict"), connect_ports=[443])
    yield proxy
    proxy.stop()


def assert_clean(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text
        assert "tok-" not in text, "an access token leaked"


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    return tmp_path
