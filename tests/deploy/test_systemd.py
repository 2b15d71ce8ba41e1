"""``deploy/systemd/idpsync.service``: a hardened unit that systemd accepts.

``systemd-analyze verify`` checks it where the tool exists (Debian's systemd has it); it is
given a copy whose ``ExecStart`` names this environment's ``idpsync``, since verify checks that
the command is executable. Unknown keys and bad values are only warnings to verify, so any
line it prints about the unit fails the test. The parser test runs everywhere.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.deploy.support import REPO

UNIT = REPO / "deploy" / "systemd" / "idpsync.service"
EXEC = "/opt/idpsync/bin/idpsync"


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections → keys → values (a key may repeat), as systemd reads a unit file."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert sep and current is not None and key.strip().isidentifier(), f"line {number}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_unit_runs_serve_as_its_own_user_with_the_hardening_options() -> None:
    unit = parse_unit(UNIT.read_text(encoding="utf-8"))
    assert set(unit) == {"Unit", "Service", "Install"}
    service = {key: values[-1] for key, values in unit["Service"].items()}
    assert service["ExecStart"].startswith(f"{EXEC} serve --config /etc/idpsync/idpsync.toml")
    assert service["User"] == service["Group"] == "idpsync"
    assert service["StateDirectory"] == service["ConfigurationDirectory"] == "idpsync"
    assert service["EnvironmentFile"] == "-/etc/idpsync/idpsync.env"
    assert service["Restart"] == "on-failure"
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert service[key] == "yes", key
    assert service["ProtectSystem"] == "strict"
    assert set(service["RestrictAddressFamilies"].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]
    sysusers = (UNIT.parent / "idpsync.sysusers").read_text(encoding="utf-8")
    assert "\nu idpsync - " in sysusers


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:  # no systemd here: the parser test above is the check
        parse_unit(UNIT.read_text(encoding="utf-8"))
        return
    idpsync = Path(sys.executable).parent / "idpsync"
    assert idpsync.exists()
    copy = tmp_path / "idpsync.service"
    copy.write_text(UNIT.read_text(encoding="utf-8").replace(EXEC, str(idpsync)))
    result = subprocess.run([tool, "verify", str(copy)], capture_output=True, text=True)
    about_unit = [
        line for line in (result.stdout + result.stderr).splitlines() if "idpsync" in line
    ]
    assert result.returncode == 0 and about_unit == [], result.stdout + result.stderr
