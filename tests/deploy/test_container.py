"""The container image's files, and the commands the image runs, run outside a container.

No container engine runs on the project's machines (no registry for a base image, and no
cgroups for a runtime), so the image itself is not built here. What is checked: the Dockerfile
and compose.yaml say what the image must do, and the image's own CMD and HEALTHCHECK commands,
with the configuration shipped for it, serve from the installed wheel against PostgreSQL.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml

from tests.deploy.support import REPO, Installed, clean_env, serving, wait_for

Instruction = tuple[str, str]


def instructions(text: str) -> list[Instruction]:
    """The Dockerfile's instructions (continuation lines joined, comments dropped)."""
    joined = re.sub(
        r"\\\n\s*",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    found = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def final_stage() -> list[Instruction]:
    steps = instructions((REPO / "Dockerfile").read_text(encoding="utf-8"))
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def env_of(stage: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in stage:
        if word == "ENV":
            for part in shlex.split(rest):
                key, _, value = part.partition("=")
                env[key] = value
    return env


def exec_form(stage: list[Instruction], word: str) -> list[str]:
    (rest,) = [rest for w, rest in stage if w == word]
    if word == "HEALTHCHECK":
        rest = rest[rest.index("CMD ") + 4 :]
    command = json.loads(rest)
    assert isinstance(command, list)
    return [str(part) for part in command]


def test_dockerfile_builds_a_wheel_and_runs_it_as_a_user_with_a_healthcheck() -> None:
    steps = instructions((REPO / "Dockerfile").read_text(encoding="utf-8"))
    assert sum(word == "FROM" for word, _ in steps) == 2  # multi-stage
    stage = final_stage()
    copies = [rest for word, rest in stage if word in ("COPY", "ADD")]
    assert copies and all(rest.startswith("--from=build /wheels") for rest in copies)
    users = [rest for word, rest in stage if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert env_of(stage)["IDPSYNC_CONFIG"] == "/etc/idpsync/idpsync.toml"
    assert exec_form(stage, "CMD")[:2] == ["idpsync", "serve"]
    assert "IDPSYNC_HEALTH_URL" in " ".join(exec_form(stage, "HEALTHCHECK"))
    text = (REPO / ".dockerignore").read_text(encoding="utf-8")
    ignored = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert ignored[0] == "*" and "!src/" in ignored


def test_compose_runs_idpsync_with_postgresql_and_the_config_the_image_expects() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8"))
    app, db = compose["services"]["idpsync"], compose["services"]["db"]
    assert db["image"].startswith("postgres") and "healthcheck" in db
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    config = env_of(final_stage())["IDPSYNC_CONFIG"]
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in app["volumes"]}
    assert (REPO / mounts[config]).resolve() == REPO / "deploy/container/idpsync.toml"
    assert "PGPASSWORD" in app["environment"]
    assert all(port.startswith("127.0.0.1:") for port in app["ports"])


@pytest.mark.slow
@pytest.mark.postgres
def test_the_image_commands_serve_with_its_config_from_the_wheel(
    installed: Installed, tmp_path: Path, fresh_pg_url: str
) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    shipped = (REPO / "deploy/container/idpsync.toml").read_text(encoding="utf-8")
    people = etc / "people.json"
    people.write_bytes((REPO / "deploy/container/people.json").read_bytes())
    config = etc / "idpsync.toml"
    config.write_text(  # the compose file's hosts become this machine's
        shipped.replace("postgresql+psycopg://idpsync@db:5432/idpsync", fresh_pg_url).replace(
            "/etc/idpsync/people.json", str(people)
        ),
        encoding="utf-8",
    )
    assert config.read_text(encoding="utf-8") != shipped
    stage = final_stage()
    cmd, health = exec_form(stage, "CMD"), exec_form(stage, "HEALTHCHECK")
    command = [str(installed.bin / cmd[0]), *cmd[1:], "--host", "127.0.0.1", "--port", "0"]
    env = clean_env(IDPSYNC_CONFIG=str(config))  # as the image's ENV sets it
    probe = [str(installed.bin / health[0]), *health[1:]]
    log = tmp_path / "serve.log"
    with serving(command, log, env) as (url, _):
        ok = subprocess.run(probe, env=clean_env(IDPSYNC_HEALTH_URL=f"{url}/healthz"))
        assert ok.returncode == 0
        assert httpx.get(f"{url}/healthz", timeout=30).json()["status"] == "ok"

        def finished() -> list[dict[str, object]]:  # the schedule's last slot runs at start
            lines = [json.loads(line) for line in log.read_text().splitlines()]  # all JSON
            return [line for line in lines if line["message"] == "run finished"]

        run = wait_for("the sample connector's run", finished)[0]
    assert run["connector"] == "hr" and run["status"] == "succeeded"
    down = subprocess.run(probe, env=clean_env(IDPSYNC_HEALTH_URL=f"{url}/healthz"))
    assert down.returncode != 0
    engine = sa.create_engine(fresh_pg_url)
    try:
        with engine.connect() as conn:  # the migrations ran from the installed wheel
            users = conn.execute(sa.text("SELECT login FROM users ORDER BY login")).scalars()
            assert list(users) == ["ada", "grace"]
    finally:
        engine.dispose()
