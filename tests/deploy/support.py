"""Helpers of the deployment tests: build the wheel, install it into a fresh virtualenv, serve.

The virtualenv gets idpsync only from the wheel (no editable install, no source tree on the
path); its dependencies come from the test run's own environment through a ``.pth`` line, so
nothing is downloaded.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
LISTENING = re.compile(r"idpsync listening on (http://[^\s\"]+)")


def build_wheel(work: Path) -> Path:
    """Build the wheel from a copy of the source (the tree itself stays clean)."""
    tree = work / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, tree / name)
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    shutil.copytree(REPO / "src", tree / "src", ignore=junk)
    dist = work / "dist"
    subprocess.run(
        [*PIP, "wheel", ".", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist)],
        cwd=tree,
        check=True,
        env=clean_env(),
    )
    (wheel,) = dist.glob("idpsync-*.whl")
    return wheel


def make_venv(where: Path, wheel: Path) -> Path:
    """A fresh virtualenv with the wheel installed (not editable); returns its ``bin``."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    subprocess.run(
        [*PIP, "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True,
        env=clean_env(),
    )
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        env=clean_env(),
    ).stdout.strip()
    # The dependencies: this environment's site-packages as a plain path entry. A directory
    # named in a .pth file is not a site directory, so its own .pth files (the editable
    # install of idpsync among them) are not read.
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(purelib) / "zz_test_dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    return where / "bin"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that would put the source tree on the path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.pop("VIRTUAL_ENV", None)
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll ``check`` until it returns something true (fails the test after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def serving(
    command: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run ``idpsync serve …``; yield the URL it says it listens on, and the process."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env or clean_env()
        )
    try:

        def listening() -> str | None:
            text = log.read_text(errors="replace")
            if proc.poll() is not None:
                raise AssertionError(f"serve ended with {proc.returncode}:\n{text}")
            found = LISTENING.search(text)
            return found.group(1) if found else None

        yield wait_for("the listening line", listening), proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def minimal_config(where: Path, store: str = "sqlite:///idpsync.db") -> Path:
    """A configuration with a store and one file connector, as a new user would start."""
    people = where / "people.json"
    people.write_text('{"users": [], "groups": []}\n', encoding="utf-8")
    path = where / "idpsync.toml"
    path.write_text(
        f'[store]\nurl = "{store}"\n\n'
        '[connectors.hr.source]\ntype = "file"\npath = "people.json"\n',
        encoding="utf-8",
    )
    return path


@dataclass
class Installed:
    """idpsync installed from its wheel: the wheel, the venv's ``bin`` and the venv."""

    wheel: Path
    bin: Path
    root: Path

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / "idpsync"), *args],
            capture_output=True,
            text=True,
            cwd=cwd,
            env=clean_env(),
            timeout=120,
        )
