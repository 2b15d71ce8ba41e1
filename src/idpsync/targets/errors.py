"""The exceptions a target raises; delivery decides from the class what to do next.

::

    TargetError                 anything a target reports
    ├── TargetDown              unreachable, 5xx or 429 after the retries: stop, keep the cursor
    │   ├── TargetAuthError     401/403: the token is wrong or lacks rights: stop, keep the cursor
    │   └── Unreadable          an answer that is not JSON or not shaped as documented: stop
    ├── Rejected                the target refused this one object (4xx): record, retry later
    │   ├── Conflict            409: the object exists already (``uniqueness``)
    │   ├── NotFound            404: the object is gone
    │   └── PreconditionFailed  412: the ETag sent with ``If-Match`` is stale
    └── DryRunRejected          a write was attempted in dry-run; nothing was sent

Requests go through the shared HTTP client (:mod:`idpsync.http`); its errors become these in
one place, :func:`idpsync.targets.client.target_error`.
Messages name the method, the URL path and the server's reason, never a token.
"""

from __future__ import annotations


class TargetError(Exception):
    """Something a target reported or could not do."""


class TargetDown(TargetError):
    """The target cannot take changes now; delivery stops and resumes from the same cursor."""


class TargetAuthError(TargetDown):
    """The target refused the credentials (401) or the rights (403)."""


class Unreadable(TargetDown):
    """The target answered something idpsync cannot read; delivery stops, the cursor stays."""


def unreadable(detail: str) -> str:
    """The message of an answer that could not be read (``detail``: what, in one line)."""
    return (
        f"the target answered something idpsync cannot read ({detail}); delivery stopped and "
        "resumes from the same change: check the target's URL (a proxy or web page instead of "
        "its API?) and its logs"
    )


class Rejected(TargetError):
    """The target refused a change to one object; the reason is in the message."""

    def __init__(self, message: str, status: int = 0, scim_type: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.scim_type = scim_type


class Conflict(Rejected):
    """409: an object with the same unique value exists."""


class NotFound(Rejected):
    """404: the object does not exist (any more)."""


class PreconditionFailed(Rejected):
    """412: the object changed since its ETag was read."""


class DryRunRejected(TargetError):
    """A write method was attempted in dry-run; ``method`` and ``url`` say what would be sent."""

    def __init__(self, method: str, url: str) -> None:
        super().__init__(f"dry run: would send {method} {url}")
        self.method = method
        self.url = url
