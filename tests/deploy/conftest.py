"""The deployment tests' shared fixture: idpsync installed from its wheel into a fresh venv."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.deploy.support import Installed, build_wheel, make_venv


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    work = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(work)
    yield Installed(wheel, make_venv(work / "venv", wheel), work / "venv")
