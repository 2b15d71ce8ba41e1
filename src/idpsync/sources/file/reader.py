"""The ``file`` source: users, groups and memberships from a JSON document.

Useful on its own (an HR export, a hand-kept list) and as the engine's test bed. The document::

    {
      "users": [
        {"id": "e-1001", "login": "ada", "email": "ada@example.org",
         "display_name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace",
         "active": true, "manager_id": "e-1000", "attributes": {"department": "R&D"}}
      ],
      "groups": [
        {"id": "g-eng", "name": "Engineering", "description": "All engineers",
         "members": ["e-1001"], "subgroups": ["g-backend"]}
      ]
    }

``id`` is the immutable key (never reuse one for another person); ``login`` and ``id`` are
required, everything else is optional. Unknown keys, duplicate ids, members that name no user,
empty logins and over-long values are errors: the run fails and nothing is changed.
See ``docs/file-source.md``.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from idpsync.errors import SourceError
from idpsync.model import (
    EdgeList,
    EdgeMaker,
    MemberKind,
    Membership,
    Snapshot,
    SourceGroup,
    SourceUser,
)
from idpsync.sources.base import Event, Probe, Progress, Source, no_progress
from idpsync.sources.clean import MAX_DEPTH
from idpsync.sources.file.settings import FileSourceSettings

if TYPE_CHECKING:
    from idpsync.sources.registry import SourceContext

Id = Annotated[str, StringConstraints(min_length=1, max_length=255, strip_whitespace=True)]
Text = Annotated[str, StringConstraints(max_length=4096)]
Login = Annotated[str, StringConstraints(min_length=1, max_length=512, strip_whitespace=True)]
MAX_BYTES = 512 * 1024 * 1024


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileUser(_Doc):
    """One user of the document."""

    id: Id
    login: Login
    email: Annotated[str, StringConstraints(max_length=512)] | None = None
    display_name: Text | None = None
    given_name: Text | None = None
    family_name: Text | None = None
    active: bool = True
    manager_id: Id | None = None
    photo_ref: Id | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class FileGroup(_Doc):
    """One group of the document."""

    id: Id
    name: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    description: Text | None = None
    members: list[Id] = Field(default_factory=list)
    subgroups: list[Id] = Field(default_factory=list)


class FileDocument(_Doc):
    """The whole document."""

    users: list[FileUser] = Field(default_factory=list)
    groups: list[FileGroup] = Field(default_factory=list)


def parse_document(data: bytes, name: str) -> Snapshot:
    """Validate a document and turn it into a snapshot; :class:`SourceError` on any problem."""
    doc = _validated(_decoded(data, name), name)
    _check_unique(name, "user", [u.id for u in doc.users])
    _check_unique(name, "group", [g.id for g in doc.groups])
    user_ids = {u.id for u in doc.users}
    group_ids = {g.id for g in doc.groups}
    snap = Snapshot()
    snap.users.extend(_source_user(u, user_ids, name) for u in doc.users)
    for g in doc.groups:
        snap.groups.append(SourceGroup(source_id=g.id, name=g.name, description=g.description))
        snap.memberships.extend(_memberships(g, user_ids, group_ids, name, snap.edge))
    return snap


def _decoded(data: bytes, name: str) -> Any:
    """The JSON value of the file, or a :class:`SourceError` saying why it cannot be read."""
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise SourceError(
            f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno}): "
            f"{exc.msg}; the file may be truncated"
        ) from None
    except UnicodeDecodeError:
        raise SourceError(f"{name}: not UTF-8 text") from None
    except RecursionError:
        raise SourceError(
            f"{name}: the document is nested too deeply to read; "
            f"keep attributes within {MAX_DEPTH} levels"
        ) from None
    except ValueError:  # an integer of more than 4,300 digits
        raise SourceError(
            f"{name}: a number has more digits than can be read (4,300); write it as a string"
        ) from None


def _validated(raw: Any, name: str) -> FileDocument:
    """The document checked against its schema; the first 20 problems name their keys."""
    try:
        return FileDocument.model_validate(raw)
    except RecursionError:
        raise SourceError(f"{name}: the document is nested too deeply to validate") from None
    except ValidationError as exc:
        lines = [
            f"{'.'.join(str(p) for p in err['loc']) or '(document)'}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)[:20]
        ]
        raise SourceError(f"{name}: invalid document:\n  " + "\n  ".join(lines)) from None


def _source_user(u: FileUser, user_ids: set[str], name: str) -> SourceUser:
    """The snapshot's user for a document user whose manager, if any, is in the file."""
    if u.manager_id is not None and u.manager_id not in user_ids:
        raise SourceError(
            f"{name}: user {u.id!r} has manager_id {u.manager_id!r}, "
            "which is not a user in the file"
        )
    return SourceUser(
        source_id=u.id,
        login=u.login,
        email=u.email,
        display_name=u.display_name,
        given_name=u.given_name,
        family_name=u.family_name,
        active=u.active,
        manager_id=u.manager_id,
        photo_ref=u.photo_ref,
        attributes=u.attributes,
    )


def _memberships(
    g: FileGroup, user_ids: set[str], group_ids: set[str], name: str, make: EdgeMaker
) -> Iterator[Membership]:
    """A group's member users, then its subgroups, each once; every one must be in the file.

    ``make`` builds each edge (:meth:`Snapshot.edge` shares the ids among the edges).
    """
    for member in dict.fromkeys(g.members):
        if member not in user_ids:
            raise SourceError(
                f"{name}: group {g.id!r} lists member {member!r}, which is not a user in the file"
            )
        yield make(g.id, member, MemberKind.USER)
    for child in dict.fromkeys(g.subgroups):
        if child not in group_ids or child == g.id:
            raise SourceError(
                f"{name}: group {g.id!r} lists subgroup {child!r}, "
                "which is not another group in the file"
            )
        yield make(g.id, child, MemberKind.GROUP)


def _check_unique(name: str, what: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise SourceError(f"{name}: {what} id {item!r} appears more than once")
        seen.add(item)


class FileSource(Source):
    """Reads a JSON document from disk.

    Built like every source from its settings (``context`` resolves a relative ``path``
    against the configuration file's folder), or from the document's path directly. It makes
    no HTTP requests, so it takes no HTTP client.
    """

    type = "file"

    def __init__(
        self, settings: FileSourceSettings | Path, *, context: SourceContext | None = None
    ) -> None:
        super().__init__()
        self.context = context
        if isinstance(settings, Path):
            self.path = settings
        elif context is not None:
            self.path = context.config.resolve_path(settings.path)
        else:
            self.path = Path(settings.path).expanduser()

    async def snapshot(self, progress: Progress = no_progress) -> Snapshot:
        """Read and validate the whole document."""
        progress(Event("fetch", f"reading {self.path}"))
        try:
            size = self.path.stat().st_size
            if size > MAX_BYTES:
                raise SourceError(
                    f"{self.path}: {size} bytes is more than the "
                    f"{MAX_BYTES} bytes a file source may hold"
                )
            data = self.path.read_bytes()
        except FileNotFoundError:
            raise SourceError(f"{self.path}: file not found") from None
        except OSError as exc:
            raise SourceError(f"{self.path}: cannot read: {exc.strerror}") from None
        self.stats.bytes_received = len(data)
        snap = parse_document(data, str(self.path))
        progress(
            Event(
                "fetch",
                f"read {len(snap.users)} users, {len(snap.groups)} groups",
                done=len(snap.users),
                total=len(snap.users),
            )
        )
        return snap

    def network_note(self) -> str:
        """The file source makes no network requests."""
        return f"source type 'file' reads the local file {self.path}; it needs no network access"

    def probes(self) -> list[Probe]:
        """One step: the file is readable and a valid document."""
        return [Probe("file", str(self.path), self._probe)]

    async def _probe(self) -> str:
        snap = await FileSource(self.path).snapshot()
        return f"readable and valid: {len(snap.users)} users, {len(snap.groups)} groups"

    async def fetch_user(self, key: str) -> Snapshot | None:
        """One user by id, login or e-mail (case-insensitive), with their groups."""
        whole = await self.snapshot()
        return one_user(whole, key)


def _fold(text: str | None) -> str:
    return unicodedata.normalize("NFKC", text or "").casefold()


def one_user(whole: Snapshot, key: str) -> Snapshot | None:
    """The part of ``whole`` a single-user sync of ``key`` needs (see ``Source.fetch_user``)."""
    wanted = _fold(key)
    user = next((u for u in whole.users if u.source_id == key), None) or next(
        (u for u in whole.users if wanted in (_fold(u.login), _fold(u.email))), None
    )
    if user is None:
        return None
    parents: dict[str, list[Membership]] = {}
    for edge in whole.memberships:
        parents.setdefault(edge.member_id, []).append(edge)
    edges: set[Membership] = set()
    todo, seen = [user.source_id], set()
    while todo:
        member = todo.pop()
        if member in seen:
            continue
        seen.add(member)
        for edge in parents.get(member, []):
            if edge.member_kind is MemberKind.USER and edge.member_id != user.source_id:
                continue
            edges.add(edge)
            todo.append(edge.group_id)
    group_ids = {e.group_id for e in edges}
    return Snapshot(
        users=[user],
        groups=[g for g in whole.groups if g.source_id in group_ids],
        memberships=EdgeList(sorted(edges)),
        complete=True,
    )
