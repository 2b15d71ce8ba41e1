"""A target's held queue (seat budget) on the dashboard and in ``/api/targets``: who and why,
with hostile logins escaped."""

from __future__ import annotations

from pathlib import Path

from markupsafe import escape

from idpsync.config import TargetOptions
from idpsync.store import Store
from idpsync.targets.seats import SeatBudget
from idpsync.targets.state import TargetState
from tests.service.pages_data import HOSTILE_USER, harness_with
from tests.service.support import login


async def test_dashboard_and_api_show_the_held_queue(tmp_path: Path, store: Store) -> None:
    h = harness_with(tmp_path, store, targets=True)
    TargetState(store, "crm").row()
    budget = SeatBudget(store, "crm", TargetOptions(max_active_users=0))
    assert not budget.admit(
        ("hr", "id-7"), {"login": HOSTILE_USER, "active": True}, 12, "user.create"
    )
    assert not budget.admit(
        ("hr", "id-9"), {"login": "user9", "active": True}, 14, "user.reactivate"
    )
    async with h.client(follow_redirects=False) as web:
        await login(web)
        home = (await web.get("/")).text
        row = home[home.index('data-target="crm"') :]
        row = row[: row.index("</tr>")]
        assert 'class="held">2' in row  # two held; the page's config sets no limit
        assert HOSTILE_USER not in home and str(escape(HOSTILE_USER)) in row
        assert "(user.create, change 12): no seat left: 0 of 0 active users" in row
        assert 'data-user="user9"' in row and "(user.reactivate, change 14)" in row
        wiki = home[home.index('data-target="wiki"') :]
        assert 'class="held-queue"' not in wiki[: wiki.index("</tr>")]
    async with h.api() as api:
        crm = next(t for t in (await api.get("/api/targets")).json() if t["name"] == "crm")
    assert crm["max_active_users"] is None and crm["active_users"] == 0
    assert [(u["login"], u["seq"], u["op"]) for u in crm["held"]] == [
        (HOSTILE_USER, 12, "user.create"),
        ("user9", 14, "user.reactivate"),
    ]
