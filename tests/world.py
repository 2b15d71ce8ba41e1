"""A small IdP world kept as a file-source document, and helpers to sync it."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from idpsync.app.runner import RunResult, run_sync
from idpsync.app.single import run_sync_user
from idpsync.config import ConnectorSettings
from idpsync.sources.file.reader import FileSource
from idpsync.store import Store
from idpsync.store import schema as t


def person(uid: str, login: str | None = None, **extra: Any) -> dict[str, Any]:
    """A file-source user."""
    login = login or uid
    return {
        "id": uid,
        "login": login,
        "email": f"{login}@example.org",
        "display_name": login.title(),
        **extra,
    }


@dataclass
class World:
    """An IdP (a JSON document on disk) and a connector syncing it into ``store``."""

    path: Path
    store: Store
    name: str = "hr"
    policy: dict[str, Any] = field(default_factory=dict)
    guard: dict[str, Any] = field(default_factory=dict)
    users: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)

    def settings(self) -> ConnectorSettings:
        return ConnectorSettings.model_validate(
            {
                "source": {"type": "file", "path": str(self.path)},
                "policy": self.policy,
                "guard": self.guard,
            }
        )

    def write(self) -> None:
        self.path.write_text(json.dumps({"users": self.users, "groups": self.groups}))

    def sync(self, **kwargs: Any) -> RunResult:
        self.write()
        return asyncio.run(
            run_sync(self.store, self.name, self.settings(), FileSource(self.path), **kwargs)
        )

    def sync_user(self, key: str, **kwargs: Any) -> RunResult:
        self.write()
        return asyncio.run(
            run_sync_user(
                self.store, self.name, self.settings(), FileSource(self.path), key, **kwargs
            )
        )

    def rows(self, connector: str | None = "*") -> dict[str, dict[str, Any]]:
        """Directory users by login (all connectors by default)."""
        query = sa.select(t.users)
        if connector != "*":
            query = query.where(
                t.users.c.connector == connector if connector else t.users.c.connector.is_(None)
            )
        with self.store.engine.connect() as conn:
            return {r.login: dict(r._mapping) for r in conn.execute(query)}

    def group_names(self) -> dict[str, str | None]:
        with self.store.engine.connect() as conn:
            return {r.name: r.connector for r in conn.execute(sa.select(t.groups))}

    def members(self, group: str) -> set[str]:
        """Logins of the direct user members of the group named ``group``."""
        m = t.memberships.c
        query = (
            sa.select(t.users.c.login)
            .join(t.memberships, sa.and_(m.member_kind == "user", m.member_id == t.users.c.id))
            .join(t.groups, t.groups.c.id == m.group_id)
            .where(t.groups.c.name == group)
        )
        with self.store.engine.connect() as conn:
            return {r.login for r in conn.execute(query)}

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every directory row (without timestamps), to compare before and after."""
        result = {}
        with self.store.engine.connect() as conn:
            for table in (t.users, t.groups, t.memberships):
                cols = [c for c in table.c if c.name not in ("created_at", "updated_at")]
                result[table.name] = sorted(
                    (tuple(str(v) for v in r) for r in conn.execute(sa.select(*cols))),
                )
        return result


def add_local_user(store: Store, login: str, email: str | None = None) -> int:
    """A user no connector owns (``connector`` NULL)."""
    from idpsync.store.store import fold, now

    with store.transaction() as conn:
        result = conn.execute(
            t.users.insert().values(
                connector=None,
                source_id=f"local:{login}",
                login=login,
                login_key=fold(login),
                email=email,
                email_key=fold(email) if email else None,
                active=True,
                attributes={},
                created_at=now(),
                updated_at=now(),
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])


def add_local_group(store: Store, name: str, members: list[int] = ()) -> int:  # type: ignore[assignment]
    from idpsync.store.store import fold, now

    with store.transaction() as conn:
        result = conn.execute(
            t.groups.insert().values(
                connector=None,
                source_id=f"local:{name}",
                name=name,
                name_key=fold(name),
                created_at=now(),
                updated_at=now(),
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        gid = int(key[0])
        for uid in members:
            conn.execute(
                t.memberships.insert().values(
                    connector=None,
                    group_id=gid,
                    member_kind="user",
                    member_id=uid,
                    created_at=now(),
                )
            )
        return gid


def unowned(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row no ``hr`` sync may change: other owners' users and groups, local edges."""
    with store.engine.connect() as conn:
        u, g, m = t.users.c, t.groups.c, t.memberships.c
        users = conn.execute(
            sa.select(u.id, u.connector, u.login, u.email, u.active, u.display_name)
            .where(sa.or_(u.connector.is_(None), u.connector != "hr"))
            .order_by(u.id)
        ).all()
        groups = conn.execute(
            sa.select(g.id, g.connector, g.name)
            .where(sa.or_(g.connector.is_(None), g.connector != "hr"))
            .order_by(g.id)
        ).all()
        edges = conn.execute(
            sa.select(m.group_id, m.member_id)
            .where(
                m.connector.is_(None),
                m.group_id.in_(sa.select(g.id).where(g.connector.is_(None))),
                m.member_id.in_(sa.select(u.id).where(u.connector.is_(None))),
            )
            .order_by(m.id)
        ).all()
    return {
        "users": [tuple(r) for r in users],
        "groups": [tuple(r) for r in groups],
        "edges": [tuple(r) for r in edges],
    }


def seeded(folder: Path, url: str | None = None) -> tuple[Store, World]:
    """A store (SQLite in ``folder`` unless ``url`` is given) holding objects ``hr`` must not
    change: local users and a local group, and another connector's users and group."""
    store = Store.open(url or f"sqlite:///{folder / 'd.db'}")
    root = add_local_user(store, "root", "root@example.org")
    ada = add_local_user(store, "ada", "ada@example.org")
    add_local_group(store, "admins", [root, ada])
    other = World(
        folder / "other.json",
        store,
        name="contractors",
        users=[person("c1", "bob"), person("c2", "eve")],
        groups=[{"id": "cg", "name": "Eng", "members": ["c1"]}],
    )
    assert other.sync().status == "succeeded"
    return store, World(folder / "hr.json", store)
