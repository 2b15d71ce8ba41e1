"""The built wheel is everything a user needs: installed (not editable), it serves and migrates.

One wheel is built and installed into a fresh virtualenv per test session (``conftest.py``);
the tests then use only that virtualenv's ``idpsync``.
"""

from __future__ import annotations

import re
import subprocess
import zipfile
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest

from tests.deploy.support import REPO, Installed, clean_env, minimal_config, serving

pytestmark = pytest.mark.slow


def test_the_wheel_holds_every_file_of_the_package(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    source = REPO / "src"
    wanted = {
        path.relative_to(source).as_posix()
        for path in source.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
        if ".egg-info" not in path.as_posix()
    }
    assert wanted - names == set()
    assert {"idpsync/web/templates/base.html", "idpsync/web/static/style.css"} <= names
    assert "idpsync/store/migrations/script.py.mako" in names


def test_the_package_comes_from_the_wheel_only(installed: Installed) -> None:
    probe = subprocess.run(
        [str(installed.bin / "python"), "-c", "import idpsync, sys; print(idpsync.__file__)"],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=True,
    )
    assert Path(probe.stdout.strip()).is_relative_to(installed.root)


def test_version_and_completion(installed: Installed) -> None:
    answer = installed.run("--version")
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == f"idpsync {version('idpsync')}"
    # Typer finds the shell from the process's parents (shellingham): run it from bash, as an
    # admin would; a test run whose parent is not a shell (pytest under init) would find none.
    idpsync = installed.bin / "idpsync"
    script = subprocess.run(
        # "; exit $?": with one command bash execs it in its own place, and is not its parent
        ["bash", "-c", f"'{idpsync}' --show-completion; exit $?"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
    )
    assert script.returncode == 0 and "_IDPSYNC_COMPLETE" in script.stdout, script.stderr
    env = clean_env(_IDPSYNC_COMPLETE="complete_bash", COMP_WORDS="idpsync con", COMP_CWORD="1")
    completed = subprocess.run(
        [str(installed.bin / "idpsync")], capture_output=True, text=True, env=env, check=True
    )
    assert completed.stdout.split() == ["config", "connectors"]


def _assets(page: str) -> list[str]:
    """Every same-origin stylesheet and script a page links."""
    found = re.findall(r'<(?:link[^>]+href|script[^>]+src)="(/[^"]+)"', page)
    assert found, page
    return found


def test_installed_serve_answers_pages_assets_docs_and_health(
    installed: Installed, tmp_path: Path
) -> None:
    config = minimal_config(tmp_path)
    command = [str(installed.bin / "idpsync"), "serve", "--config", str(config), "--port", "0"]
    with (
        serving(command, tmp_path / "serve.log") as (url, _proc),
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        for page in ("/login", "/docs"):
            answer = client.get(page)
            assert answer.status_code == 200, page
            for asset in _assets(answer.text):
                assert client.get(asset).status_code == 200, asset
        login = client.get("/login").text
        assert f"idpsync {version('idpsync')}" in login
        health = client.get("/healthz").json()
        assert health == {"status": "ok", "version": version("idpsync")}
        assert client.get("/openapi.json").json()["info"]["title"] == "idpsync"
    assert (tmp_path / "idpsync.db").exists()  # the migrations ran from the installed package
