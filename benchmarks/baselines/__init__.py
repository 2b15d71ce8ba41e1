"""Fair baselines for idpsync's full syncs, each run whole against the same emulator.

Three designs for each IdP (module docstrings give the details):

* ``naive``: what the official SDK's documentation shows: list the users, then each user's
  groups, one user after the other. Hours at scale, so it runs under a stated time cap
  (``--naive-cap``) and reports how far it got: a measured lower bound, never an
  extrapolation.
* ``group-sdk``: a group-centric script with the official SDK at a sane concurrency (16 in
  flight, or the IdP's documented cap when lower): list users, list groups, list each group's
  members with the SDK's own paging helpers, 429s handled as the SDK handles them.
* ``plain-http``: httpx async with the straightforward design: the same reads at the largest
  documented page sizes and the same concurrency, no batching or partitioning.

The group-centric and plain-HTTP baselines have a time cap too (``--cap``): msgraph-sdk's
group-centric script is CPU-bound and would take hours at L. A capped run stops where it is,
says how far it got (groups whose members it read, or what it had listed) and its wall time
and speed-up are lower bounds (``>``).

Every record gives wall and CPU seconds (this process), requests and 429s (the emulator's log,
emptied before and read after), and the users, groups and user memberships read, checked
against the tenant's ground truth: a baseline that read less says so in its ``verdict``.
``python -m benchmarks.baselines --idp entra --size S`` runs them alone;
``benchmarks.run`` calls :func:`run_baselines` after idpsync's syncs of an IdP.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

from benchmarks import process
from benchmarks.baselines import entra, google, keycloak, okta, onelogin, plain
from benchmarks.baselines.common import CAP_S, NAIVE_CAP_S, Counts, Expected, Target, measure

KINDS = ("naive", "group-sdk", "plain-http")
FRESH = frozenset({"onelogin"})
"""IdPs whose quota is an hourly account-wide budget (OneLogin: 5,000 calls a clock hour):
idpsync's syncs of the run spend it, and a baseline after them would wait for the next hour.
Each of their baselines runs against a fresh emulator (same seed and profile, the tenant
before the 1 % change), with the whole budget, as idpsync's full sync had."""
Baseline = Callable[[Target, float], Counts]


def _sync(fn: Callable[[Target, float], Coroutine[Any, Any, Counts]]) -> Baseline:
    """An async baseline as a plain function (a fresh event loop per run)."""
    return lambda target, cap_s: asyncio.run(fn(target, cap_s))


BASELINES: dict[str, dict[str, tuple[Baseline, str]]] = {
    "entra": {
        "naive": (_sync(entra.naive), "msgraph-sdk: users, then each user's memberOf, serial"),
        "group-sdk": (_sync(entra.group_sdk), "msgraph-sdk async: users, groups, members; 16"),
        "plain-http": (_sync(plain.entra), "httpx async: users, groups, members at 999; 16"),
    },
    "google": {
        "naive": (google.naive, "google-api-python-client: users, then each user's groups"),
        "group-sdk": (google.group_sdk, "google-api-python-client, 16 threads"),
        "plain-http": (_sync(plain.google), "httpx async: users 500, groups/members 200; 16"),
    },
    "okta": {
        "naive": (_sync(okta.naive), "okta SDK: users, then each user's groups, serial"),
        "group-sdk": (_sync(okta.group_sdk), "okta SDK async: users, groups, members; 15"),
        "plain-http": (_sync(plain.okta), "httpx async: users 200, members 1,000; 15"),
    },
    "keycloak": {
        "naive": (_sync(keycloak.naive), "python-keycloak: users, then each user's groups"),
        "group-sdk": (_sync(keycloak.group_sdk), "python-keycloak async: members; 16"),
        "plain-http": (_sync(plain.keycloak), "httpx async: brief pages of 1,000; 16"),
    },
    "onelogin": {
        "naive": (onelogin.naive, "onelogin SDK: users, then each user's roles, serial"),
        "group-sdk": (onelogin.group_sdk, "onelogin SDK, 16 threads: users, groups, role users"),
        "plain-http": (_sync(plain.onelogin), "httpx async: users, groups, role users; 16"),
    },
}


def parse_kinds(text: str) -> list[str]:
    """``naive,group-sdk,plain-http`` (or ``all``) as a list; ValueError naming a bad one."""
    kinds = list(KINDS) if text.strip() == "all" else [k.strip() for k in text.split(",") if k]
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise ValueError(f"unknown baseline {bad[0]!r}; choose from {', '.join(KINDS)} or all")
    return kinds


def expected(
    idp: str, users: int, groups: int, seed: int, medium_every: int, roles: int = 0
) -> Expected:
    """What the emulator's tenant holds (regenerated in-process from the same seed): users,
    groups (OneLogin: groups and roles) and memberships whose member is a user."""
    if idp == "onelogin":
        from idpsync.emulators.onelogin.account import generate_account

        truth = generate_account(users, groups, roles, seed).truth()
        edges = len(truth.group_members()) + len(truth.role_members())
        return Expected(len(truth.users), len(truth.groups) + len(truth.roles), edges)
    from idpsync.emulators.generate import TenantSpec, generate_tenant

    spec = replace(TenantSpec(users=users, groups=groups, seed=seed), medium_every=medium_every)
    t = generate_tenant(spec).ground_truth()
    edges = sum(1 for _, member in t.memberships if member in t.users)
    return Expected(len(t.users), len(t.groups), edges)


def edges_now(target: process.Emulator) -> int:
    """All memberships the emulator holds now (its ``/_emulator/ground-truth`` counts)."""
    counts = target.control("ground-truth") or {}
    if "memberships" in counts:
        return int(counts["memberships"])
    return int(counts.get("group_memberships", 0)) + int(counts.get("role_memberships", 0))


def after_change(truth: Expected, edges_before: int, edges_after: int) -> Expected:
    """The truth after the harness's 1 % change, which only moves user memberships (a move
    onto a group the user is already in removes one): the difference in all edges is the
    difference in user edges."""
    return replace(truth, memberships=truth.memberships + edges_after - edges_before)


def run_baselines(
    idp: str,
    target: process.Emulator,
    kinds: list[str],
    *,
    cap_s: float = NAIVE_CAP_S,
    truth: Expected | None = None,
    pause_s: float = 10.0,
    size: str = "",
    other_cap_s: float = CAP_S,
    fresh: Callable[[], process.Emulator] | None = None,
) -> list[dict[str, Any]]:
    """Run the asked baselines of ``idp`` one after the other against the running emulator,
    each after ``pause_s`` (the quota buckets refill), and return their records. A naive one
    stops at ``cap_s``, the others at ``other_cap_s``. With ``fresh``, each baseline runs
    against its own emulator from ``fresh()`` instead (stopped after it)."""
    records = []
    for kind in kinds:
        baseline, design = BASELINES[idp][kind]
        print(f"[bench] {idp} {size} baseline {kind}: {design}", flush=True)
        cap = cap_s if kind == "naive" else other_cap_s
        own = fresh() if fresh is not None else None
        try:
            time.sleep(pause_s)
            record = measure(idp, kind, design, own or target, baseline, cap, truth)
        finally:
            if own is not None:
                own.stop()
        if own is not None:
            record["emulator"] = "fresh"
        print(f"[bench] {idp} baseline {kind}: {record['wall_s']} s, {record['verdict']}")
        records.append({**record, "size": size} if size else record)
    return records
