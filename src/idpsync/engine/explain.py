"""Explain one person: the steps a sync takes for them, each with a verdict (no I/O).

``idpsync explain`` and the admin pages' Explain button show five steps, as an IdP's
"provision on demand" does:

1. **Found in the IdP**: the staged record that matched, and how (IdP id, login, e-mail or
   display name);
2. **In scope**: the policy rule that admitted or excluded them;
3. **Matched**: the directory user they are (or will be) synced to, or the collision that
   stops it;
4. **Next run**: the planned changes for them, with reasons;
5. **Targets**: where each target stands for them.

The verdicts come from the engine's own decisions (:func:`~idpsync.engine.decide.decide` on
the staged mirror); this module only picks out what concerns one person and words it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from idpsync.engine.decide import Decision
from idpsync.engine.plan import Op, OpKind
from idpsync.engine.policy import scope_rule
from idpsync.engine.skeleton import fold
from idpsync.model import DirUser, EdgeList, MemberKind, Membership, Snapshot, SourceUser

EXIT_OK, EXIT_NOT_SYNCED, EXIT_USAGE, EXIT_UNKNOWN, EXIT_LIVE = 0, 1, 2, 3, 4
"""Exit codes of ``idpsync explain``: every step passed; a step failed (the person is not,
or not fully, synced); bad usage or configuration; nobody matched PERSON; the IdP could not
be read (``--live``)."""

SKIPPED_STEP = "not evaluated: the person was not found in the IdP"


@dataclass
class Step:
    """One step of an explanation."""

    key: str
    """``found``, ``scope``, ``match``, ``plan`` or ``targets``."""
    title: str
    """The step's heading."""
    ok: bool | None
    """``True`` passed, ``False`` failed (this is why), ``None`` neither (pending, n/a)."""
    verdict: str
    """One sentence."""
    facts: list[tuple[str, str]] = field(default_factory=list)
    """Labelled values (record fields, ids, times)."""
    lines: list[str] = field(default_factory=list)
    """Further lines (planned changes, one per target)."""

    @property
    def mark(self) -> str:
        """``✓``, ``✗`` or ``–``."""
        return "–" if self.ok is None else ("✓" if self.ok else "✗")

    def as_json(self) -> dict[str, Any]:
        """The step for ``--json`` and the API."""
        return {
            "step": self.key,
            "title": self.title,
            "ok": self.ok,
            "verdict": self.verdict,
            "facts": dict(self.facts),
            "lines": list(self.lines),
        }


@dataclass
class Explanation:
    """Every step for one person of one connector."""

    connector: str
    """The connector's name."""
    query: str
    """What the administrator asked about."""
    source_id: str | None = None
    """The person's IdP id, when anything matched."""
    matched_by: str | None = None
    """``IdP id``, ``login``, ``e-mail`` or ``display name``."""
    live: bool = False
    """Whether the record was read from the IdP just now (``--live``)."""
    steps: list[Step] = field(default_factory=list)
    """The five steps, in order (empty when nobody matched)."""
    near: list[tuple[str, str]] = field(default_factory=list)
    """Users close to the query, when nobody matched: ``(description, IdP id)``."""
    directory_id: int | None = None
    """The directory user's row id, when there is one (for a link to their page)."""

    @property
    def found(self) -> bool:
        """Whether the query matched a person (in the IdP's data or in the directory)."""
        return self.source_id is not None

    @property
    def exit_code(self) -> int:
        """See :data:`EXIT_OK` and the codes beside it."""
        if not self.found:
            return EXIT_UNKNOWN
        return EXIT_NOT_SYNCED if any(s.ok is False for s in self.steps) else EXIT_OK

    def as_json(self) -> dict[str, Any]:
        """The explanation for ``--json`` and the API."""
        return {
            "connector": self.connector,
            "query": self.query,
            "found": self.found,
            "source_id": self.source_id,
            "matched_by": self.matched_by,
            "live": self.live,
            "steps": [s.as_json() for s in self.steps],
            "near_matches": [{"user": label, "source_id": sid} for label, sid in self.near],
        }


_HOW = (
    ("IdP id", "source_id"),
    ("login", "login"),
    ("e-mail", "email"),
    ("display name", "display_name"),
)


def find(users: Sequence[Any], query: str) -> tuple[Any, str] | None:
    """The one user matching ``query``, and by what; ``None`` when none or several match.

    ``users`` are :class:`~idpsync.model.SourceUser` or :class:`~idpsync.model.DirUser`. The
    IdP id must match exactly; login, e-mail and display name after case folding. The first
    kind of match that finds exactly one user wins.
    """
    wanted = query.strip()
    key = fold(wanted)
    for how, attr in _HOW:
        exact = how == "IdP id"
        values = [(u, getattr(u, attr)) for u in users]
        hits = [u for u, v in values if v and (v == wanted if exact else fold(v) == key)]
        if len(hits) == 1:
            return hits[0], how
        if len(hits) > 1:
            return None
    return None


def near_matches(users: Iterable[Any], query: str, limit: int = 8) -> list[tuple[str, str]]:
    """Users whose login, e-mail or display name is close to ``query``: (description, id).

    Close: the query is part of the value (or the other way round), or they are at least 60 %
    alike (``difflib``'s ratio, with its cheap upper bounds checked first).
    """
    key = fold(query.strip())
    if not key:
        return []
    matcher = difflib.SequenceMatcher(None, "", key)  # the query is compared with every value
    scored: dict[str, tuple[float, Any]] = {}
    for user in users:
        best = 0.0
        for value in (user.login, user.email, user.display_name, user.source_id):
            if not value:
                continue
            folded = fold(value)
            if key in folded or folded in key:
                best = max(best, 0.8)
                continue
            matcher.set_seq1(folded)
            if matcher.real_quick_ratio() >= 0.6 and matcher.quick_ratio() >= 0.6:
                best = max(best, matcher.ratio())
        if best >= 0.6 and best > scored.get(user.source_id, (0.0, None))[0]:
            scored[user.source_id] = (best, user)
    ranked = sorted(scored.values(), key=lambda x: (-x[0], x[1].login))[:limit]
    return [(describe(user), str(user.source_id)) for _, user in ranked]


def describe(user: SourceUser | DirUser) -> str:
    """``login (e-mail, IdP id …)`` of a user."""
    extra = ", ".join(x for x in (user.email or "", f"IdP id {user.source_id}") if x)
    return f"{user.login} ({extra})"


def with_fetched(staged: Snapshot, fetched: Snapshot) -> Snapshot:
    """The staged mirror with one user's record, groups and edges as the IdP gave them now."""
    sid = fetched.users[0].source_id
    users = [u for u in staged.users if u.source_id != sid] + list(fetched.users[:1])
    groups = {g.source_id: g for g in staged.groups}
    groups.update((g.source_id, g) for g in fetched.groups)
    mine = {
        e for e in fetched.memberships if e.member_kind is MemberKind.USER and e.member_id == sid
    }
    edges = [
        e
        for e in staged.memberships
        if not (e.member_kind is MemberKind.USER and e.member_id == sid)
    ]
    known = set(edges)
    edges += sorted(mine) + sorted(
        e for e in fetched.memberships if e not in mine and e not in known
    )
    return Snapshot(users, list(groups.values()), EdgeList(edges))


def without(staged: Snapshot, sid: str) -> Snapshot:
    """The staged mirror without one user and their membership edges (the IdP dropped them)."""
    users = [u for u in staged.users if u.source_id != sid]
    edges = [e for e in staged.memberships if not _is_user_edge(e, sid)]
    return Snapshot(users, list(staged.groups), EdgeList(edges))


def found_step(
    user: SourceUser | None, how: str | None, read: str, *, directory: DirUser | None
) -> Step:
    """Step 1: the staged (or live) record that matched, and when it was read."""
    title = "Found in the IdP"
    if user is None:
        facts = [("directory user", describe(directory))] if directory else []
        return Step(
            "found",
            title,
            False,
            "not in the IdP's data: the IdP no longer lists this person "
            "(or the connector's read does not reach them)",
            [*facts, ("read", read)],
        )
    facts = [
        ("matched by", how or ""),
        ("IdP id", user.source_id),
        ("login", user.login),
        ("e-mail", user.email or ""),
        ("display name", user.display_name or ""),
        ("active in the IdP", "yes" if user.active else "no"),
        ("manager", user.manager_id or ""),
        ("read", read),
    ]
    return Step("found", title, True, f"found by {how}: {describe(user)}", facts)


def scope_step(snapshot: Snapshot, decision: Decision, settings: Any, sid: str | None) -> Step:
    """Step 2: the rule of the policy that admitted or excluded the person."""
    title = "In scope"
    if sid is None or not any(u.source_id == sid for u in snapshot.users):
        return Step("scope", title, None, SKIPPED_STEP)
    why = decision.policy.out_of_scope.get(sid)
    if why is not None:
        return Step("scope", title, False, f"out of scope: {why}", [("rule", why)])
    user = next(u for u in snapshot.users if u.source_id == sid)
    rule = scope_rule(snapshot, settings.policy, sid)
    facts = [("rule", rule)]
    if not user.active:
        facts.append(("inactive", "disabled in the IdP: synced as a deactivated account"))
    return Step("scope", title, True, f"in scope: {rule}", facts)


def match_step(
    sid: str | None,
    decision: Decision,
    current: Mapping[str, DirUser],
    in_scope: bool,
    holders: Sequence[str] = (),
) -> Step:
    """Step 3: the directory user the person is synced to, or why not (collisions).

    ``holders``: directory users outside the person's record that hold their login or
    e-mail address (a local user, another connector's user), for a collision's facts.
    """
    title = "Matched"
    if sid is None:
        return Step("match", title, None, SKIPPED_STEP)
    existing = current.get(sid)
    skipped = next(
        (s for s in decision.policy.skipped if s.kind == "user" and s.source_id == sid), None
    )
    if skipped is not None:
        kept = f"; the directory keeps {describe(existing)} as it is" if existing else ""
        facts = [("held by", holder) for holder in holders]
        return Step("match", title, False, f"not synced: {skipped.reason}{kept}", facts)
    old = decision.relinks.get(sid)
    if old is not None:
        before = current.get(old)
        name = describe(before) if before else f"IdP id {old}"
        return Step(
            "match",
            title,
            True,
            f"re-linked: takes over the account of a former user of this connector ({name}), "
            "because policy.relink_recreated is set",
            [("former IdP id", old)],
        )
    if existing is not None:
        return Step(
            "match",
            title,
            True,
            f"directory user {existing.login}, owned by this connector through IdP id {sid}",
            [("directory login", existing.login), ("active", "yes" if existing.active else "no")],
        )
    planned = decision.policy.desired.users.get(sid)
    if planned is not None and in_scope:
        return Step(
            "match", title, True, f"no directory user yet: the next run creates {planned.login}"
        )
    return Step("match", title, None, "no directory user, and none will be created")


def person_ops(decision: Decision, sid: str) -> list[Op]:
    """The plan's operations that concern one user.

    Their own, their memberships, and the creation of the groups they are put in.
    """
    ops = decision.plan.ops
    mine = [op for op in ops if _about(op, sid)]
    needed = {
        op.member.group_id for op in mine if op.kind is OpKind.ADD_MEMBER and op.member is not None
    }
    groups = [op for op in ops if op.kind is OpKind.CREATE_GROUP and op.source_id in needed]
    return groups + mine


def _about(op: Op, sid: str) -> bool:
    if op.member is not None:
        return _is_user_edge(op.member, sid)
    return op.object_type == "user" and op.source_id == sid


def _is_user_edge(edge: Membership, sid: str) -> bool:
    return edge.member_kind is MemberKind.USER and edge.member_id == sid


def op_line(op: Op) -> str:
    """One planned change in words: ``user.update ada: changed in the IdP (email: a → b)``."""
    text = f"{op.kind.value} {op.key}: {op.reason}"
    if op.kind in (OpKind.UPDATE_USER, OpKind.RELINK_USER) and op.after:
        before = op.before or {}
        changes = ", ".join(f"{k}: {before.get(k)!r} → {v!r}" for k, v in op.after.items())
        text += f" ({changes})"
    return text


_GONE = (OpKind.DEACTIVATE_USER, OpKind.DELETE_USER, OpKind.ANONYMISE_USER)


def plan_step(sid: str | None, decision: Decision) -> Step:
    """Step 4: what the next run will do for the person, with reasons."""
    title = "What the next run will do"
    if sid is None:
        return Step("plan", title, None, SKIPPED_STEP)
    ops = person_ops(decision, sid)
    lines = [op_line(op) for op in ops]
    desired = decision.policy.desired.users.get(sid)
    facts: list[tuple[str, str]] = []
    if sid in decision.cleanup.waiting:
        facts.append(("grace period", decision.cleanup.waiting[sid]))
    if sid in decision.kept_inactive:
        facts.append(("locally deactivated", "a local administrator deactivated this account"))
    held = sid in decision.policy.held_users
    if held:
        verdict = "nothing: the person is skipped, and what the directory holds stays as it is"
        return Step("plan", title, False, verdict, facts, lines)
    if desired is None:
        ok = False
        verdict = "the account is removed" if ops else "nothing: the person is not synced"
    elif not desired.active:
        ok = False
        gone = [op for op in ops if op.kind in _GONE]
        verdict = (
            f"the account is deactivated ({gone[0].reason})"
            if gone
            else "nothing for the account: it stays deactivated"
        )
        if sid in decision.cleanup.waiting:
            ok, verdict = None, "nothing yet: waiting out the grace period"
    else:
        ok = True
        verdict = (
            f"{len(ops)} change(s)" if ops else "nothing: the directory already matches the IdP"
        )
        if sid in decision.cleanup.waiting:
            ok, verdict = None, "nothing yet: missing, but waiting out the grace period"
    return Step("plan", title, ok, verdict, facts, lines)
