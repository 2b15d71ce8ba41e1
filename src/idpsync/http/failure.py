"""One rule for "does this failure end the whole read, or only one listing?".

A connector reads many listings. When one of them fails, either every later request would fail
the same way — the credentials are refused, a permission is missing, the host does not resolve,
TLS or the proxy is wrong, no token can be had — and the run must fail with that one message;
or the failure is about this listing only (a 5xx after retries, a reset, a malformed page, a
repeated page token, an object deleted while it was read) and the read goes on with this
listing marked incomplete, so that nothing is removed.

:class:`FailureRule` decides it from the class of the error, which the HTTP layer chose once
when it translated the failure (:attr:`idpsync.http.errors.HttpError.kind`): ``config`` errors
end the read. A connector narrows or widens that only where its API needs it, e.g. Keycloak,
where a 404 on a realm-wide listing means the realm is missing (fatal) but a 404 for one group
means the group went away while it was read (not fatal).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from idpsync.http import errors as e


@dataclass(frozen=True, slots=True)
class FailureRule:
    """Whether a failed request ends the read (see the module docstring)."""

    also_fatal: tuple[type[e.HttpError], ...] = ()
    """Error classes that end the read although their kind is not ``config``."""
    never_fatal: tuple[type[e.HttpError], ...] = (e.NotFound,)
    """Error classes that only make a listing incomplete although their kind is ``config``
    (by default a 404: an object that went away while it was read)."""
    custom: Callable[[e.HttpError], bool | None] | None = None
    """A connector's own decision for an error, or ``None`` to let the rule decide."""

    def fatal(self, exc: BaseException) -> bool:
        """True when every later request would fail the same way: the run fails."""
        if not isinstance(exc, e.HttpError):
            return False
        if self.custom is not None:
            decided = self.custom(exc)
            if decided is not None:
                return decided
        if isinstance(exc, self.also_fatal):
            return True
        if isinstance(exc, self.never_fatal):
            return False
        return exc.kind == "config"


DEFAULT_RULE = FailureRule()
"""``config`` errors end the read, except a 404."""


def missing_base(exc: e.HttpError) -> bool | None:
    """A 404 on an endpoint without per-object placeholders: the base path itself is wrong.

    For a :attr:`FailureRule.custom` hook: ``True`` (fatal) then, ``None`` (let the rule
    decide) otherwise.
    """
    if isinstance(exc, e.NotFound) and not _object_fields(exc):
        return True
    return None


def _object_fields(exc: e.HttpError) -> bool:
    """Whether the endpoint names one object (``{id}``), not only the tenant's base."""
    return any(name not in _BASE_FIELDS for name in exc.target.endpoint.fields())


_BASE_FIELDS = {"base", "org", "domain", "tenant", "realm", "subdomain"}
