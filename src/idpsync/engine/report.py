"""Run reports: per user, group and membership, what changes (or changed) and why.

One JSON shape serves ``idpsync sync --dry-run --report FILE`` (built from the plan) and
``idpsync runs show RUN`` (built from the change log and the run's stored ``report``)::

    {"run": {"id": 7, "connector": "hr", "status": "dry_run", "complete": true, ...},
     "users":       [{"op": "user.deactivate", "source_id": "e-1", "key": "ada",
                      "reason": "missing from the IdP", "before": {...}, "after": {...}}],
     "groups":      [...same shape...],
     "memberships": [{"op": "member.add", "source_id": "g-1", "key": "Eng ← ada", ...}],
     "skipped":     [{"type": "user", "source_id": "e-9", "key": "bob",
                      "reason": "login 'bob' already belongs to a local user; ..."}],
     "waiting":     [{"source_id": "e-4", "key": "eve", "reason": "missing ...; grace period"}],
     "out_of_scope": 12,
     "warnings":    ["required group 'Jira' is not in the IdP's data"]}
"""

from __future__ import annotations

import json
from typing import Any

from idpsync.engine.decide import Decision
from idpsync.engine.plan import Op, Plan
from idpsync.model import Snapshot

SECTIONS = {"user": "users", "group": "groups", "member": "memberships"}


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def op_entry(op: Op) -> dict[str, Any]:
    """One planned operation as a report entry."""
    before, after = op.before, op.after
    if op.member is not None:
        edge = {
            "group": op.member.group_id,
            "member": op.member.member_id,
            "member_kind": op.member.member_kind.value,
        }
        before, after = (None, edge) if op.kind.value == "member.add" else (edge, None)
    return {
        "op": op.kind.value,
        "source_id": op.source_id,
        "key": op.key,
        "reason": op.reason,
        "before": _jsonable(before),
        "after": _jsonable(after),
    }


def details(decision: Decision) -> dict[str, Any]:
    """What the run row stores besides the change log: skipped, waiting, warnings."""
    desired = decision.policy.desired
    return {
        "skipped": [
            {"type": s.kind, "source_id": s.source_id, "key": s.key, "reason": s.reason}
            for s in decision.policy.skipped
        ],
        "waiting": [
            {
                "source_id": sid,
                "key": desired.users[sid].login if sid in desired.users else sid,
                "reason": why,
            }
            for sid, why in sorted(decision.cleanup.waiting.items())
        ],
        "kept_inactive": [
            {"source_id": sid, "reason": "deactivated locally (locally_disabled); not re-activated"}
            for sid in decision.kept_inactive
        ],
        "out_of_scope": len(decision.policy.out_of_scope),
        "dropped_groups": len(decision.policy.dropped_groups),
        "warnings": list(decision.policy.warnings),
    }


def left_out(decision: Decision, snapshot: Snapshot) -> list[dict[str, Any]]:
    """Every object the run did not sync, with its outcome and the reason or rule.

    Outcomes: ``skipped`` (a data problem), ``collided`` (a name another object holds),
    ``out_of_scope`` (required groups, user filters), ``dropped`` (group rules), ``waiting``
    (a grace period), ``kept_inactive`` (deactivated locally). The run page lists them.
    """
    policy = decision.policy
    logins = {u.source_id: u.login for u in snapshot.users}
    names = {g.source_id: g.name for g in snapshot.groups}
    found = [
        _left("collided" if s.collided else "skipped", s.kind, s.source_id, s.key, s.reason)
        for s in policy.skipped
    ]
    found += [
        _left("out_of_scope", "user", sid, logins.get(sid, sid), why)
        for sid, why in policy.out_of_scope.items()
    ]
    found += [
        _left("dropped", "group", sid, names.get(sid, sid), why)
        for sid, why in policy.dropped_groups.items()
    ]
    found += [
        _left("waiting", "user", sid, logins.get(sid, sid), why)
        for sid, why in sorted(decision.cleanup.waiting.items())
    ]
    found += [
        _left("kept_inactive", "user", sid, logins.get(sid, sid), "deactivated locally")
        for sid in decision.kept_inactive
    ]
    return found


def _left(outcome: str, kind: str, source_id: str, key: str, reason: str) -> dict[str, Any]:
    return {
        "outcome": outcome,
        "object_type": kind,
        "source_id": source_id,
        "key": key,
        "reason": reason,
    }


def build(
    run: dict[str, Any], entries: list[dict[str, Any]], extra: dict[str, Any]
) -> dict[str, Any]:
    """Assemble a report from the run facts, operation entries and stored details."""
    sections: dict[str, list[dict[str, Any]]] = {"users": [], "groups": [], "memberships": []}
    for entry in entries:
        sections[SECTIONS[entry["op"].split(".", 1)[0]]].append(entry)
    return {
        "run": _jsonable(run),
        **sections,
        "skipped": extra.get("skipped", []),
        "waiting": extra.get("waiting", []),
        "kept_inactive": extra.get("kept_inactive", []),
        "out_of_scope": extra.get("out_of_scope", 0),
        "dropped_groups": extra.get("dropped_groups", 0),
        "warnings": extra.get("warnings", []),
        **({"photos": extra["photos"]} if "photos" in extra else {}),
    }


RUN_FACTS = (
    "id",
    "connector",
    "mode",
    "dry_run",
    "status",
    "complete",
    "started_at",
    "finished_at",
    "summary",
    "message",
    "actor",
)
"""The columns of a ``runs`` row a report shows under ``run`` (``actor``: who started it)."""


def run_facts(row: dict[str, Any]) -> dict[str, Any]:
    """The ``run`` part of a report from a ``runs`` row."""
    return {k: row.get(k) for k in RUN_FACTS}


def from_plan(run: dict[str, Any], plan: Plan, extra: dict[str, Any]) -> dict[str, Any]:
    """The report of a planned run (dry run, guarded run, or before applying)."""
    return build(run, [op_entry(op) for op in plan.shown()], extra)


def from_changes(run: dict[str, Any], changes: list[dict[str, Any]]) -> dict[str, Any]:
    """The report of a finished run, from its change log and stored details."""
    stored = dict(run.get("report") or {})
    planned = stored.pop("planned", None)
    if planned is not None:  # dry runs and guarded runs keep their plan in the report
        entries = planned
    else:
        entries = [
            {
                "op": c["op"],
                "source_id": c["source_id"],
                "key": c["object_key"],
                "reason": c.get("reason") or "",
                "before": c["before"],
                "after": c["after"],
            }
            for c in changes
        ]
    facts = run_facts(run)
    return build(facts, entries, stored)
