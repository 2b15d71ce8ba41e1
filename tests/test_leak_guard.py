"""The garbage collection at each teardown (tests/conftest.py) reports a leak on its own test.

A test that drops an open socket in a reference cycle is run, in a pytest of its own with this
suite's conftest and warnings as errors, before a clean test: the unclosed socket's warning
must fail the leaking test's teardown, not the clean test that runs next.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

LEAKY = """
import socket


class Cycle:
    def __init__(self, thing: object) -> None:
        self.thing, self.me = thing, self


def test_drops_an_open_socket() -> None:
    Cycle(socket.socket())


def test_next_one_is_clean() -> None:
    Cycle(object())
"""


def test_a_leak_fails_the_test_that_leaked_it(tmp_path: Path) -> None:
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_leaky.py").write_text(LEAKY)
    ini = "[pytest]\nfilterwarnings = error\nasyncio_default_fixture_loop_scope = function\n"
    (tmp_path / "pytest.ini").write_text(ini)
    src = str(Path(__file__).parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout + done.stderr
    assert "ERROR at teardown of test_drops_an_open_socket" in out, out
    assert "ResourceWarning: unclosed <socket.socket" in out, out
    assert "PASSED test_leaky.py::test_next_one_is_clean" in out, out
    assert "ERROR test_leaky.py::test_next_one_is_clean" not in out, out
    assert "2 passed, 1 error" in out, out
