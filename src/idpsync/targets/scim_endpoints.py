"""The SCIM 2.0 target's endpoint table: every call it makes, as data.

Paths are relative to the target's ``url`` (the SCIM base, e.g. ``…/scim/v2``). Listings page
with ``startIndex``/``count`` until ``totalResults`` (RFC 7644 §3.4.2.4); the records are in
``Resources``. A search is the listing with a ``filter`` (its first page is read).
"""

from __future__ import annotations

from dataclasses import dataclass

from idpsync.http.endpoint import Endpoint
from idpsync.http.paging import StartIndex

DEFAULT_PAGE = 100
"""``count`` of a listing unless the target's ``options.page_size`` says otherwise."""


@dataclass(frozen=True, slots=True)
class Resource:
    """The calls on one SCIM resource type (``/Users`` or ``/Groups``)."""

    listing: Endpoint
    create: Endpoint
    read: Endpoint
    patch: Endpoint
    delete: Endpoint

    def all(self) -> tuple[Endpoint, ...]:
        """Every call, listing first."""
        return (self.listing, self.create, self.read, self.patch, self.delete)


def _resource(kind: str, what: str) -> Resource:
    name = kind.lower()
    return Resource(
        listing=Endpoint(
            f"list_{name}",
            "GET",
            f"/{kind}",
            f"list {what} (reconcile) and find one by filter",
            paging=lambda: StartIndex(DEFAULT_PAGE),
            records="Resources",
        ),
        create=Endpoint(f"create_{name}", "POST", f"/{kind}", f"create {what}"),
        read=Endpoint(f"get_{name}", "GET", f"/{kind}/{{id}}", f"read one of the {what}"),
        patch=Endpoint(f"patch_{name}", "PATCH", f"/{kind}/{{id}}", f"change {what}"),
        delete=Endpoint(f"delete_{name}", "DELETE", f"/{kind}/{{id}}", f"delete {what}"),
    )


USERS = _resource("Users", "users")
GROUPS = _resource("Groups", "groups and their members")
SERVICE_PROVIDER_CONFIG = Endpoint(
    "service_provider_config",
    "GET",
    "/ServiceProviderConfig",
    "ask whether the server supports ETags (If-Match)",
)

RESOURCE_TYPES = Endpoint(
    "resource_types",
    "GET",
    "/ResourceTypes",
    "ask which schema extensions (enterprise, custom) users may carry",
)

ENDPOINTS: tuple[Endpoint, ...] = (
    SERVICE_PROVIDER_CONFIG,
    RESOURCE_TYPES,
    *USERS.all(),
    *GROUPS.all(),
)
"""Every call of a SCIM target."""
