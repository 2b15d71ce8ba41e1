"""`make demo`: a first sync into the embedded directory, a change at the source, a second sync.

Everything lives in ./demo (created afresh each time). Until an IdP emulator exists this demo
reads the ``file`` source: a generated HR export of a few thousand people.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo"
IDPSYNC = [sys.executable, "-m", "idpsync.cli"]

CONFIG = """\
[store]
url = "sqlite:///directory.db"

[connectors.hr]
[connectors.hr.source]
type = "file"
path = "people.json"

[connectors.hr.guard]
max_deactivate_share = 0.10
"""

FIRST = [
    "Ada",
    "Björn",
    "Chloé",
    "Dmitrĳ",
    "Eşref",
    "Fatima",
    "Grace",
    "Hiroshi",
    "Ines",
    "José",
    "Kwame",
    "Léa",
    "Mårten",
    "Nadia",
    "Ólafur",
    "Priya",
    "Quentin",
    "Renée",
    "Søren",
    "Zoë",
]
LAST = [
    "Lovelace",
    "O'Brien",
    "Müller",
    "Nakamura",
    "García",
    "Øster",
    "Smith",
    "Ng",
    "Dubois",
    "Van der Berg",
    "Kowalczyk",
    "Ilunga",
]


def tenant(count: int, seed: int) -> dict:
    """A generated HR export of ``count`` people."""
    rng = random.Random(seed)
    users = []
    for i in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        login = f"{first}.{last}.{i}".lower().replace("'", "").replace(" ", "")
        users.append(
            {
                "id": f"emp-{i:05d}",
                "login": login,
                "email": f"{login}@example.org",
                "display_name": f"{first} {last}",
                "given_name": first,
                "family_name": last,
                "active": rng.random() > 0.03,
                "manager_id": None if i == 0 else f"emp-{rng.randrange(0, max(1, i // 10)):05d}",
                "attributes": {"department": rng.choice(["R&D", "Sales", "Support", "Finance"])},
            }
        )
    groups = [{"id": "grp-all", "name": "Everyone", "members": [u["id"] for u in users]}]
    for dept in ("R&D", "Sales", "Support", "Finance"):
        groups.append(
            {
                "id": f"grp-{dept.lower().replace('&', '')}",
                "name": dept,
                "members": [u["id"] for u in users if u["attributes"]["department"] == dept],
            }
        )
    groups.append({"id": "grp-staff", "name": "Staff", "subgroups": [g["id"] for g in groups[1:]]})
    return {"users": users, "groups": groups}


def run(*args: str) -> None:
    """Run the idpsync CLI in the demo folder, echoing the command."""
    print(f"\n$ idpsync {' '.join(args)}", flush=True)
    subprocess.run([*IDPSYNC, *args], cwd=DEMO, check=False)


def main() -> None:
    """Set up the demo folder, sync, change the source, sync again."""
    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir()
    (DEMO / "idpsync.toml").write_text(CONFIG, encoding="utf-8")
    data = tenant(3000, seed=7)
    people = DEMO / "people.json"
    people.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    print(f"demo: {len(data['users'])} people in {people}")
    run("sync", "hr")

    # A change at the source: a rename, a leaver, a new joiner, a move between groups.
    users = data["users"]
    users[1]["display_name"] += " (renamed)"
    users[1]["login"] += ".renamed"
    leaver = users.pop()  # the newest hire manages nobody
    users.append(
        {
            "id": "emp-99999",
            "login": "new.joiner",
            "email": "new.joiner@example.org",
            "display_name": "New Joiner",
            "attributes": {"department": "Sales"},
        }
    )
    for group in data["groups"]:
        group["members"] = [m for m in group.get("members", []) if m != leaver["id"]]
        if group["name"] in ("Everyone", "Sales"):
            group["members"].append("emp-99999")
    people.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    print("\ndemo: changed the source: 1 rename, 1 leaver, 1 joiner")
    run("sync", "hr")
    run("runs")
    run("users", "new.joiner")


if __name__ == "__main__":
    main()
