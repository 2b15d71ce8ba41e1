"""`make demo`: an emulated Entra tenant, a first sync, changes in the tenant, a second sync.

Everything lives in ./demo (created afresh each time). A generated Microsoft Entra ID tenant of
a few thousand users is served by the Graph emulator on a free local port (a background
thread); idpsync reads it through the ``entra`` connector exactly as it would read Graph. Then
the demo changes the tenant through the emulator's control API (a rename, a leaver, a joiner,
a move between groups, a manager change) and runs ``idpsync sync`` again, which reads only the
changes (delta), and shows that run's changes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo"
IDPSYNC = [sys.executable, "-m", "idpsync.cli"]
sys.path.insert(0, str(ROOT / "src"))

from idpsync.emulators.entra import EntraEmulator  # noqa: E402
from idpsync.emulators.tenant import TenantUser  # noqa: E402

STORE = """\
[store]
url = "sqlite:///directory.db"

"""


def run(*args: str) -> str:
    """Run the idpsync CLI in the demo folder, echoing the command and its output."""
    print(f"\n$ idpsync {' '.join(args)}", flush=True)
    done = subprocess.run([*IDPSYNC, *args], cwd=DEMO, check=False, capture_output=True, text=True)
    print(done.stdout + done.stderr, end="", flush=True)
    return done.stdout


def change_tenant(emu: EntraEmulator) -> None:
    """A rename, a leaver, a joiner, a group move and a manager change."""
    t = emu.tenant
    people = [u for u in t.users.values() if not u.guest and u.enabled]
    renamed, leaver, mover, report = people[1], people[-1], people[5], people[7]
    t.update_user(
        renamed.id, alias="renamed.person", display_name=f"{renamed.display_name} (renamed)"
    )
    t.delete_user(leaver.id)
    joiner = TenantUser(
        id=str(uuid.UUID(int=0xBEEF)),
        alias="new.joiner",
        display_name="New Joiner",
        given_name="New",
        surname="Joiner",
        mail=f"new.joiner@{t.domain}",
    )
    t.add_user(joiner)
    everyone = next(g for g in t.groups.values() if g.name == "All Users")
    t.add_member(everyone.id, joiner.id)
    small = [g for g in t.groups.values() if 0 < len(g.members) < 40]
    source = next(g for g in small if mover.id in g.members or g is small[-1])
    if mover.id not in source.members:
        t.add_member(source.id, mover.id)
    target = next(g for g in small if mover.id not in g.members)
    t.move_member(mover.id, source.id, target.id)
    t.set_manager(report.id, people[2].id)
    print(
        f"\ndemo: changed the tenant: renamed {renamed.display_name!r}, removed "
        f"{leaver.display_name!r}, added 'New Joiner', moved {mover.display_name!r} from "
        f"{source.name!r} to {target.name!r}, new manager for {report.display_name!r}"
    )


def main() -> None:
    """Serve a tenant, sync, change the tenant, sync again and show the second run."""
    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir()
    emu = EntraEmulator.generate(users=3000, groups=120, seed=7)
    with emu.serve() as server:
        os.environ["IDPSYNC_EMULATOR_SECRET"] = emu.client_secret
        block = emu.connector_toml(server.url, name="entra")
        (DEMO / "idpsync.toml").write_text(STORE + block, encoding="utf-8")
        print(f"demo: Entra emulator with 3000 users, 120 groups at {server.url}")
        print((DEMO / "idpsync.toml").read_text(encoding="utf-8"))
        run("sync", "entra")
        change_tenant(emu)
        run("sync", "entra")
        run("runs", "entra")
        run("runs", "show", "2")  # the second sync (a fresh store: runs 1 and 2)
        run("users", "new.joiner")


if __name__ == "__main__":
    main()
