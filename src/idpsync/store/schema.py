"""The store's tables (SQLAlchemy Core). Alembic migrations in ``migrations/`` create them.

Ownership: every user, group and membership row names the connector that owns it
(``connector``); a ``NULL`` owner marks a local object that no sync may change.

Tables:

- ``connectors``: one row per configured connector that ever ran, with its saved state
  (delta links, cursors) as JSON.
- ``users`` / ``groups`` / ``memberships``: the directory.
- ``source_users`` / ``source_groups`` / ``source_memberships``: the *stage*, a mirror of what
  each connector's IdP last returned, which the policy turns into the directory. ``run_id`` is
  the run that wrote the row: users and groups are rewritten by every run, a membership edge
  keeps the run that first staged it (edges are only added and removed). ``digest`` of a
  staged user or group is the digest of its JSON text (``store/stage.py``), NULL on rows
  staged before it existed. ``source_edge_digests`` (``store/edge_digests.py``): per member,
  a digest of its staged edges.
- ``runs``: one row per sync run, with its outcome, counters and ``report`` (skipped objects
  with their reasons, warnings, users waiting out a grace period).
- ``changes``: the change log, one row per applied change (with its ``reason``), read by
  targets from their cursor.
- ``run_objects``: per run, the planned changes of a dry or guarded run (``outcome``
  ``planned``) and the objects the run left out (``skipped``, ``collided``, ``out_of_scope``,
  ``dropped``, ``waiting``, ``kept_inactive``) with the reason or rule; the run page pages
  through them (``store/run_query.py``).
- ``oauth_tokens``: refresh tokens from ``idpsync authorize``, encrypted (Fernet) per connector.
- ``targets`` / ``target_objects`` / ``target_failures``: each target's cursor and status,
  the map of directory objects to the target's ids, and rejected changes awaiting a retry.
- ``target_held``: users waiting for a seat in a target (its seat budget).
- ``photo_blobs`` / ``user_photos``: photo bytes and whose they are, declared in
  ``store/photo_tables.py`` (the package imports it, so this metadata always holds them).
- ``web_sessions`` / ``login_failures``: the admin pages' sessions (revoked at logout) and
  failed sign-ins (throttling); see ``web/sessions.py`` and ``web/throttle.py``.

``login_skeleton`` / ``email_skeleton`` / ``name_skeleton`` are the TR39 confusables skeletons
of the folded keys (``engine/skeleton.py``: look-alike names collide); NULL on rows written
before they existed or by other tools (then the folded key is compared).
Users also carry ``email_key`` (the folded e-mail, for collision checks), ``missing_runs`` /
``missing_since`` (how long a user has been missing, for cleanup grace periods) and
``locally_disabled`` (deactivated on purpose by a local administrator; no sync re-activates).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = BigInteger().with_variant(Integer(), "sqlite")
"""Autoincrementing ids: BIGINT on PostgreSQL, INTEGER (rowid) on SQLite."""

connectors = Table(
    "connectors",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("source_type", String(32), nullable=False),
    Column("state", JSON, nullable=False, default=dict),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("connector", String(64), ForeignKey("connectors.name"), nullable=True),
    Column("source_id", String(255), nullable=False),
    Column("login", String(512), nullable=False),
    Column("login_key", String(512), nullable=False),
    Column("email", String(512), nullable=True),
    Column("display_name", Text, nullable=True),
    Column("given_name", Text, nullable=True),
    Column("family_name", Text, nullable=True),
    Column("active", Boolean, nullable=False),
    Column("manager_id", String(255), nullable=True),
    Column("photo_ref", String(255), nullable=True),
    Column("attributes", JSON, nullable=False, default=dict),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("deactivated_at", DateTime(timezone=True), nullable=True),
    Column("missing_since", DateTime(timezone=True), nullable=True),
    Column("email_key", String(512), nullable=True),
    Column("missing_runs", Integer, nullable=False, default=0, server_default="0"),
    Column("locally_disabled", Boolean, nullable=False, default=False, server_default=false()),
    Column("login_skeleton", String(1024), nullable=True),
    Column("email_skeleton", String(1024), nullable=True),
    UniqueConstraint("connector", "source_id"),
    Index(None, "login_key"),
    Index(None, "email_key"),
    Index(None, "login_skeleton"),
    Index(None, "email_skeleton"),
)

groups = Table(
    "groups",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("connector", String(64), ForeignKey("connectors.name"), nullable=True),
    Column("source_id", String(255), nullable=False),
    Column("name", String(512), nullable=False),
    Column("name_key", String(512), nullable=False),
    Column("description", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("name_skeleton", String(1024), nullable=True),
    UniqueConstraint("connector", "source_id"),
    Index(None, "name_key"),
    Index(None, "name_skeleton"),
)

memberships = Table(
    "memberships",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("connector", String(64), ForeignKey("connectors.name"), nullable=True),
    Column("group_id", ID, ForeignKey("groups.id", ondelete="CASCADE"), nullable=False),
    Column("member_kind", String(8), nullable=False),
    Column("member_id", ID, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("connector", "group_id", "member_kind", "member_id"),
    Index(None, "member_kind", "member_id"),
)

source_users = Table(
    "source_users",
    metadata,
    Column("connector", String(64), ForeignKey("connectors.name"), primary_key=True),
    Column("source_id", String(255), primary_key=True),
    Column("data", JSON, nullable=False),
    Column("run_id", ID, nullable=False),
    Column("digest", String(32), nullable=True),
)

source_groups = Table(
    "source_groups",
    metadata,
    Column("connector", String(64), ForeignKey("connectors.name"), primary_key=True),
    Column("source_id", String(255), primary_key=True),
    Column("data", JSON, nullable=False),
    Column("run_id", ID, nullable=False),
    Column("digest", String(32), nullable=True),
)

source_memberships = Table(
    "source_memberships",
    metadata,
    Column("connector", String(64), ForeignKey("connectors.name"), primary_key=True),
    Column("group_id", String(255), primary_key=True),
    Column("member_kind", String(8), primary_key=True),
    Column("member_id", String(255), primary_key=True),
    Column("run_id", ID, nullable=False),
    # a member's edges (the key starts with the group), read from the index alone
    Index("ix_source_memberships_member", "connector", "member_id", "group_id", "member_kind"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("connector", String(64), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("complete", Boolean, nullable=True),
    Column("summary", JSON, nullable=False, default=dict),
    Column("stats", JSON, nullable=False, default=dict),
    Column("message", Text, nullable=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("report", JSON, nullable=True),
    Column("actor", String(320), nullable=True),
    Index(None, "connector", "id"),
)

changes = Table(
    "changes",
    metadata,
    Column("seq", ID, primary_key=True, autoincrement=True),
    Column("run_id", ID, ForeignKey("runs.id"), nullable=False),
    Column("connector", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("op", String(32), nullable=False),
    Column("object_type", String(8), nullable=False),
    Column("source_id", String(255), nullable=False),
    Column("object_key", Text, nullable=True),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Column("reason", Text, nullable=True),
    Index(None, "run_id"),
)

run_objects = Table(
    "run_objects",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("run_id", ID, ForeignKey("runs.id"), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("op", String(32), nullable=True),
    Column("object_type", String(8), nullable=False),
    Column("source_id", String(255), nullable=False),
    Column("object_key", Text, nullable=True),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Column("reason", Text, nullable=True),
    Index(None, "run_id", "outcome"),
)
"""What a run planned (dry and guarded runs) or left out, one row per object, in the run's
order (``id``); the same columns as ``changes`` so that one query pages through either."""

oauth_tokens = Table(
    "oauth_tokens",
    metadata,
    Column("connector", String(64), primary_key=True),
    Column("ciphertext", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
targets = Table(
    "targets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("cursor", ID, nullable=False, default=0),
    Column("status", String(16), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("last_delivery_at", DateTime(timezone=True), nullable=True),
    Column("lease_owner", String(255), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("failed_rounds", Integer, nullable=False, server_default="0"),
)
"""One row per target that ever ran: its cursor in ``changes`` (the last confirmed ``seq``),
``status`` (``ok``, ``down``, ``quarantined``), the last error an administrator should see,
the lease (``host:pid`` and expiry) of the delivery running now, so two never overlap, and
``failed_rounds``: consecutive deliveries that ended ``down`` or ``quarantined`` (0 after a good
one)."""

target_objects = Table(
    "target_objects",
    metadata,
    Column("target", String(64), ForeignKey("targets.name", ondelete="CASCADE"), primary_key=True),
    Column("object_type", String(8), primary_key=True),
    Column("connector", String(64), primary_key=True),
    Column("source_id", String(255), primary_key=True),
    Column("remote_id", String(255), nullable=False),
    Column("adopted", Boolean, nullable=False, default=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("active", Boolean, nullable=True),
    Column("photo_digest", String(80), nullable=True),
    Column("photo_pending", Boolean, nullable=False, default=False, server_default=false()),
    Index(None, "target", "photo_pending"),
)
"""Which object of the target (e.g. SCIM ``id``) stands for which directory user or group.

``active``: whether a user is active in the target as idpsync last left it (NULL: not known,
counted as a seat); the seat budget counts these. ``photo_digest``: the digest of the photo
idpsync last left in the target (NULL: none); ``photo_pending``: the user's photo is to be
checked at the end of the next delivery (``targets/photo_delivery.py``)."""

target_held = Table(
    "target_held",
    metadata,
    Column("target", String(64), ForeignKey("targets.name", ondelete="CASCADE"), primary_key=True),
    Column("connector", String(64), primary_key=True),
    Column("source_id", String(255), primary_key=True),
    Column("login", String(320), nullable=False),
    Column("seq", ID, nullable=False),
    Column("op", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("held_at", DateTime(timezone=True), nullable=False),
)
"""Users a target's seat budget holds back (``max_active_users``): created or reactivated in
the target when a seat frees up, in the configured priority order, then by ``seq``."""

target_failures = Table(
    "target_failures",
    metadata,
    Column("target", String(64), ForeignKey("targets.name", ondelete="CASCADE"), primary_key=True),
    Column("object_type", String(8), primary_key=True),
    Column("connector", String(64), primary_key=True),
    Column("source_id", String(255), primary_key=True),
    Column("member_kind", String(8), primary_key=True),
    Column("member_id", String(255), primary_key=True),
    Column("seq", ID, nullable=False),
    Column("op", String(32), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""Objects whose change a target rejected, retried with backoff from the directory's state.

For users and groups ``member_kind``/``member_id`` are empty strings; for memberships
``source_id`` is the group and ``member_*`` the member."""

schedule_slots = Table(
    "schedule_slots",
    metadata,
    Column("connector", String(64), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("slot_at", DateTime(timezone=True), primary_key=True),
    Column("claimed_by", String(255), nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
    Column("run_id", ID, nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("status", String(16), nullable=True),
)
"""One row per scheduled run of ``idpsync serve`` (connector, ``full``/``incremental``, the
slot's time): claimed once across instances, finished once; see ``service/slots.py``."""

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user_name", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("role", String(16), nullable=True),
    Column("how", String(16), nullable=True),
)
"""The administrator's signed-in sessions (the SHA-256 of the nonce the cookie carries):
a cookie whose row is gone (logged out, expired) no longer opens a page; see
``web/sessions.py``. Kept in the store so that every instance sees a logout."""

login_failures = Table(
    "login_failures",
    metadata,
    Column("key", String(320), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("first_at", DateTime(timezone=True), nullable=False),
    Column("locked_until", DateTime(timezone=True), nullable=True),
    Column("lockouts", Integer, nullable=False),
)
"""Failed sign-ins per client address (``addr:…``) and per user name (``user:…``): the
failures in the current window, and the lockout they caused; see ``web/throttle.py``."""

approvals = Table(
    "approvals",
    metadata,
    Column("connector", String(64), primary_key=True),
    Column("run_id", ID, nullable=False),
    Column("message", Text, nullable=False),
    Column("summary", JSON, nullable=False),
    Column("removals", JSON, nullable=False),
    Column("check_run_id", ID, nullable=True),
    Column("since", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""Connectors awaiting an administrator's approval: a run refused by a guard puts one here
(``run_id``: the newest such run; ``summary``: its counts; ``removals``: the users and groups it
would remove), and only an approval (a run with deletes allowed that succeeds) or a dismissal
takes it away. ``check_run_id`` is the dry run that re-checked the plan before approving."""

open_alerts = Table(
    "open_alerts",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("subject", String(64), primary_key=True),
    Column("message", Text, nullable=False),
    Column("run_id", ID, nullable=True),
    Column("opened_at", DateTime(timezone=True), nullable=False),
)
"""Alerts sent and not yet resolved, one per (condition, connector or target): a condition that
holds on every check sends one alert, and a "resolved" message when it clears; kept in the store
so a restart or a second instance does not send it again."""

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("hash", String(71), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(320), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)
"""API tokens made by ``idpsync tokens create``: the token's SHA-256 (never the token), its
role, who made it and when; a revoked token keeps its row (and name) with ``revoked_at``."""

audit = Table(
    "audit",
    metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(320), nullable=False),
    Column("action", String(32), nullable=False),
    Column("subject", String(320), nullable=True),
    Column("address", String(64), nullable=True),
    Column("detail", JSON, nullable=False, default=dict),
    Index(None, "actor", "id"),
    Index(None, "action", "id"),
)
"""The audit trail, append-only: who did what and when (logins, approvals, manual syncs,
deliveries, tokens); see ``store/audit.py``. Nothing in idpsync updates or deletes a row, and
the migration adds triggers that refuse it."""
