"""Build documents for the file source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def people(n: int, *, groups: int = 3, inactive: tuple[int, ...] = ()) -> dict[str, Any]:
    users = [
        {
            "id": f"id-{i}",
            "login": f"user{i}",
            "email": f"user{i}@example.org",
            "display_name": f"User Nümber {i}",
            "active": i not in inactive,
        }
        for i in range(n)
    ]
    grps = [
        {"id": f"g-{k}", "name": f"Group {k}", "members": [u["id"] for u in users[k::groups]]}
        for k in range(groups)
    ]
    if groups > 1:
        grps[0]["subgroups"] = ["g-1"]
    return {"users": users, "groups": grps}


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path
