"""The LDAP connection of a target: ldap3 in a worker thread, dry-run, and error translation.

``ldap3`` is synchronous; each operation runs in :func:`asyncio.to_thread`, one at a time. The
connection is opened and bound on first use and opened again after it broke.

- **Dry-run** is enforced here: add, modify, modify DN and delete raise
  :class:`~idpsync.targets.errors.DryRunRejected` (recorded in :attr:`LdapLink.blocked`).
- **Errors** are translated once, by :data:`RESULT_ERRORS`: a server that cannot be reached or
  drops the connection is :class:`~idpsync.targets.errors.TargetDown`, a refused bind or missing
  rights :class:`~idpsync.targets.errors.TargetAuthError`, ``entryAlreadyExists``
  :class:`~idpsync.targets.errors.Conflict`, ``noSuchObject``
  :class:`~idpsync.targets.errors.NotFound`, any other result :class:`Rejected`. Messages
  name the operation, the DN and the server, never the password.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from typing import Any, TypeVar

import ldap3
from ldap3.core import exceptions as lx

from idpsync.targets.errors import (
    Conflict,
    DryRunRejected,
    NotFound,
    Rejected,
    TargetAuthError,
    TargetDown,
)

T = TypeVar("T")

RESULT_ERRORS: list[tuple[type[Exception], type[Exception], str]] = [
    (lx.LDAPInvalidCredentialsResult, TargetAuthError, "check bind_dn and password"),
    (lx.LDAPBindError, TargetAuthError, "check bind_dn and password"),
    (
        lx.LDAPInsufficientAccessRightsResult,
        TargetAuthError,
        "give the bind DN write access to the users, groups and disabled subtrees",
    ),
    (lx.LDAPEntryAlreadyExistsResult, Conflict, "an entry with this DN exists"),
    (lx.LDAPNoSuchObjectResult, NotFound, "the entry or its parent does not exist"),
    (lx.LDAPUnavailableResult, TargetDown, "the server is unavailable"),
    (lx.LDAPBusyResult, TargetDown, "the server is busy"),
    (lx.LDAPObjectClassViolationResult, Rejected, "check object classes and attribute mapping"),
    (lx.LDAPUndefinedAttributeTypeResult, Rejected, "an attribute is not in the schema"),
    (lx.LDAPInvalidAttributeSyntaxResult, Rejected, "a value does not fit the attribute"),
    (lx.LDAPCommunicationError, TargetDown, "check that the server is running and reachable"),
    (lx.LDAPSocketOpenError, TargetDown, "check that the server is running and reachable"),
]
"""ldap3 exception → our exception and a hint (first match wins)."""


class LdapLink:
    """One LDAP server, bound as the target's bind DN."""

    def __init__(
        self,
        url: str,
        bind_dn: str,
        password: str,
        *,
        timeout: float,
        dry_run: bool = False,
        ca_file: str | None = None,
        page_size: int = 500,
    ) -> None:
        self.url = url
        self.bind_dn = bind_dn
        self._password = password
        self.timeout = timeout
        self.dry_run = dry_run
        self.page_size = page_size
        self.tls = (
            ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=ca_file)
            if url.lower().startswith("ldaps://")
            else None
        )
        self.blocked: list[str] = []
        """Writes held back in dry-run (``OPERATION DN``)."""
        self._conn: ldap3.Connection | None = None

    def _connection(self) -> ldap3.Connection:
        if self._conn is None or self._conn.closed:
            server = ldap3.Server(
                self.url, get_info=ldap3.NONE, connect_timeout=self.timeout, tls=self.tls
            )
            conn = ldap3.Connection(
                server,
                user=self.bind_dn,
                password=self._password,
                raise_exceptions=True,
                receive_timeout=int(self.timeout),
            )
            try:
                conn.open()
                conn.bind()
            except lx.LDAPException:
                _close(conn)
                raise
            self._conn = conn
        return self._conn

    async def run(self, operation: str, dn: str, call: Callable[[ldap3.Connection], T]) -> T:
        """Run ``call`` on the bound connection in a thread; translate what it raises."""
        if self.dry_run and operation in ("ADD", "MODIFY", "MODDN", "DELETE"):
            self.blocked.append(f"{operation} {dn}")
            raise DryRunRejected(operation, dn)
        return await asyncio.to_thread(self._run, operation, dn, call)

    def _run(self, operation: str, dn: str, call: Callable[[ldap3.Connection], T]) -> T:
        try:
            return call(self._connection())
        except lx.LDAPException as exc:
            if isinstance(exc, lx.LDAPCommunicationError | lx.LDAPSocketOpenError):
                self._drop()
            raise self.translate(operation, dn, exc) from exc

    def translate(self, operation: str, dn: str, exc: Exception) -> Exception:
        """An ldap3 exception → a target error that says what, where, why and what to do."""
        cls, hint = next(
            ((ours, hint) for theirs, ours, hint in RESULT_ERRORS if isinstance(exc, theirs)),
            (Rejected if isinstance(exc, lx.LDAPOperationResult) else TargetDown, ""),
        )
        reason = _reason(exc).replace(self._password, "***") if self._password else _reason(exc)
        where = f"LDAP {operation} {dn} on {self.url}"
        message = f"{where}: {type(exc).__name__}: {reason}" + (f" ({hint})" if hint else "")
        if cls is TargetDown:
            message += "; delivery resumes from the same change next time"
        if issubclass(cls, Rejected):
            code = getattr(exc, "result", 0)
            return cls(message, int(code or 0), str(getattr(exc, "description", "") or ""))
        return cls(message)

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            _close(conn)

    async def close(self) -> None:
        """Unbind (if a connection is open)."""
        await asyncio.to_thread(self._drop)

    # -- operations -----------------------------------------------------------------------------

    async def search(
        self, base: str, query: str, attributes: list[str], *, scope: str = ldap3.SUBTREE
    ) -> list[tuple[str, dict[str, list[Any]]]]:
        """Every entry matching ``query`` under ``base`` (paged), as ``(dn, attributes)``."""

        def call(conn: ldap3.Connection) -> list[tuple[str, dict[str, list[Any]]]]:
            found = conn.extend.standard.paged_search(
                base,
                query,
                search_scope=scope,
                attributes=attributes,
                paged_size=self.page_size,
                generator=False,
            )
            return [
                (str(e["dn"]), {k: _values(v) for k, v in e["attributes"].items()})
                for e in found
                if e.get("type") == "searchResEntry"
            ]

        return await self.run("SEARCH", base, call)

    async def add(self, dn: str, attributes: dict[str, Any]) -> None:
        """Add an entry."""
        await self.run("ADD", dn, lambda c: _add(c, dn, attributes))

    async def modify(self, dn: str, changes: dict[str, list[tuple[str, list[Any]]]]) -> None:
        """Modify an entry (``{attribute: [(MODIFY_ADD|DELETE|REPLACE, values)]}``)."""
        if changes:
            await self.run("MODIFY", dn, lambda c: _modify(c, dn, changes))

    async def move(self, dn: str, new_rdn: str, new_parent: str | None = None) -> None:
        """Rename (modify DN) an entry, optionally into another subtree."""
        await self.run(
            "MODDN",
            dn,
            lambda c: c.modify_dn(dn, new_rdn, delete_old_dn=True, new_superior=new_parent),
        )

    async def delete(self, dn: str) -> None:
        """Delete an entry."""
        await self.run("DELETE", dn, lambda c: _delete(c, dn))


def _close(conn: ldap3.Connection) -> None:
    """Unbind, and close the socket ldap3 leaves open after a failed connect."""
    with contextlib.suppress(lx.LDAPException, OSError):
        if not conn.closed:
            conn.unbind()
    sock = getattr(conn, "socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()


def _add(conn: ldap3.Connection, dn: str, attributes: dict[str, Any]) -> Any:
    return conn.add(dn, attributes=attributes)  # type: ignore[no-untyped-call]


def _modify(conn: ldap3.Connection, dn: str, changes: dict[str, Any]) -> Any:
    return conn.modify(dn, changes)  # type: ignore[no-untyped-call]


def _delete(conn: ldap3.Connection, dn: str) -> Any:
    return conn.delete(dn)  # type: ignore[no-untyped-call]


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _reason(exc: Exception) -> str:
    message = getattr(exc, "message", "") or ""
    description = getattr(exc, "description", "") or ""
    text = " - ".join(p for p in (str(description), str(message)) if p) or str(exc)
    return text[:300]
