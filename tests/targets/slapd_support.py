"""A real OpenLDAP ``slapd`` in a temporary directory, on a free port (mdb database on disk).

The system's slapd service is not used: the fixture writes its own ``slapd.conf`` (core,
cosine, inetorgperson and nis schemas, one mdb database with a root DN), starts
``slapd -h ldap://127.0.0.1:PORT/ -f slapd.conf -d 0`` and kills it afterwards. ``kill`` and
``start`` again keep the database, as a restarted server does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ldap3
import pytest

from idpsync.config import TargetSettings
from tests.targets.scim_support import free_port

SUFFIX = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PW = "slapd-root-secret-71ab"
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")
SLAPD_PATHS = ("/usr/sbin/slapd", "/usr/local/libexec/slapd")


def slapd_binary() -> str:
    found = shutil.which("slapd") or next((p for p in SLAPD_PATHS if os.path.exists(p)), None)
    assert found, "slapd is not installed: run 'make services' (apt-get install slapd ldap-utils)"
    return found


class Slapd:
    """One slapd process and its database directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        (root / "db").mkdir(parents=True)
        schema_dir = Path("/etc/ldap/schema")
        includes = "\n".join(f"include {schema_dir / s}.schema" for s in SCHEMAS)
        modules = next(
            (d for d in ("/usr/lib/ldap", "/usr/lib/openldap") if Path(d).exists()), None
        )
        load = f"modulepath {modules}\nmoduleload back_mdb\n" if modules else ""
        (root / "slapd.conf").write_text(f"""{includes}
pidfile {root}/slapd.pid
argsfile {root}/slapd.args
{load}
database mdb
maxsize 104857600
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PW}
directory {root}/db
index objectClass eq
index entryUUID eq
index uid,cn,mail,employeeNumber eq
index member,uniqueMember eq
""")

    def start(self) -> None:
        self.process = subprocess.Popen(
            [slapd_binary(), "-h", f"{self.url}/", "-f", str(self.root / "slapd.conf"), "-d", "0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(300):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.process.poll() is not None:
                    error = self.process.stderr.read().decode() if self.process.stderr else ""
                    raise AssertionError(f"slapd exited at start: {error[-2000:]}") from None
                time.sleep(0.02)
        raise AssertionError("slapd did not start")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        if self.process and self.process.stderr:
            self.process.stderr.close()

    @contextlib.contextmanager
    def connect(self) -> Iterator[ldap3.Connection]:
        """A plain ldap3 connection as the root DN (for seeding and reading ground truth)."""
        server = ldap3.Server(self.url, get_info=ldap3.NONE)
        conn = ldap3.Connection(server, ROOT_DN, ROOT_PW, auto_bind=True, raise_exceptions=True)
        try:
            yield conn
        finally:
            conn.unbind()

    def seed(self) -> None:
        with self.connect() as conn:
            conn.add(SUFFIX, ["dcObject", "organization"], {"dc": "example", "o": "Example"})
            for ou in ("people", "groups", "disabled"):
                conn.add(f"ou={ou},{SUFFIX}", ["organizationalUnit"], {"ou": ou})

    def entries(self, base: str, query: str = "(objectClass=*)") -> dict[str, dict[str, Any]]:
        """Every entry one level under ``base``: DN → attributes."""
        with self.connect() as conn:
            conn.search(base, query, ldap3.LEVEL, attributes=[ldap3.ALL_ATTRIBUTES])
            return {str(e.entry_dn): dict(e.entry_attributes_as_dict) for e in conn.entries}


@pytest.fixture
def slapd(tmp_path: Path) -> Iterator[Slapd]:
    server = Slapd(tmp_path / "slapd")
    server.start()
    server.seed()
    yield server
    server.kill()


def ldap_settings(url: str, **ldap: Any) -> TargetSettings:
    os.environ["IDPSYNC_TEST_LDAP_PASSWORD"] = ROOT_PW
    options = ldap.pop("options", {})
    return TargetSettings.model_validate(
        {
            "type": "ldap",
            "url": url,
            "bind_dn": ROOT_DN,
            "password": "env:IDPSYNC_TEST_LDAP_PASSWORD",
            "ldap": {
                "base_dn": SUFFIX,
                "users_dn": f"ou=people,{SUFFIX}",
                "groups_dn": f"ou=groups,{SUFFIX}",
                **ldap,
            },
            "options": {"timeout": 5, **options},
        }
    )
